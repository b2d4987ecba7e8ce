"""Runs what the user typed against the chat client, writing the results into the model.

No Textual here: :class:`ChatController` parses a line with the command table both front
ends share (:mod:`peer.commands`), runs the shared commands with
:func:`peer.command_results.execute` and draws their typed results as lines
(:mod:`peer.tui.result_lines`), and handles the commands that only exist with buffers
(``/help``, ``/switch``, ``/query``, ``/close``, ``/receipts``, ``/expand``), the history
(``/search``, ``/clear-history``) and settings (``/set``). What needs the screen (the
``/verify`` comparison, the search dialog, a changed setting, quitting) comes back as a
request object for the app. The dialogs call the controller's methods, never commands
as text.

Every message shown (received, or sent by this user) is handed to the history archive
(:mod:`peer.history_archive`), which keeps it encrypted on disk.

Trust decisions pass the exact key the user was shown: a :class:`VerifyRequest` carries
the keys behind the numbers on screen and the undecided keys at that moment, and
:meth:`ChatController.confirm_verify` refuses (nothing is marked) if another key
arrived since; the key-changed dialog's buttons pass the key it displayed.

A plain line goes to the buffer being shown: the room, or the private conversation.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from commons.errors import P2PChatError
from crypto.errors import KeyChangedError
from peer import commands as cmd
from peer.command_results import CommandClient, execute, refresh_key
from peer.events import ChannelOpened, Event, MemberJoined, MessageReceived
from peer.history_archive import HistoryArchive
from peer.history_store import HistoryEntry, conversation_label
from peer.settings import SettingError, Settings, format_value
from peer.tui.buffers import STATUS, BufferId, BufferKind, LineKind, private_buffer, room_buffer
from peer.tui.chat_model import ChatModel, Verification
from peer.tui.rendering import is_clipped
from peer.tui.result_lines import show_result

RECEIPTS_SHOWN = 5

KEY_HELP: tuple[tuple[str, str], ...] = (
    ("F1..F9 / Alt+1..9", "show buffer 1..9"),
    ("Ctrl+N / Ctrl+P", "next / previous buffer"),
    ("Alt+A / Ctrl+X", "next buffer with unread messages (Ctrl+X inside tmux)"),
    ("Ctrl+R / Ctrl+F", "search all buffers / the buffer shown"),
    ("Tab", "complete command, nick, room or setting"),
    ("Up / Down", "input history"),
    ("PgUp / PgDn", "scroll the messages (new ones then wait below)"),
    ("End", "back to the newest messages (with the cursor at the end of the line)"),
    ("Ctrl+C", "quit (same as /quit)"),
)


class ChatClientLike(CommandClient, Protocol):
    """The part of :class:`peer.client.ChatClient` the terminal UI uses."""

    @property
    def tracker_connected(self) -> bool: ...
    async def connect(self) -> None: ...
    def events(self) -> AsyncIterator[Event]: ...


@dataclass(frozen=True, slots=True)
class KeyCandidate:
    """One key of a contact as the verify panel shows it."""

    key: bytes
    fingerprint: str
    safety_number: str


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """Show fingerprints and safety numbers; confirm one with :meth:`confirm_verify`.

    ``candidates``: the keys on screen (one, or every undecided key when more than one
    new key has been seen). ``accept_new_key``: they are new keys, and confirming one
    accepts it before marking it verified. ``pending``: the undecided keys when the
    panel was built; if they differ at confirmation time, nothing is marked.
    """

    username: str
    own_fingerprint: str
    candidates: tuple[KeyCandidate, ...]
    pending: tuple[bytes, ...]
    accept_new_key: bool = False


@dataclass(frozen=True, slots=True)
class QuitRequest:
    """The user asked to leave: the app closes the client and exits."""


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """Open the search dialog with ``query`` over the buffer shown, or all of them."""

    query: str
    all_buffers: bool


@dataclass(frozen=True, slots=True)
class SettingChanged:
    """``/set`` changed ``key`` for this session: the screen applies it."""

    key: str


Request = VerifyRequest | QuitRequest | SearchRequest | SettingChanged


def conversation_of(buffer_id: BufferId) -> str | None:
    """The history's name of a buffer (``#room``, ``@user``); None for the status buffer."""
    if buffer_id.kind is BufferKind.ROOM:
        return conversation_label("room", buffer_id.name)
    if buffer_id.kind is BufferKind.PRIVATE:
        return conversation_label("private", buffer_id.name)
    return None


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def verification_from_trust_state(state: object | None) -> Verification | None:
    """Map the client's trust state (crypto.pinning.TrustState) to what the panel shows.

    ``None`` (no key pinned yet) maps to ``None``: the panel keeps what it knew.
    """
    if state is None:
        return None
    name = str(getattr(state, "name", state)).upper()
    if "CHANGED" in name or "MISMATCH" in name:
        return Verification.KEY_CHANGED
    if "VERIFIED" in name and "UNVERIFIED" not in name:
        return Verification.VERIFIED
    return Verification.UNVERIFIED


class ChatController:
    """One per chat screen; every method records its outcome in ``model``."""

    def __init__(
        self,
        client: ChatClientLike,
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

    def _record(
        self,
        buffer_id: BufferId,
        sender: str,
        text: str,
        sent_at: float,
        msg_id: str | None,
        own: bool,
    ) -> None:
        conversation = conversation_of(buffer_id)
        if self.archive is None or conversation is None:
            return
        entry = HistoryEntry(conversation, sender, text, sent_at, self._clock(), msg_id or "", own)
        self.archive.record(entry)

    # -- state refresh -------------------------------------------------------------------

    def refresh_room(self) -> None:
        """Copy the client's room and members into the model, with trust states."""
        self.model.set_room(self.client.room, self.client.members, self.client.room_owner)
        for member in self.model.members:
            self.refresh_trust(member)

    def refresh_trust(self, username: str) -> None:
        """Ask the client for ``username``'s state (what was pinned before this session;
        later changes arrive as ``TrustChanged``). An undecided key change is never
        cleared here, only by ``/trust`` or a confirmed ``/verify``."""
        if username == self.model.username:
            return
        if self.model.verification_of(username) is Verification.KEY_CHANGED:
            return
        try:
            state = verification_from_trust_state(self.client.trust_state(username))
        except P2PChatError:
            return
        if state is not None:
            self.model.set_verification(username, state)

    def handle_event(self, event: Event) -> list[BufferId]:
        touched = self.model.apply(event)
        if isinstance(event, MemberJoined | ChannelOpened):
            self.refresh_trust(event.username)
        if isinstance(event, MessageReceived) and touched:
            self._record(touched[0], event.sender, event.text, event.timestamp, event.msg_id, False)
        return touched

    # -- input -------------------------------------------------------------------------

    async def handle_line(self, line: str) -> Request | None:
        """Run one submitted line; errors become error lines, never exceptions."""
        try:
            command = cmd.parse_line(line, cmd.Frontend.TUI)
        except P2PChatError as exc:
            self._record_failure(exc)
            return None
        return None if command is None else await self.run(command)

    async def run(self, command: cmd.Command) -> Request | None:
        """Run one typed command; errors become error lines."""
        return await self.guarded(self._run(command))

    async def guarded(self, work: Awaitable[Request | None]) -> Request | None:
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

    async def _run(self, command: cmd.Command) -> Request | None:
        model = self.model
        match command:
            case cmd.Quit():
                return QuitRequest()
            case cmd.Help(topic):
                self._help(topic)
            case cmd.Search(query, all_buffers):
                return self._search(query, all_buffers)
            case cmd.SetSetting(name, value):
                return await self._set(name, value)
            case cmd.ClearHistory():
                await self._clear_history()
            case cmd.Switch(reference):
                self._switch(reference)
            case cmd.Query(user):
                model.buffers.switch_to(private_buffer(user))
                self.refresh_trust(user)
            case cmd.CloseBuffer():
                self._close()
            case cmd.Receipts():
                self._receipts()
            case cmd.Expand():
                self._expand()
            case cmd.Register() | cmd.Login():
                model.error(f"already logged in as {model.username}")
            case cmd.SendRoom(text):
                await self._send_to(model.buffers.current.id, text)
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
                show_result(self, await execute(self.client, command))
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
        self.model.set_verification(username, Verification.VERIFIED)
        self.refresh_trust(username)
        self.model.notice(f"{username} is now verified (key {self.client.fingerprint(key=key)})")
        return True

    async def trust_key(self, username: str, key: bytes) -> None:
        """Accept ``key``, the key shown to the user, as ``username``'s new key."""
        await self.client.trust(username, key)
        self.model.set_verification(username, Verification.UNVERIFIED)
        self.refresh_trust(username)
        self.model.notice(
            f"accepted {username}'s new key {self.client.fingerprint(key=key)}; sending to "
            f"them is unblocked (still unverified: /verify {username} to compare safety numbers)"
        )

    async def reject(self, username: str) -> None:
        """Keep ``username``'s pinned key, refuse the new ones, reconnect."""
        refused = await self.client.reject(username)
        kept = self.client.pinned_key(username)
        self.model.set_verification(username, Verification.UNVERIFIED)
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
        if self.model.room != target.name:
            self.model.error(f"you are not in #{target.name}: /join {target.name} to chat here")
            return False
        sent = await self.client.send_room(text)
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
        line = self.model.own_message(target, text, sent.msg_id, sent.recipients)
        self._record(target, self.model.username, text, line.timestamp, line.msg_id, True)
        self.refresh_trust(username)
        if shown != target:
            number = self.model.buffers.number_of(target)
            self.model.notice(f"sent to @{username} (buffer {number}: F{number})", shown)
        return True

    # -- the commands that only exist with buffers ---------------------------------------

    def _help(self, topic: str | None = None) -> None:
        if topic:
            spec = cmd.spec_for(topic, cmd.Frontend.TUI)
            if spec is None:
                self.model.error(f"no command {topic!r}: /help lists them")
                return
            self.model.notice(f"{spec.usage}  {spec.summary}")
            if spec.details:
                self.model.notice(f"  {spec.details}")
            return
        specs = cmd.commands_for(cmd.Frontend.TUI)
        width = max(len(spec.usage) for spec in specs)
        self.model.notice("commands (a line without / goes to the buffer shown):")
        for spec in specs:
            self.model.notice(f"  {spec.usage.ljust(width)}  {spec.summary}")
        keys = max(len(key) for key, _ in KEY_HELP)
        self.model.notice("keys:")
        for key, summary in KEY_HELP:
            self.model.notice(f"  {key.ljust(keys)}  {summary}")

    def _switch(self, reference: str) -> None:
        buffer_id = self.model.buffers.resolve(reference)
        if buffer_id is None:
            self.model.error(f"no buffer {reference!r}; /query USER opens a private one")
            return
        self.model.buffers.switch_to(buffer_id)

    def _close(self) -> None:
        current = self.model.buffers.current.id
        if current == STATUS:
            self.model.error("the status buffer cannot be closed")
        elif current.kind is BufferKind.ROOM and current.name == self.model.room:
            self.model.error(f"you are in #{current.name}: /leave it first")
        else:
            self.model.buffers.close(current)

    def _expand(self) -> None:
        """Draw the newest message of the shown buffer that was clipped, in full."""
        buffer = self.model.buffers.current
        for line in reversed(buffer.lines):
            if is_clipped(line):
                what = f"message from {line.sender}" if line.sender else "line"
                lines = line.text.count("\n") + 1
                self.model.notice(f"the whole {what} ({lines:,} lines):")
                self.model.buffers.append(buffer.id, replace(line, full=True))
                return
        self.model.error("no clipped message in this buffer")

    def _receipts(self) -> None:
        current = self.model.buffers.current.id
        receipts = self.model.receipts.latest(current, RECEIPTS_SHOWN)
        if not receipts:
            self.model.notice("none of your messages here yet")
            return
        for receipt in receipts:
            text = receipt.text if len(receipt.text) <= 40 else receipt.text[:39] + "\u2026"
            self.model.notice(f"{text!r}: {receipt.describe()}")

    def entered_room(self, room: str) -> None:
        self.model.buffers.switch_to(room_buffer(room))
        others = [m for m in self.model.members if m != self.model.username]
        who = ", ".join(others) if others else "nobody else yet"
        self.model.notice(f"you joined #{room}; here: {who}")
        if self.model.replaced_key and others:
            self.model.add(
                room_buffer(room),
                LineKind.WARNING,
                "you replaced your identity key this session: members who knew the old one"
                " refuse your channel (and get none of your messages) until they accept the"
                " new key; the status buffer (F1) says who refused",
            )

    # -- history and settings ------------------------------------------------------------

    def _search(self, query: str, all_buffers: bool) -> SearchRequest:
        if conversation_of(self.model.buffers.current.id) is None:
            all_buffers = True
        return SearchRequest(query, all_buffers)

    async def _clear_history(self) -> None:
        archive = self.archive
        if archive is None or not archive.enabled:
            self.model.notice("no history is being kept (history.days is 0): nothing to delete")
            return
        await archive.clear()
        for buffer in self.model.buffers:
            kept = [line for line in buffer.lines if not line.history]
            if len(kept) != len(buffer.lines):
                buffer.lines.clear()
                buffer.lines.extend(kept)
                self.model.rebuilt.add(buffer.id)
        self.model.notice(
            "your message history was deleted from disk (new file, new keys);"
            " this session's messages stay on screen until you quit"
        )

    async def _set(self, name: str | None, value: str | None) -> Request | None:
        settings = self.settings
        if name is None:
            where = f" (config file {settings.path})" if settings.path is not None else ""
            self.model.notice(f"settings{where}; /set NAME VALUE changes one for this session:")
            width = max(len(spec.key) for spec, _, _ in settings.items())
            for spec, current, source in settings.items():
                shown = format_value(current)
                self.model.notice(f"  {spec.key.ljust(width)} = {shown}  [{source}]")
            return None
        try:
            spec = settings.resolve(name)
        except SettingError as exc:
            self.model.error(exc.message)
            return None
        if value is None:
            shown = format_value(settings.get(spec.key))
            self.model.notice(f"{spec.key} = {shown}  [{settings.source(spec.key)}]")
            self.model.notice(f"  {spec.help}")
            return None
        if not spec.live:
            self.model.error(
                f"{spec.key} cannot change while the chat runs: set it in the config file"
                f" ({settings.path or 'see /set'}) or with a command-line flag"
            )
            return None
        try:
            settings.set(spec.key, value, "session")
        except SettingError as exc:
            self.model.error(exc.message)
            return None
        self.model.notice(f"{spec.key} = {format_value(settings.get(spec.key))} for this session")
        if spec.key == "history.days" and self.archive is not None:
            days = settings.history_days
            removed = await self.archive.set_days(days)
            if days == 0:
                self.model.notice(
                    f"history off: {plural(removed, 'kept message')} deleted, nothing more is kept"
                )
            elif removed:
                self.model.notice(f"{plural(removed, 'message')} older than {days} days deleted")
        return SettingChanged(spec.key)
