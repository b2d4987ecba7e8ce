"""The chat's side of the encrypted history: buffers restored at login, search, hits.

:class:`ChatHistory` sits between the chat screen and the archive
(:mod:`peer.history.archive`): at login it reopens the buffers of the most recent
conversations and puts their last messages in front of the live ones (dimmed, marked as
history); a buffer created later gets its past the same way; it answers the search dialog
(from the history file, or from what is on screen when no history is kept); and it finds
a hit, in the scrollback if it is still there, else among its neighbours in the file.
No Textual here: the screen draws what this returns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from peer.history.archive import HistoryArchive
from peer.history.entries import HistoryEntry, SearchResult, StoredEntry, conversation_label
from peer.history.search import matches, query_words
from peer.tui.model.buffers import (
    STATUS,
    Buffer,
    BufferId,
    BufferKind,
    Line,
    LineKind,
    private_buffer,
    room_buffer,
)
from peer.tui.model.chat_model import ChatModel, shown_time
from peer.tui.model.conversation_marks import quote_of

#: Conversations whose buffers come back at login, and messages restored per buffer.
RESTORED_BUFFERS = 8
RESTORED_LINES = 200
#: Messages shown before and after a search hit that is older than the scrollback.
HISTORY_CONTEXT = 60
SEARCH_RESULTS = 100


def conversation_of(buffer_id: BufferId) -> str | None:
    """The history's name of a buffer (``#room``, ``@user``); None for the status buffer."""
    if buffer_id.kind is BufferKind.ROOM:
        return conversation_label("room", buffer_id.name)
    if buffer_id.kind is BufferKind.PRIVATE:
        return conversation_label("private", buffer_id.name)
    return None


def buffer_of(conversation: str) -> BufferId:
    """The buffer of a history conversation label (``#room``, ``@user``)."""
    if conversation.startswith("#"):
        return room_buffer(conversation[1:])
    return private_buffer(conversation[1:])


def history_line(stored: StoredEntry, quote: str | None = None) -> Line:
    """A message restored from the history file, as a (dimmed) buffer line, in its
    latest state (edited, deleted, its reactions); ``quote`` is what a reply answers."""
    entry = stored.entry
    return Line(
        shown_time(entry.sent_at, entry.received_at),
        LineKind.OWN if entry.own else LineKind.MESSAGE,
        f"* {entry.sender} {entry.text}" if entry.me and not entry.deleted else entry.text,
        entry.sender,
        msg_id=entry.msg_id or None,
        history=True,
        row=stored.row,
        me=entry.me,
        quote=quote,
        edited=entry.edited,
        deleted=entry.deleted,
        reactions=entry.reactions,
    )


def history_lines(stored: list[StoredEntry], later: Buffer) -> list[Line]:
    """The restored messages of one conversation as lines, oldest first; a reply's quote
    comes from the messages restored with it or those already in ``later``."""
    lines: list[Line] = []
    by_ref = {(line.sender, line.msg_id): line for line in later.lines if line.msg_id}
    for item in stored:
        quoted = item.entry.reply_to
        quote = None
        if quoted is not None:
            quote = quote_of(by_ref.get(quoted))
        line = history_line(item, quote)
        if line.msg_id is not None:
            by_ref[(line.sender, line.msg_id)] = line
        lines.append(line)
    return lines


def hit_time(stored: StoredEntry, time_format: str) -> str:
    """When a hit was written, with its date, for the results list."""
    entry = stored.entry
    shown = shown_time(entry.sent_at, entry.received_at)
    return time.strftime(f"%d %b {time_format}", time.localtime(shown))


@dataclass(slots=True)
class HitPlace:
    """Where a search hit is: its line in the scrollback, or its neighbours from the file
    (``context``, oldest first, with ``line`` among them); ``line`` None if it is gone."""

    buffer: Buffer
    line: Line | None
    context: list[Line] = field(default_factory=list)


class ChatHistory:
    """Restores buffers from the archive and searches it, for one chat screen."""

    def __init__(self, model: ChatModel, archive: HistoryArchive | None) -> None:
        self.model = model
        self.archive = archive

    @property
    def enabled(self) -> bool:
        return self.archive is not None and self.archive.enabled

    async def open(self) -> bool:
        """Open the file, say what the user must know, bring back the recent buffers.
        True if the buffer shown received restored lines."""
        archive = self.archive
        if archive is None:
            return False
        await archive.open()
        if archive.notice:
            self.model.add(STATUS, LineKind.WARNING, archive.notice)
        if archive.failed:
            self.model.error(f"your messages are not being kept: {archive.failed}", STATUS)
        if archive.enabled:
            for label in await archive.conversations(RESTORED_BUFFERS):
                self.model.buffers.ensure(buffer_of(label))
        return await self.restore_new_buffers()

    async def restore_new_buffers(self) -> bool:
        """Give each buffer not restored yet its messages from earlier sessions; True if
        the buffer shown received some."""
        self.model.buffers.created = []
        archive = self.archive
        if archive is None or not archive.enabled:
            return False
        shown_changed = False
        for buffer in list(self.model.buffers):
            if buffer.restored:
                continue
            buffer.restored = True
            conversation = conversation_of(buffer.id)
            if conversation is None:
                continue
            stored = await archive.recent(conversation, RESTORED_LINES)
            restored = buffer.prepend(history_lines(stored, buffer))
            shown_changed = shown_changed or (restored > 0 and buffer is self.model.buffers.current)
        return shown_changed

    async def search(self, text: str, conversation: str | None) -> SearchResult:
        """Hits newest first: the history file's, or (no history kept) the scrollback's."""
        archive = self.archive
        if archive is not None and archive.enabled:
            return await archive.search(text, conversation, SEARCH_RESULTS)
        words = query_words(text)
        hits: list[StoredEntry] = []
        for buffer in self.model.buffers:
            label = conversation_of(buffer.id)
            if label is None or (conversation is not None and label != conversation):
                continue
            for line in buffer.lines:
                if line.kind in (LineKind.MESSAGE, LineKind.OWN) and matches(line.text, words):
                    entry = HistoryEntry(
                        label,
                        line.sender or "",
                        line.text,
                        line.timestamp,
                        line.timestamp,
                        line.msg_id or "",
                        line.kind is LineKind.OWN,
                    )
                    hits.append(StoredEntry(-1, entry))
        hits.sort(key=lambda h: h.entry.received_at, reverse=True)
        return SearchResult(hits[:SEARCH_RESULTS])

    async def place(self, hit: StoredEntry) -> HitPlace:
        """Show the hit's buffer and find the hit (see :class:`HitPlace`)."""
        buffer = self.model.buffers.switch_to(buffer_of(hit.entry.conversation))
        line = _find_line(buffer, hit)
        if line is not None or self.archive is None or hit.row < 0:
            return HitPlace(buffer, line)
        around = await self.archive.around(hit.row, HISTORY_CONTEXT, HISTORY_CONTEXT)
        context = history_lines(around, Buffer(buffer.id))
        focus = next((ln for ln in context if ln.row == hit.row), None)
        return HitPlace(buffer, focus, context if focus is not None else [])


def _find_line(buffer: Buffer, stored: StoredEntry) -> Line | None:
    entry = stored.entry
    for line in reversed(buffer.lines):
        if stored.row >= 0 and line.row == stored.row:
            return line
        if entry.msg_id and line.msg_id == entry.msg_id and line.sender == entry.sender:
            return line
    return None
