"""What the conversation frames change on screen, sans-I/O: quotes, reactions, edits,
deletes, who is typing, who has read, and which message the user aims at.

A message is named by its author and ``msg_id`` within its buffer (a room's, or the
private conversation's; a stranger's lines wait in the requests buffer). An edit, a
delete or a reaction replaces the message's :class:`~peer.tui.model.buffers.Line` with
an amended one (the screen redraws that row in place, keeping the reader's place); one
naming a message the buffer no longer holds changes nothing on screen (the history file
still applies it). The core has
already checked who may change what (:mod:`peer.core.conversation`): an edit or delete
only ever names its sender's own message.

Typing and read markers are shown in the buffer bar's line for the buffer shown
(:meth:`ConversationMarks.status`): "bob is typing…" until bob sends, stops or
:data:`TYPING_SHOWN` seconds pass without a refresh; otherwise "seen by bob, carol" for
the room-mates whose read marker is at or after the user's own last message. Both are
bounded per buffer (:data:`MAX_SIGNALLERS` names), whatever a peer sends.

A user never sees message ids: :meth:`ConversationMarks.aimed` is the message the user
selected with Alt+Up/Alt+Down (:meth:`ConversationMarks.select`), else the buffer's last
message (for ``/edit`` and ``/unsend``: the user's own last one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from peer.core.conversation import TYPING_EXPIRY
from peer.events import MessageRef
from peer.history.entries import MAX_KEPT_REACTIONS
from peer.tui.model.buffers import (
    REQUESTS,
    Buffer,
    BufferId,
    BufferList,
    Line,
    LineKind,
    private_buffer,
    room_buffer,
)

#: The quote above a reply shows this many characters of the message it answers (one
#: line at 80 columns).
QUOTE_WIDTH = 40
#: The quote of a reply to a message this client never had (or no longer holds).
MISSING_QUOTE = "a message you do not have"
#: A typing indicator not refreshed within this many seconds is no longer shown.
TYPING_SHOWN = TYPING_EXPIRY
#: Typists and readers remembered per buffer (a room holds at most 64 members).
MAX_SIGNALLERS = 64

_MESSAGE_KINDS = (LineKind.MESSAGE, LineKind.OWN)


def is_message(line: Line) -> bool:
    """A message someone wrote (not a notice), that others can name by its id."""
    return line.kind in _MESSAGE_KINDS and line.msg_id is not None and line.sender is not None


def find(buffer: Buffer, author: str, msg_id: str) -> int | None:
    """The index of ``author``'s message ``msg_id`` in ``buffer``, newest first."""
    for index in range(len(buffer.lines) - 1, -1, -1):
        line = buffer.lines[index]
        if line.msg_id == msg_id and line.sender == author:
            return index
    return None


def reaction_counts(pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, int]]:
    """``(emoji, how many users)`` in the order each emoji was first put."""
    return list(Counter(emoji for _, emoji in pairs).items())


def shown_text(line: Line, text: str) -> str:
    """What a message line holds for ``text``: an action reads ``* sender text``."""
    return f"* {line.sender} {text}" if line.me else text


def quote_of(line: Line | None) -> str:
    """The one line a reply shows of the message it answers."""
    if line is None or line.sender is None:
        return MISSING_QUOTE
    if line.deleted:
        return f"{line.sender}: message deleted"
    first = line.text.split("\n", 1)[0]
    if len(first) > QUOTE_WIDTH or "\n" in line.text:
        first = first[:QUOTE_WIDTH].rstrip() + "\u2026"
    return f"{line.sender}: {first}"


class ConversationMarks:
    """The conversation state of the chat's buffers; ``clock`` says when it is."""

    def __init__(self, buffers: BufferList, me: str, clock: Callable[[], float]) -> None:
        self._buffers = buffers
        self._me = me
        self._clock = clock
        #: Who is typing where, and when that stops being shown.
        self._typing: dict[BufferId, dict[str, float]] = {}
        #: Each reader's read marker, per buffer.
        self._read: dict[BufferId, dict[str, MessageRef]] = {}
        #: Lines changed in place since the screen last looked: ``(buffer, old, new)``;
        #: the screen redraws just those rows (:meth:`ChatModel.amended` bounds it).
        self.replaced: list[tuple[BufferId, Line, Line]] = []

    # -- where ------------------------------------------------------------------------

    def buffers_of(self, room: str | None, other: str) -> list[BufferId]:
        """Where a frame of ``room`` (``None``: the private conversation with ``other``)
        may find its message: the room's buffer, or ``@other`` then the requests."""
        if room is not None:
            return [room_buffer(room)]
        return [private_buffer(other), REQUESTS]

    def locate(self, where: list[BufferId], author: str, msg_id: str) -> tuple[Buffer, int] | None:
        """The buffer and index of the message, in the first of ``where`` holding it."""
        for buffer_id in where:
            buffer = self._buffers.get(buffer_id)
            index = None if buffer is None else find(buffer, author, msg_id)
            if buffer is not None and index is not None:
                return buffer, index
        return None

    def quote(self, where: list[BufferId], ref: MessageRef) -> str:
        """The quote of a reply to ``ref`` from the lines ``where`` holds."""
        found = self.locate(where, ref.author, ref.msg_id)
        return quote_of(None if found is None else found[0].lines[found[1]])

    # -- amendments -----------------------------------------------------------------------

    def _amend(
        self, where: list[BufferId], author: str, msg_id: str, change: Callable[[Line], Line | None]
    ) -> BufferId | None:
        found = self.locate(where, author, msg_id)
        if found is None:
            return None
        buffer, index = found
        old = buffer.lines[index]
        new = None if old.deleted else change(old)
        if new is None:
            return None
        buffer.lines[index] = new
        self.replaced.append((buffer.id, old, new))
        if buffer.selected is old:
            buffer.selected = new
        if buffer.read_marker is old:
            buffer.read_marker = new
        return buffer.id

    def edited(self, where: list[BufferId], author: str, msg_id: str, text: str) -> BufferId | None:
        """``author``'s message now reads ``text``; the buffer changed, if any."""
        return self._amend(
            where,
            author,
            msg_id,
            lambda line: replace(line, text=shown_text(line, text), edited=True),
        )

    def deleted(self, where: list[BufferId], author: str, msg_id: str) -> BufferId | None:
        """``author`` deleted the message: its text and reactions leave the screen."""
        return self._amend(
            where, author, msg_id, lambda line: replace(line, text="", deleted=True, reactions=())
        )

    def reacted(
        self, where: list[BufferId], target: MessageRef, user: str, emoji: str, on: bool
    ) -> BufferId | None:
        """``user`` put (``on``) or took back ``emoji`` on ``target``."""
        pair = (user, emoji)

        def change(line: Line) -> Line | None:
            if on and pair not in line.reactions and len(line.reactions) < MAX_KEPT_REACTIONS:
                return replace(line, reactions=(*line.reactions, pair))
            if not on and pair in line.reactions:
                return replace(line, reactions=tuple(p for p in line.reactions if p != pair))
            return None

        return self._amend(where, target.author, target.msg_id, change)

    # -- typing and read markers ------------------------------------------------------

    def typing(self, buffer_id: BufferId, user: str, active: bool) -> None:
        """``user`` started (or refreshed) typing in ``buffer_id``, or stopped."""
        typists = self._typing.setdefault(buffer_id, {})
        if not active:
            typists.pop(user, None)
        elif user in typists or len(typists) < MAX_SIGNALLERS:
            typists[user] = self._clock() + TYPING_SHOWN
        if not typists:
            del self._typing[buffer_id]

    def typists(self, buffer_id: BufferId) -> list[str]:
        """Who is typing in ``buffer_id`` now, in the order they started."""
        now = self._clock()
        typists = self._typing.get(buffer_id, {})
        for user in [u for u, until in typists.items() if until <= now]:
            del typists[user]
        return list(typists)

    def next_expiry(self) -> float | None:
        """When the next typing indicator stops being shown, if any is."""
        times = [until for typists in self._typing.values() for until in typists.values()]
        return min(times, default=None)

    def read(self, buffer_id: BufferId, user: str, up_to: MessageRef) -> None:
        """``user`` has read ``buffer_id`` up to ``up_to``."""
        readers = self._read.setdefault(buffer_id, {})
        if user in readers or len(readers) < MAX_SIGNALLERS:
            readers.pop(user, None)  # named in the order their markers came
            readers[user] = up_to

    def seen_by(self, buffer_id: BufferId) -> list[str]:
        """Who has read the user's own last message of ``buffer_id`` (or past it)."""
        buffer = self._buffers.get(buffer_id)
        if buffer is None:
            return []
        own = self.last(buffer, own=True)
        if own is None:
            return []
        lines = list(buffer.lines)
        at = lines.index(own)
        seen = []
        for user, ref in self._read.get(buffer_id, {}).items():
            index = find(buffer, ref.author, ref.msg_id)
            if index is not None and index >= at:
                seen.append(user)
        return seen

    def status(self, buffer_id: BufferId) -> str:
        """The line about ``buffer_id``'s conversation: who types, else who has seen."""
        typists = self.typists(buffer_id)
        if typists:
            if len(typists) == 1:
                return f"{typists[0]} is typing\u2026"
            if len(typists) <= 3:
                return f"{', '.join(typists[:-1])} and {typists[-1]} are typing\u2026"
            return f"{', '.join(typists[:2])} and {len(typists) - 2} more are typing\u2026"
        seen = self.seen_by(buffer_id)
        if not seen:
            return ""
        if len(seen) > 4:
            return f"seen by {', '.join(seen[:3])} and {len(seen) - 3} more"
        return f"seen by {', '.join(seen)}"

    # -- aiming ---------------------------------------------------------------------------

    @staticmethod
    def last(buffer: Buffer, *, own: bool) -> Line | None:
        """The buffer's last message (``own``: the user's own last one), not deleted."""
        for line in reversed(buffer.lines):
            if is_message(line) and not line.deleted and (not own or line.kind is LineKind.OWN):
                return line
        return None

    def select(self, step: int) -> Line | None:
        """Move the selection of the buffer shown to the previous (``-1``) or next
        (``+1``) message; from none, ``-1`` selects the last. Past the last: none."""
        buffer = self._buffers.current
        messages = [line for line in buffer.lines if is_message(line) and not line.deleted]
        if not messages:
            buffer.selected = None
            return None
        current = buffer.selected
        if current is None or current not in messages:
            buffer.selected = messages[-1] if step < 0 else None
        else:
            index = messages.index(current) + step
            buffer.selected = messages[max(0, index)] if index < len(messages) else None
        return buffer.selected

    def unselect(self) -> bool:
        """Leave the selection mode of the buffer shown; True if a message was selected."""
        buffer = self._buffers.current
        had = buffer.selected is not None
        buffer.selected = None
        return had

    def aimed(self, buffer: Buffer, *, own: bool) -> Line | None:
        """What ``/reply``, ``/react`` (and, with ``own``, ``/edit``, ``/unsend``) act on:
        the selected message if it qualifies, else the last one."""
        selected = buffer.selected
        if selected is not None and selected in buffer.lines and not selected.deleted:
            if not own or selected.kind is LineKind.OWN:
                return selected
            return None
        return self.last(buffer, own=own)
