"""Runs what the user typed against the chat client, writing the results into the model.

No Textual here: :class:`ChatController` parses a line with the command table both front
ends share (:mod:`peer.commands.table`), runs the shared commands with
:func:`peer.commands.runner.execute` and draws their typed results as lines
(:mod:`peer.tui.model.result_lines`), sends plain lines and pastes, runs trust decisions, and
hands the commands that only exist with buffers, the history and settings to
:mod:`peer.tui.model.local_commands`. What needs the screen (the ``/verify`` comparison, the
search dialog, a changed setting, quitting) comes back as a request
(:mod:`peer.tui.model.screen_requests`) for the app. The dialogs call the controller's methods,
never commands as text.

Events from the client go through :meth:`ChatController.handle_event`, which keeps the
members' trust states current as they join or open a channel.

Every message shown (received, or sent by this user) is handed to the history archive
(:mod:`peer.history.archive`), which keeps it encrypted on disk.

Trust decisions pass the exact key the user was shown: a :class:`VerifyRequest` carries
the keys behind the numbers on screen and the undecided keys at that moment, and
:meth:`ChatController.confirm_verify` refuses (nothing is marked) if another key
arrived since; the key-changed dialog's buttons pass the key it displayed.

A plain line goes to the buffer being shown: the room, or the private conversation.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from commons.errors import P2PChatError
from crypto.errors import KeyChangedError
from crypto.pinning import TrustState
from peer.client.chat_client import ChatClient
from peer.commands import table as cmd
from peer.commands.current_room import aimed_at
from peer.commands.runner import execute, refresh_key
from peer.events import ChannelOpened, ClientEvent, MemberJoined, MessageReceived, RoomsRestored
from peer.history.archive import HistoryArchive
from peer.history.entries import HistoryEntry
from peer.tui.model import local_commands as local
from peer.tui.model.buffers import (
    BufferId,
    BufferKind,
    Line,
    LineKind,
    private_buffer,
    room_buffer,
)
from peer.tui.model.chat_history import conversation_of
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.conversation_commands import ConversationCommands
from peer.tui.model.history_changes import kept_change
from peer.tui.model.joined_rooms import RoomView
from peer.tui.model.result_lines import Refresh, refresh_for, show_result
from peer.tui.model.screen_requests import (
    KeyCandidate,
    QuitRequest,
    ScreenRequest,
    SearchRequest,
    VerifyRequest,
)
from peer.user_settings import Settings


class ChatController:
    """One per chat screen; every method records its outcome in ``model``."""

    def __init__(
        self,
        client: ChatClient,
        model: ChatModel,
        *,
        archive: HistoryArchive | None = None,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.model = model
        self.archive = archive
        self.settings = settings or Settings()
        self._clock = clock
        #: /reply, /react, /edit, /unsend, /me, typing and read markers.
        self.conversation = ConversationCommands(client, model, archive, self._record_own)

    def _record(
        self,
        buffer_id: BufferId,
        sender: str,
        text: str,
        sent_at: float,
        msg_id: str | None,
        own: bool,
        reply_to: tuple[str, str] | None = None,
        me: bool = False,
    ) -> None:
        conversation = conversation_of(buffer_id)
        if self.archive is None or conversation is None:
            return
        entry = HistoryEntry(conversation, sender, text, sent_at, self._clock(), msg_id or "", own)
        if reply_to is not None or me:
            entry = replace(entry, reply_to=reply_to, me=me)
        self.archive.record(entry)

    def _record_own(
        self, buffer_id: BufferId, text: str, line: Line, reply_to: tuple[str, str] | None, me: bool
    ) -> None:
        """Keep our own message ``line`` (``text`` as typed) in the history."""
        self._record(
            buffer_id, self.model.username, text, line.timestamp, line.msg_id, True, reply_to, me
        )

    # -- state refresh -------------------------------------------------------------------

    def refresh_room(self) -> None:
        """Copy the client's rooms and members into the model, with trust states."""
        client = self.client
        views = []
        for name in client.rooms:
            offline = [m.username for m in client.room_members(name) if not m.online]
            owner = client.room_owner_of(name)
            views.append(RoomView(name, owner, client.present_members(name), offline))
        self.model.set_rooms(views)
        for member in self.model.joined.everyone():
            self.refresh_trust(member)

    def refresh_trust(self, username: str) -> None:
        """Ask the client for ``username``'s state (what was pinned before this session;
        later changes arrive as ``TrustChanged``). An undecided key change is never
        cleared here, only by ``/trust`` or a confirmed ``/verify``; no key pinned yet
        (``None``) leaves what the model knew."""
        if username == self.model.username:
            return
        if self.model.verification_of(username) is TrustState.KEY_CHANGED:
            return
        try:
            state = self.client.trust_state(username)
        except P2PChatError:
            return
        if state is not None:
            self.model.set_verification(username, state)

    def _refresh(self, refresh: Refresh) -> None:
        if refresh.room:
            self.refresh_room()
        for username in refresh.trust:
            self.refresh_trust(username)

    def handle_event(self, event: ClientEvent) -> list[BufferId]:
        touched = self.model.apply(event)
        if isinstance(event, RoomsRestored):
            self.refresh_room()
        elif isinstance(event, MemberJoined) and event.room in self.client.rooms:
            # A new member may be offline (a durable tracker lists the whole roster).
            online = {m.username: m.online for m in self.client.room_members(event.room)}
            if not online.get(event.username, True):
                self.model.joined.presence(event.room, event.username, online=False)
        if isinstance(event, MemberJoined | ChannelOpened):
            self.refresh_trust(event.username)
        if isinstance(event, MessageReceived) and touched:
            # A stranger's message is shown in the requests buffer but kept, like any
            # other, in its own conversation's history.
            target = private_buffer(event.sender) if event.room is None else touched[0]
            quoted = event.reply_to
            reply_to = None if quoted is None else (quoted.author, quoted.msg_id)
            self._record(
                target,
                event.sender,
                event.text,
                event.timestamp,
                event.msg_id,
                False,
                reply_to,
                event.me,
            )
        change = kept_change(event)
        if change is not None and self.archive is not None:
            self.archive.record(change)
        return touched

    # -- input -------------------------------------------------------------------------

    async def handle_line(self, line: str) -> ScreenRequest | None:
        """Run one submitted line; errors become error lines, never exceptions."""
        try:
            command = cmd.parse_line(line, cmd.Frontend.TUI)
        except P2PChatError as exc:
            self._record_failure(exc)
            return None
        return None if command is None else await self.run(command)

    async def run(self, command: cmd.UserCommand) -> ScreenRequest | None:
        """Run one typed command; errors become error lines."""
        return await self.guarded(self._run(command))

    async def guarded(self, work: Awaitable[ScreenRequest | None]) -> ScreenRequest | None:
        """Await a command or a decision taken in a dialog; errors become error lines."""
        try:
            return await work
        except (P2PChatError, OSError, TimeoutError) as exc:
            self._record_failure(exc)
        return None

    def _record_failure(self, exc: P2PChatError | OSError | TimeoutError) -> None:
        if isinstance(exc, P2PChatError):
            self.model.error(f"{exc.message} [{exc.code}]")
        else:
            self.model.error(f"network error: {type(exc).__name__}")

    async def _run(self, command: cmd.UserCommand) -> ScreenRequest | None:
        model = self.model
        match command:
            case cmd.Quit():
                return QuitRequest()
            case cmd.Help(topic):
                local.show_help(model, topic)
            case cmd.Search(query, all_buffers):
                return self._search(query, all_buffers)
            case cmd.SetSetting(name, value):
                return await local.set_setting(model, self.settings, self.archive, name, value)
            case cmd.ClearHistory():
                await local.clear_history(model, self.archive)
            case cmd.Switch(reference):
                local.switch(model, reference)
            case cmd.Query(user):
                model.buffers.switch_to(model.open_private(user))
                self.refresh_trust(user)
            case cmd.CloseBuffer():
                local.close_buffer(model)
            case cmd.Receipts():
                local.show_receipts(model)
            case cmd.Expand():
                local.expand(model)
            case cmd.Register() | cmd.Login():
                model.error(f"already logged in as {model.username}")
            case cmd.Aimed():
                await self.conversation.run(command)
            case cmd.SendAction(text, None):  # /me: in the buffer shown
                await self.conversation.action(text)
            case cmd.SendRoom(text, None):
                await self._send_to(model.buffers.current.id, text)
            case cmd.SendRoom(text, room) if room is not None:  # /say ROOM TEXT
                await self._send_to(room_buffer(room), text)
            case (
                cmd.LeaveRoom(None)
                | cmd.ListUsers(None)
                | cmd.ControlUser(room=None)
                | cmd.SetInviteOnly(room=None)
                | cmd.ShowAccess(None)
            ) if model.room is not None:  # the room shown (or shown last)
                return await self._run(aimed_at(command, model.room))
            case cmd.SendPrivate(user, text):
                await self._send_private(user, text)
            case cmd.Verify(user, typed):
                await refresh_key(self.client, user)  # the key the tracker lists now
                return self.verify_request(user, typed)
            case cmd.Trust(user, typed):
                await self.trust_key(user, self.client.key_to_trust(user, typed))
            case cmd.Reject(user):
                await self.reject(user)
            case _:
                try:
                    result = await execute(self.client, command)
                except P2PChatError as exc:
                    if isinstance(command, cmd.JoinRoom):  # banned, or no such room: a hint
                        model.join_refused(command.room, exc.code)
                    raise
                room_before = model.room
                self._refresh(refresh_for(result))
                show_result(model, result, room_before)
        return None

    # -- trust decisions -----------------------------------------------------------------

    def verify_request(self, username: str, typed: str | None = None) -> VerifyRequest:
        """What the verify panel shows: the key typed, else every undecided key, else the
        pinned (or listed) key."""
        client = self.client
        pending = client.pending_keys(username)
        if typed is not None:
            keys: tuple[bytes, ...] = (client.key_to_verify(username, typed),)
        elif pending:
            keys = pending
        else:
            keys = (client.key_to_verify(username),)
        candidates = tuple(
            KeyCandidate(k, client.fingerprint(key=k), client.safety_number(username, k))
            for k in keys
        )
        return VerifyRequest(
            username=username,
            own_fingerprint=client.fingerprint(),
            candidates=candidates,
            pending=pending,
            accept_new_key=any(k in pending for k in keys),
        )

    async def confirm_verify(self, request: VerifyRequest, key: bytes) -> bool:
        """The user compared the numbers for ``key`` (one of the request's) and they
        match: (accept and) mark it verified. ``False``, with nothing marked, if the
        undecided keys changed since the panel was built: the user must look again."""
        username = request.username
        if self.client.pending_keys(username) != request.pending:
            self.model.error(
                f"the key of {username} changed again while you were comparing: nothing "
                "was marked. Compare the new safety numbers."
            )
            return False
        try:
            await self.client.verify(username, key)
        except P2PChatError as exc:
            self.model.error(f"{exc.message} [{exc.code}]")
            return False
        self.model.set_verification(username, TrustState.VERIFIED)
        self.refresh_trust(username)
        self.model.notice(f"{username} is now verified (key {self.client.fingerprint(key=key)})")
        return True

    async def trust_key(self, username: str, key: bytes) -> None:
        """Accept ``key``, the key shown to the user, as ``username``'s new key."""
        await self.client.trust(username, key)
        self.model.set_verification(username, TrustState.UNVERIFIED)
        self.refresh_trust(username)
        self.model.notice(
            f"accepted {username}'s new key {self.client.fingerprint(key=key)}; sending to "
            f"them is unblocked (still unverified: /verify {username} to compare safety numbers)"
        )

    async def reject(self, username: str) -> None:
        """Keep ``username``'s pinned key, refuse the new ones, reconnect."""
        refused = await self.client.reject(username)
        kept = self.client.pinned_key(username)
        self.model.set_verification(username, TrustState.UNVERIFIED)
        self.refresh_trust(username)
        shown = ", ".join(self.client.fingerprint(key=k) for k in refused)
        kept_text = "" if kept is None else f" {self.client.fingerprint(key=kept)}"
        self.model.notice(
            f"kept {username}'s pinned key{kept_text}; refused the new key(s) {shown}."
            f" Reconnecting to {username} with the pinned key."
        )

    # -- sending -------------------------------------------------------------------------

    async def send_pasted(self, target: BufferId, lines: Sequence[str]) -> None:
        """Send pasted ``lines`` to ``target``, one message each, as text (never commands).

        The target is the buffer shown when the paste was confirmed, even if the user
        switches away before the last line is out. The first failure stops the rest, and
        the user is told how many lines did not go.
        """
        for sent, line in enumerate(lines):
            try:
                delivered = await self._send_to(target, line)
            except (P2PChatError, OSError, TimeoutError) as exc:
                self._record_failure(exc)
                delivered = False
            if not delivered:
                self.model.error(f"{len(lines) - sent} of {len(lines)} pasted lines not sent")
                return

    async def _send_to(self, target: BufferId, text: str) -> bool:
        """Send ``text`` to the room or private buffer ``target``; False if refused."""
        if target.kind is BufferKind.PRIVATE:
            return await self._send_private(target.name, text)
        if target.kind is BufferKind.STATUS:
            self.model.error("this is the status buffer: /join a room or /msg someone first")
            return False
        if target.kind is BufferKind.REQUESTS:
            self.model.error("these are messages from strangers: /query NAME to answer one")
            return False
        if target.name not in self.client.rooms:
            self.model.error(f"you are not in #{target.name}: /join {target.name} to chat here")
            return False
        sent = await self.client.send_room(target.name, text)
        line = self.model.own_message(target, text, sent.msg_id, sent.recipients)
        self._record(target, self.model.username, text, line.timestamp, line.msg_id, True)
        return True

    async def _send_private(self, username: str, text: str) -> bool:
        """Send privately; False (with a warning line) while their key change is undecided."""
        target = private_buffer(username)
        shown = self.model.buffers.current.id
        try:
            sent = await self.client.send_private(username, text)
        except KeyChangedError as exc:
            self.model.add(shown, LineKind.WARNING, f"not sent: {exc.message}")
            return False
        self.model.open_private(username)  # answered: their requests move to @username
        line = self.model.own_message(target, text, sent.msg_id, sent.recipients)
        self._record(target, self.model.username, text, line.timestamp, line.msg_id, True)
        self.refresh_trust(username)
        if shown != target:
            number = self.model.buffers.number_of(target)
            self.model.notice(f"sent to @{username} (buffer {number}: F{number})", shown)
        return True

    # -- search ---------------------------------------------------------------------------

    def _search(self, query: str, all_buffers: bool) -> SearchRequest:
        if conversation_of(self.model.buffers.current.id) is None:
            all_buffers = True
        return SearchRequest(query, all_buffers)
