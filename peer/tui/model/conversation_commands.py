"""The terminal chat's conversation commands and signals, sans-I/O: ``/reply``,
``/react``, ``/unreact``, ``/edit``, ``/unsend``, ``/me``, typing indicators and read
markers.

A user never sees message ids: the aimed commands act on the message selected in the
buffer shown (Alt+Up / Alt+Down), else on its last message (``/edit`` and ``/unsend``:
the user's own last one), as :meth:`peer.tui.model.conversation_marks.ConversationMarks.aimed`
says. The client does the sending and its rules (:mod:`peer.client.chat_client`: at most 8
reactions per message, 20 edits, only one's own message edited or deleted); what it
refuses becomes an error line. What it sends is shown at once in the buffer and written
to the user's own history (:mod:`peer.history.entries`: an edit, a delete, a reaction),
so a restart shows the latest state.

A message restored from the history file is not one the client remembers from this
session; aiming at one first tells the client where it is
(:meth:`peer.core.conversation.Conversations.remember`), so a restart does not stop the
user from reacting to, answering or editing what is on screen.

Typing indicators go while the user types a message (not a command) in a room or
private buffer, and stop when the line is cleared (a sent message ends them at the
receivers); read markers go when the buffer shown holds a newer message from someone
else than the last one marked. The client paces both (one typing start per 3 s, one
read marker per 2 s per conversation), obeys the ``typing_indicators`` and
``read_receipts`` settings and sends neither to strangers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import assert_never

from commons.errors import P2PChatError
from peer.client.chat_client import ChatClient
from peer.commands import table as cmd
from peer.core.conversation import ConversationId
from peer.events import MessageRef
from peer.history.archive import HistoryArchive
from peer.history.entries import Amendment, DeleteKept, EditKept, ReactionKept
from peer.tui.model.buffers import Buffer, BufferId, BufferKind, Line, LineKind
from peer.tui.model.chat_history import conversation_of
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.conversation_marks import quote_of

#: Records an own message in the history: ``(buffer, text, line, reply_to, me)``.
RecordOwn = Callable[[BufferId, str, Line, tuple[str, str] | None, bool], None]


class ConversationCommands:
    """The aimed commands, ``/me`` and the signals of one chat screen."""

    def __init__(
        self,
        client: ChatClient,
        model: ChatModel,
        archive: HistoryArchive | None,
        record_own: RecordOwn,
    ) -> None:
        self.client = client
        self.model = model
        self.archive = archive
        self._record_own = record_own
        #: The last message (author, id) each buffer was marked read up to.
        self._marked: dict[BufferId, tuple[str | None, str | None]] = {}

    # -- where -------------------------------------------------------------------------

    def _shown(self) -> Buffer | None:
        """The buffer shown, if it is a conversation we are in (else an error line)."""
        buffer = self.model.buffers.current
        match buffer.id.kind:
            case BufferKind.ROOM:
                if buffer.id.name in self.client.rooms:
                    return buffer
                self.model.error(f"you are not in #{buffer.id.name}")
            case BufferKind.PRIVATE:
                return buffer
            case BufferKind.REQUESTS:
                self.model.error("these are messages from strangers: /query NAME to answer one")
            case BufferKind.STATUS:
                self.model.error("this is the status buffer: show a room or a private buffer")
            case _:
                assert_never(buffer.id.kind)
        return None

    @staticmethod
    def _conversation(buffer_id: BufferId) -> ConversationId:
        if buffer_id.kind is BufferKind.ROOM:
            return ConversationId(buffer_id.name, None)
        return ConversationId(None, buffer_id.name)

    def _locatable(self, buffer_id: BufferId, line: Line) -> str:
        """``line``'s id, once the client knows where it is (it may come from the history)."""
        core, msg_id = self.client.core, line.msg_id
        assert msg_id is not None and line.sender is not None  # aimed at messages only
        if core is not None:
            core.conversation.remember(
                self._conversation(buffer_id), MessageRef(line.sender, msg_id)
            )
        return msg_id

    def _keep(self, change: Amendment) -> None:
        if self.archive is not None:
            self.archive.record(change)

    def _changed(self, buffer_id: BufferId | None) -> None:
        self.model.amended(buffer_id)

    # -- commands ------------------------------------------------------------------------

    async def run(self, command: cmd.Aimed) -> None:
        """Carry out an aimed command in the buffer shown."""
        buffer = self._shown()
        if buffer is None:
            return
        own = command.verb in (cmd.AimVerb.EDIT, cmd.AimVerb.UNSEND)
        line = self.model.marks.aimed(buffer, own=own)
        if line is None:
            whose = "of yours " if own else ""
            self.model.error(
                f"no message {whose}to {command.verb} here"
                + (" (select one of yours with Alt+Up)" if own and buffer.selected else "")
            )
            return
        target, msg_id = buffer.id, self._locatable(buffer.id, line)
        author = line.sender
        assert author is not None
        where = conversation_of(target)
        assert where is not None  # a room or private buffer
        me, marks = self.model.username, self.model.marks
        match command.verb:
            case cmd.AimVerb.REPLY:
                sent = await self.client.reply(msg_id, command.argument)
                own_line = self.model.own_message(
                    target, command.argument, sent.msg_id, sent.recipients, quote=quote_of(line)
                )
                self._record_own(target, command.argument, own_line, (author, msg_id), False)
            case cmd.AimVerb.REACT | cmd.AimVerb.UNREACT:
                on = command.verb is cmd.AimVerb.REACT
                await self.client.react(msg_id, command.argument, on=on)
                ref = MessageRef(author, msg_id)
                self._changed(marks.reacted([target], ref, me, command.argument, on))
                self._keep(ReactionKept(where, author, msg_id, me, command.argument, on))
            case cmd.AimVerb.EDIT:
                await self.client.edit(msg_id, command.argument)
                self._changed(marks.edited([target], me, msg_id, command.argument))
                self._keep(EditKept(where, me, msg_id, command.argument))
            case cmd.AimVerb.UNSEND:
                await self.client.delete(msg_id)
                self._changed(marks.deleted([target], me, msg_id))
                self._keep(DeleteKept(where, me, msg_id))
            case _:
                assert_never(command.verb)
        if buffer.selected is not None:
            buffer.selected = None  # done: back to typing at the end
            self.model.rebuilt.add(target)

    async def action(self, text: str) -> None:
        """``/me TEXT`` in the buffer shown."""
        buffer = self._shown()
        if buffer is None:
            return
        target = buffer.id
        if target.kind is BufferKind.ROOM:
            sent = await self.client.send_me(text, room=target.name)
        else:
            sent = await self.client.send_me(text, user=target.name)
        line = self.model.own_message(target, text, sent.msg_id, sent.recipients, me=True)
        self._record_own(target, text, line, None, True)

    # -- signals -------------------------------------------------------------------------

    def typed(self, value: str) -> None:
        """The input line now holds ``value``: typing starts (paced by the client) while it
        holds a message, and stops when it is cleared."""
        target = self.model.buffers.current.id
        if target.kind is BufferKind.ROOM and target.name not in self.client.rooms:
            return
        if target.kind not in (BufferKind.ROOM, BufferKind.PRIVATE):
            return
        active = bool(value.strip()) and not (value.startswith("/") and not value.startswith("//"))
        room = target.name if target.kind is BufferKind.ROOM else None
        # Not logged in any more, or a name the client refuses: nothing to say.
        with contextlib.suppress(P2PChatError):
            self.client.typing(active, room=room, user=None if room else target.name)

    def read_shown(self) -> None:
        """The buffer shown holds a message from someone else newer than the last marked
        read: say we read up to it (the client paces and may hold it a little)."""
        buffer = self.model.buffers.current
        if buffer.id.kind not in (BufferKind.ROOM, BufferKind.PRIVATE):
            return
        latest = next(
            (
                line
                for line in reversed(buffer.lines)
                if line.kind is LineKind.MESSAGE and line.msg_id is not None
            ),
            None,
        )
        if latest is None or latest.history:
            return
        if self._marked.get(buffer.id) == (latest.sender, latest.msg_id):
            return
        self._marked[buffer.id] = (latest.sender, latest.msg_id)
        with contextlib.suppress(P2PChatError):  # logged out meanwhile: nothing to mark
            self.client.mark_read(self._locatable(buffer.id, latest))
