"""Runs what the user typed against the chat client, writing the results into the model.

No Textual here: :class:`ChatController` takes a line, parses it with the batch mode's
parser (:func:`peer.batch_commands.parse_line`, so both front ends accept the same
commands), handles the commands that only exist with buffers (``/help``, ``/switch``,
``/query``, ``/close``, ``/expand``), awaits the client and records the outcome in the
:class:`~peer.tui.chat_model.ChatModel`. What needs the screen (the ``/verify``
comparison, quitting) comes back as a request object for the app to act on.

A plain line goes to the buffer being shown: the room, or the private conversation.
Sending is refused while the model's send gate says a recipient's key changed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from commons.errors import P2PChatError
from commons.models import PeerInfo, RoomInfo, validate_username
from peer.batch_commands import (
    BatchCommand,
    CreateRoom,
    DeleteRoom,
    JoinRoom,
    LeaveRoom,
    ListPeers,
    ListRooms,
    ListUsers,
    Login,
    Quit,
    Register,
    SendPrivate,
    SendRoom,
    ShowFingerprint,
    Trust,
    Verify,
    parse_line,
)
from peer.events import ChannelOpened, Event, MemberJoined
from peer.tui.buffers import (
    STATUS,
    BufferId,
    BufferKind,
    LineKind,
    private_buffer,
    room_buffer,
)
from peer.tui.chat_model import ChatModel, Verification
from peer.tui.command_table import COMMANDS, KEY_HELP
from peer.tui.rendering import is_clipped


class ChatClientLike(Protocol):
    """The part of :class:`peer.client.ChatClient` the terminal UI uses."""

    @property
    def username(self) -> str | None: ...
    @property
    def room(self) -> str | None: ...
    @property
    def members(self) -> Sequence[str]: ...
    @property
    def tracker_connected(self) -> bool: ...
    async def connect(self) -> None: ...
    async def register(self, username: str, password: str) -> None: ...
    async def login(self, username: str, password: str, replace_key: bool = False) -> None: ...
    async def list_peers(self) -> list[PeerInfo]: ...
    async def list_rooms(self) -> list[RoomInfo]: ...
    async def create_room(self, name: str) -> object: ...
    async def join_room(self, name: str) -> object: ...
    async def leave_room(self) -> object: ...
    async def delete_room(self, name: str) -> object: ...
    async def send_room(self, text: str) -> object: ...
    async def send_private(self, username: str, text: str) -> object: ...
    def fingerprint(self, username: str | None = None) -> str: ...
    def safety_number(self, username: str) -> str: ...
    def trust_state(self, username: str) -> object | None: ...
    async def trust(self, username: str) -> object: ...
    async def verify(self, username: str) -> object: ...
    def events(self) -> AsyncIterator[Event]: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """Show both fingerprints and the safety number; confirm with :meth:`confirm_verify`.

    ``accept_new_key`` is set when the contact's key changed and is undecided: the
    fingerprint and safety number shown are the *new* key's (the client computes them
    from the pending key), and confirming accepts that key before marking it verified.
    """

    username: str
    own_fingerprint: str
    their_fingerprint: str
    safety_number: str
    accept_new_key: bool = False


@dataclass(frozen=True, slots=True)
class QuitRequest:
    """The user asked to leave: the app closes the client and exits."""


Request = VerifyRequest | QuitRequest


def verification_from_trust_state(state: object | None) -> Verification | None:
    """Map the client's trust state (crypto.pinning.TrustState) to what the panel shows.

    Matched by name so the UI does not break if the enum gains members; ``None`` (no key
    pinned yet) maps to ``None``: the panel keeps what it knew.
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

    def __init__(self, client: ChatClientLike, model: ChatModel) -> None:
        self.client = client
        self.model = model

    # -- state refresh -------------------------------------------------------------------

    def refresh_room(self) -> None:
        """Copy the client's room and members into the model, with trust states."""
        self.model.set_room(self.client.room, self.client.members)
        for member in self.model.members:
            self.refresh_trust(member)

    def refresh_trust(self, username: str) -> None:
        """Ask the client for ``username``'s state. A key change the user has not decided
        on is never cleared here, only by ``/trust`` or a confirmed ``/verify``."""
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
        return touched

    # -- input -------------------------------------------------------------------------

    async def handle_line(self, line: str) -> Request | None:
        """Run one submitted line; errors become error lines, never exceptions."""
        try:
            return await self._handle(line)
        except (P2PChatError, OSError, TimeoutError) as exc:
            self._record_failure(exc)
        return None

    def _record_failure(self, exc: P2PChatError | OSError | TimeoutError) -> None:
        if isinstance(exc, P2PChatError):
            self.model.error(f"{exc.message} [{exc.code}]")
        else:
            self.model.error(f"network error: {type(exc).__name__}")

    async def _handle(self, line: str) -> Request | None:
        word, _, rest = line.strip().partition(" ")
        local = word.lower()
        if local == "/help":
            self._help()
            return None
        if local == "/switch":
            self._switch(rest.strip())
            return None
        if local == "/query":
            user = validate_username(rest.strip())
            self.model.buffers.switch_to(private_buffer(user))
            self.refresh_trust(user)
            return None
        if local == "/close":
            self._close()
            return None
        if local == "/expand":
            self._expand()
            return None
        command = parse_line(line)
        if command is None:
            return None
        return await self._run(command)

    async def _run(self, command: BatchCommand) -> Request | None:
        model, client = self.model, self.client
        if isinstance(command, Quit):
            return QuitRequest()
        if isinstance(command, Register | Login):
            model.error(f"already logged in as {model.username}")
        elif isinstance(command, SendRoom):
            await self._send_to_current(command.text)
        elif isinstance(command, SendPrivate):
            await self._send_private(command.username, command.text)
        elif isinstance(command, ListPeers):
            self._show_peers(await client.list_peers())
        elif isinstance(command, ListRooms):
            self._show_rooms(await client.list_rooms())
        elif isinstance(command, CreateRoom):
            await client.create_room(command.room)
            self.refresh_room()
            if model.room == command.room:
                model.buffers.switch_to(room_buffer(command.room))
                model.notice(f"created #{command.room}; you own it and are its first member")
            else:
                model.notice(f"created #{command.room}; /join {command.room} to enter it")
        elif isinstance(command, JoinRoom):
            await client.join_room(command.room)
            self.refresh_room()
            self._entered_room(command.room)
        elif isinstance(command, LeaveRoom):
            left = client.room
            await client.leave_room()
            self.refresh_room()
            model.notice(f"you left #{left}" if left else "you are not in a room")
        elif isinstance(command, DeleteRoom):
            was_in = model.room == command.room
            await client.delete_room(command.room)
            self.refresh_room()
            if not was_in:  # otherwise the RoomDeleted event says it in the room's buffer
                model.notice(f"deleted room #{command.room}")
        elif isinstance(command, ListUsers):
            self._show_members()
        elif isinstance(command, ShowFingerprint):
            self._show_fingerprint(command.username)
        elif isinstance(command, Trust):
            await client.trust(command.username)
            model.set_verification(command.username, Verification.UNVERIFIED)
            self.refresh_trust(command.username)
            model.notice(
                f"accepted {command.username}'s current key; sending to them is unblocked"
                f" (still unverified: /verify {command.username} to compare safety numbers)"
            )
        elif isinstance(command, Verify):
            user = command.username
            if model.verification_of(user) is Verification.KEY_CHANGED:
                return VerifyRequest(
                    username=user,
                    own_fingerprint=client.fingerprint(),
                    their_fingerprint=client.fingerprint(user),
                    safety_number=client.safety_number(user),
                    accept_new_key=True,
                )
            return VerifyRequest(
                username=command.username,
                own_fingerprint=client.fingerprint(),
                their_fingerprint=client.fingerprint(command.username),
                safety_number=client.safety_number(command.username),
            )
        return None

    async def confirm_verify(self, request: VerifyRequest) -> None:
        """The user compared the numbers and they match: (accept and) mark verified."""
        username = request.username
        try:
            if request.accept_new_key:
                await self.client.trust(username)
            await self.client.verify(username)
        except P2PChatError as exc:
            self.model.error(f"{exc.message} [{exc.code}]")
            return
        self.model.set_verification(username, Verification.VERIFIED)
        self.refresh_trust(username)
        self.model.notice(f"{username} is now verified")

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

    async def _send_to_current(self, text: str) -> None:
        await self._send_to(self.model.buffers.current.id, text)

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
        reason = self.model.send_blocked_reason(target)
        if reason is not None:
            self.model.add(target, LineKind.WARNING, reason)
            return False
        await self.client.send_room(text)
        self.model.own_message(target, text)
        return True

    async def _send_private(self, username: str, text: str) -> bool:
        """Send privately; False (with a warning line) while their key change is undecided."""
        target = private_buffer(username)
        shown = self.model.buffers.current.id
        reason = self.model.send_blocked_reason(target)
        if reason is not None:
            self.model.add(shown, LineKind.WARNING, reason)
            return False
        await self.client.send_private(username, text)
        self.model.own_message(target, text)
        self.refresh_trust(username)
        if shown != target:
            number = self.model.buffers.number_of(target)
            self.model.notice(f"sent to @{username} (buffer {number}: F{number})", shown)
        return True

    # -- output of listing commands ------------------------------------------------------

    def _entered_room(self, room: str) -> None:
        self.model.buffers.switch_to(room_buffer(room))
        others = [m for m in self.model.members if m != self.model.username]
        who = ", ".join(others) if others else "nobody else yet"
        self.model.notice(f"you joined #{room}; here: {who}")

    def _help(self) -> None:
        width = max(len(spec.usage) for spec in COMMANDS)
        self.model.notice("commands (a line without / goes to the buffer shown):")
        for spec in COMMANDS:
            self.model.notice(f"  {spec.usage.ljust(width)}  {spec.summary}")
        keys = max(len(key) for key, _ in KEY_HELP)
        self.model.notice("keys:")
        for key, summary in KEY_HELP:
            self.model.notice(f"  {key.ljust(keys)}  {summary}")

    def _switch(self, reference: str) -> None:
        if not reference:
            self.model.error("usage: /switch N|#ROOM|@USER")
            return
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

    def _show_peers(self, peers: list[PeerInfo]) -> None:
        if not peers:
            self.model.notice("nobody is online")
            return
        self.model.notice(f"{len(peers)} online:")
        for peer in sorted(peers, key=lambda p: p.username.lower()):
            where = f"in #{peer.room}" if peer.room else "in no room"
            self.refresh_trust(peer.username)
            state = self._state_label(peer.username)
            self.model.notice(f"  {peer.username} ({where}){state}")

    def _show_rooms(self, rooms: list[RoomInfo]) -> None:
        if not rooms:
            self.model.notice("no rooms yet: /create ROOM")
            return
        self.model.notice(f"{len(rooms)} room(s):")
        for room in sorted(rooms, key=lambda r: r.name.lower()):
            self.model.notice(
                f"  #{room.name}  {len(room.members)}/{room.capacity}  owner {room.owner}"
                f"  members: {', '.join(room.members) or '-'}"
            )

    def _show_members(self) -> None:
        if self.model.room is None:
            self.model.error("you are not in a room")
            return
        self.model.notice(f"members of #{self.model.room}:")
        for member in self.model.members:
            self.model.notice(f"  {member}{self._state_label(member)}")

    def _state_label(self, username: str) -> str:
        if username == self.model.username:
            return " (you)"
        return f" [{self.model.verification_of(username)}]"

    def _show_fingerprint(self, username: str | None) -> None:
        fingerprint = self.client.fingerprint(username)
        if username is None or username == self.model.username:
            self.model.notice(f"your identity key fingerprint: {fingerprint}")
            return
        self.refresh_trust(username)
        state = self.model.verification_of(username)
        self.model.notice(f"{username}'s identity key fingerprint: {fingerprint} [{state}]")
        number = self.client.safety_number(username)
        if state is Verification.KEY_CHANGED:
            self.model.add(
                self.model.buffers.current.id,
                LineKind.WARNING,
                f"that is {username}'s NEW key; safety number for it: {number}",
            )
        else:
            self.model.notice(f"safety number with {username}: {number}")
