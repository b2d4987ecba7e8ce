"""The chat's buffers, sans-I/O: the status buffer, rooms and private conversations.

Like weechat or irssi, every conversation lives in its own buffer. Exactly one buffer is
shown; the others count what arrived while they were hidden so the buffer bar can say
``3:bob(2)``. Buffer 1 is always the status buffer, which receives command output and
notices that belong to no conversation. Private messages from *strangers* (nobody the
user wrote to, shares a room with or has pinned) all go to one ``requests`` buffer, so
a thousand one-message accounts make one buffer, not a thousand; a stranger's lines move
to their own ``@name`` buffer once the user opens it (``/query``) or answers. Rooms are
written ``#name`` and private conversations ``@name`` wherever a reference could be
ambiguous, because users and rooms share one name syntax.

This module knows nothing about Textual; :mod:`peer.tui.chat_screen` renders what it holds.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

MAX_SCROLLBACK = 2000


class BufferKind(StrEnum):
    STATUS = "status"
    ROOM = "room"
    PRIVATE = "private"
    REQUESTS = "requests"


class LineKind(StrEnum):
    """What a line is; decides its style and whether it counts as unread."""

    MESSAGE = "message"
    OWN = "own"
    NOTICE = "notice"
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class BufferId:
    kind: BufferKind
    name: str

    @property
    def label(self) -> str:
        """How the buffer bar and ``/switch`` write this buffer."""
        if self.kind is BufferKind.ROOM:
            return f"#{self.name}"
        if self.kind is BufferKind.PRIVATE:
            return f"@{self.name}"
        return self.name


STATUS = BufferId(BufferKind.STATUS, "status")
REQUESTS = BufferId(BufferKind.REQUESTS, "requests")


def room_buffer(name: str) -> BufferId:
    return BufferId(BufferKind.ROOM, name)


def private_buffer(username: str) -> BufferId:
    return BufferId(BufferKind.PRIVATE, username)


@dataclass(frozen=True, slots=True, eq=False)
class Line:
    """One displayed line. ``sender`` is set for messages; ``timestamp`` is the time shown
    (the sender's for messages, see :func:`peer.tui.model.chat_model.shown_time`); ``mention``
    marks a room message that names the local user; ``history`` a line restored from the
    history file (``row`` is its row there); ``msg_id`` identifies a message: our own
    lines show its delivery receipts, and a search hit is found in the scrollback by it;
    ``full`` asks for the whole text even past the display bounds (``/expand``);
    ``look_alike`` names the known user whose name the sender's looks like.
    The conversation frames (:mod:`peer.tui.model.conversation_marks`) set the rest:
    ``me`` an action (its ``text`` reads ``* sender text``), ``quote`` the one line
    shown above a reply (what it answers), ``edited`` and ``deleted`` what its author
    did since (a deleted line has no text), ``reactions`` the ``(user, emoji)`` pairs
    on it, oldest first. A change replaces the line in its buffer with a new one.
    Lines compare by identity: two identical messages are still two lines."""

    timestamp: float
    kind: LineKind
    text: str
    sender: str | None = None
    mention: bool = False
    msg_id: str | None = None
    history: bool = False
    row: int | None = None
    full: bool = False
    look_alike: str | None = None
    me: bool = False
    quote: str | None = None
    edited: bool = False
    deleted: bool = False
    reactions: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Buffer:
    """A conversation's scrollback and its unread state.

    ``total`` counts every line ever appended (the scrollback forgets old ones), so a
    view can ask for exactly the lines it has not drawn yet. ``unread`` counts messages
    from others that arrived while the buffer was hidden;
    ``highlight`` is set when one of them is addressed to us (a private message or a
    mention), so the buffer bar can make it stand out. Notices do not count: a join in
    a hidden room is not worth switching for.
    """

    id: BufferId
    lines: deque[Line] = field(default_factory=lambda: deque(maxlen=MAX_SCROLLBACK))
    unread: int = 0
    highlight: bool = False
    #: Unread messages addressed to us (private, mentions): the terminal title counts them.
    highlights: int = 0
    active: bool = True
    total: int = 0
    #: The last line there was when the user last left this buffer: the read marker is
    #: drawn after it when the buffer is shown again with newer lines.
    read_marker: Line | None = None
    #: The history file was asked for this buffer's past (once per session).
    restored: bool = False
    #: The message the user selected (Alt+Up/Alt+Down) for /reply, /react, /edit,
    #: /unsend; ``None``: those act on the last message.
    selected: Line | None = None

    def lines_since(self, total_seen: int) -> list[Line]:
        """Lines appended after the moment ``total`` was ``total_seen`` (bounded by scrollback)."""
        new = min(self.total - total_seen, len(self.lines))
        return list(self.lines)[len(self.lines) - new :] if new > 0 else []

    def mark_read(self) -> None:
        self.unread = 0
        self.highlights = 0
        self.highlight = False

    def take_from(self, sender: str) -> list[Line]:
        """Remove and return the lines ``sender`` sent here (and the unread they made)."""
        taken = [line for line in self.lines if line.sender == sender]
        if taken:
            kept = [line for line in self.lines if line.sender != sender]
            self.lines = deque(kept, maxlen=MAX_SCROLLBACK)
            self.unread = max(0, self.unread - len(taken))
        return taken

    def prepend(self, lines: list[Line]) -> int:
        """Put restored history lines before the others, as many as the scrollback has
        room for (the newest of them); returns how many. ``total`` is unchanged: they
        are not new."""
        room = MAX_SCROLLBACK - len(self.lines)
        kept = lines[-room:] if room > 0 else []
        self.lines.extendleft(reversed(kept))
        return len(kept)


class BufferList:
    """Ordered buffers and which one is shown.

    Order: the status buffer, then the rooms (ours in join order, :meth:`arrange_rooms`,
    so the numbers are the same after a restart), then the others in creation order;
    numbers shown to the user are 1-based positions, as Alt+1..9 selects them.
    """

    def __init__(self) -> None:
        self._buffers: list[Buffer] = [Buffer(STATUS)]
        self._current = 0
        #: Buffers created since the app last looked (it restores their history).
        self.created: list[BufferId] = []
        #: The room whose buffer was shown last (where the chat's current room is).
        self.last_room: str | None = None

    def __iter__(self) -> Iterator[Buffer]:
        return iter(self._buffers)

    def __len__(self) -> int:
        return len(self._buffers)

    def __contains__(self, buffer_id: object) -> bool:
        return any(b.id == buffer_id for b in self._buffers)

    @property
    def current(self) -> Buffer:
        return self._buffers[self._current]

    def get(self, buffer_id: BufferId) -> Buffer | None:
        for buffer in self._buffers:
            if buffer.id == buffer_id:
                return buffer
        return None

    def ensure(self, buffer_id: BufferId) -> Buffer:
        """Return the buffer, creating it at the end if it does not exist yet."""
        buffer = self.get(buffer_id)
        if buffer is None:
            buffer = Buffer(buffer_id)
            at = len(self._buffers)
            if buffer_id.kind is BufferKind.ROOM:  # after the last room: before the others
                at = 1 + sum(b.id.kind is BufferKind.ROOM for b in self._buffers)
            self._buffers.insert(at, buffer)
            if at <= self._current:
                self._current += 1
            self.created.append(buffer_id)
        return buffer

    def arrange_rooms(self, rooms: list[str]) -> None:
        """Our rooms' buffers (created if needed) right after the status buffer, in the
        order given (join order); other room buffers after them, then the rest."""
        for name in rooms:
            self.ensure(room_buffer(name))
        shown = self.current
        ours = [b for name in rooms for b in self._buffers if b.id == room_buffer(name)]
        rest = [b for b in self._buffers[1:] if b not in ours]
        others = [b for b in rest if b.id.kind is BufferKind.ROOM]
        self._buffers = [self._buffers[0], *ours, *others, *(b for b in rest if b not in others)]
        self._current = self._buffers.index(shown)

    def _shown(self) -> Buffer:
        current = self._buffers[self._current]
        if current.id.kind is BufferKind.ROOM:
            self.last_room = current.id.name
        current.mark_read()
        return current

    @property
    def highlights(self) -> int:
        """Unread private messages and mentions in all buffers."""
        return sum(b.highlights for b in self._buffers)

    def _leave_current(self) -> None:
        current = self._buffers[self._current]
        current.read_marker = current.lines[-1] if current.lines else None

    def append(self, buffer_id: BufferId, line: Line, *, highlight: bool = False) -> bool:
        """Add ``line`` to its buffer (created if needed); True if that buffer is shown."""
        buffer = self.ensure(buffer_id)
        buffer.lines.append(line)
        buffer.total += 1
        shown = buffer is self.current
        if not shown and line.kind is LineKind.MESSAGE:
            buffer.unread += 1
            buffer.highlights += 1 if highlight else 0
            buffer.highlight = buffer.highlight or highlight
        elif not shown and buffer_id == STATUS and line.kind in (LineKind.ERROR, LineKind.WARNING):
            buffer.unread += 1  # an error elsewhere is worth a look: "1:status(1)"
        return shown

    def switch_to(self, buffer_id: BufferId) -> Buffer:
        buffer = self.ensure(buffer_id)
        index = self._buffers.index(buffer)
        if index != self._current:
            self._leave_current()
        self._current = index
        return self._shown()

    def switch_index(self, number: int) -> Buffer | None:
        """Show buffer ``number`` (1-based, as displayed); None if there is no such one."""
        if not 1 <= number <= len(self._buffers):
            return None
        if number - 1 != self._current:
            self._leave_current()
        self._current = number - 1
        return self._shown()

    def switch_relative(self, step: int) -> Buffer:
        """Next (``+1``) or previous (``-1``) buffer, wrapping around."""
        self._leave_current()
        self._current = (self._current + step) % len(self._buffers)
        return self._shown()

    def next_unread(self) -> Buffer | None:
        """Switch to the first hidden buffer with unread messages, highlights first."""
        candidates = [b for b in self._buffers if b.unread and b is not self.current]
        if not candidates:
            return None
        candidates.sort(key=lambda b: not b.highlight)
        return self.switch_to(candidates[0].id)

    def resolve(self, reference: str) -> BufferId | None:
        """Find a buffer from what a user typed after ``/switch``.

        Accepts a number, a label (``#room``, ``@user``, ``status``) or a bare name,
        which prefers a room over a private conversation of the same name. Names are
        compared in NFC, the form room names have (a keyboard may type ``e`` + U+0301).
        """
        ref = unicodedata.normalize("NFC", reference.strip())
        if ref.isdigit():
            number = int(ref)
            if 1 <= number <= len(self._buffers):
                return self._buffers[number - 1].id
            return None
        for buffer in self._buffers:
            if buffer.id.label == ref:
                return buffer.id
        for kind in (BufferKind.ROOM, BufferKind.PRIVATE):
            for buffer in self._buffers:
                if buffer.id.kind is kind and buffer.id.name == ref:
                    return buffer.id
        return None

    def close(self, buffer_id: BufferId) -> bool:
        """Remove a buffer (never the status buffer); the shown one falls back to its left."""
        if buffer_id == STATUS:
            return False
        buffer = self.get(buffer_id)
        if buffer is None:
            return False
        index = self._buffers.index(buffer)
        shown = self.current
        del self._buffers[index]
        if shown is buffer:
            self._current = max(0, index - 1)
            self._shown()
        else:
            self._current = self._buffers.index(shown)
        return True

    def number_of(self, buffer_id: BufferId) -> int:
        """1-based position of a buffer, as the buffer bar shows it."""
        for index, buffer in enumerate(self._buffers):
            if buffer.id == buffer_id:
                return index + 1
        raise KeyError(buffer_id)
