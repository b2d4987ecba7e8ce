"""What a command did, as typed values, and :func:`execute`, which runs one on a client.

Both front ends call :func:`execute` for the commands they share; the batch mode writes
each result as one JSON object (:func:`result_to_json`: the result's fields under its
``EVENT`` name), the terminal chat as lines. Field names are the batch protocol's, so
the JSON form needs no mapping of its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol, assert_never

from commons.errors import ErrorCode, P2PChatError
from commons.models import PeerInfo, RoomInfo, decode_identity_key
from commons.room_control import RoomAccess
from crypto.pinning import TrustState
from peer import commands as cmd
from peer.actions import SentMessage
from peer.tracker_messages import PeerPage, RoomPage
from peer.tracker_pins import endpoint_key


class CommandClient(Protocol):
    """The part of :class:`peer.client.ChatClient` commands use."""

    @property
    def username(self) -> str | None: ...
    @property
    def room(self) -> str | None: ...
    @property
    def room_owner(self) -> str | None: ...
    @property
    def members(self) -> list[str]: ...
    @property
    def connected_peers(self) -> list[str]: ...
    @property
    def channel_paths(self) -> dict[str, str]: ...
    @property
    def listen_address(self) -> tuple[str, int] | None: ...
    async def register(self, username: str, password: str) -> None: ...
    async def login(self, username: str, password: str, replace_key: bool = False) -> None: ...
    async def look_up(self, username: str) -> PeerInfo: ...
    async def list_peers(self, cursor: str | None = None, limit: int | None = None) -> PeerPage: ...
    async def list_rooms(self, cursor: str | None = None, limit: int | None = None) -> RoomPage: ...
    async def create_room(self, name: str, invite_only: bool = False) -> RoomInfo: ...
    async def kick(self, username: str, room: str | None = None) -> tuple[str, str]: ...
    async def ban(self, username: str, room: str | None = None) -> tuple[str, str]: ...
    async def unban(self, username: str, room: str | None = None) -> tuple[str, str]: ...
    async def invite(self, username: str, room: str | None = None) -> tuple[str, str]: ...
    async def uninvite(self, username: str, room: str | None = None) -> tuple[str, str]: ...
    async def set_invite_only(self, invite_only: bool, room: str | None = None) -> RoomInfo: ...
    async def room_access(self, room: str | None = None) -> RoomAccess: ...
    async def join_room(self, name: str) -> list[str]: ...
    async def leave_room(self) -> None: ...
    async def delete_room(self, name: str) -> None: ...
    async def send_room(self, text: str) -> SentMessage: ...
    async def send_private(self, username: str, text: str) -> SentMessage: ...
    def fingerprint(self, username: str | None = None, key: bytes | None = None) -> str: ...
    def safety_number(self, username: str, key: bytes | None = None) -> str: ...
    def trust_state(self, username: str) -> TrustState | None: ...
    def pinned_key(self, username: str) -> bytes | None: ...
    def pending_keys(self, username: str) -> tuple[bytes, ...]: ...
    def key_to_trust(self, username: str, typed_fingerprint: str | None = None) -> bytes: ...
    def key_to_verify(self, username: str, typed_fingerprint: str | None = None) -> bytes: ...
    async def trust(self, username: str, key: bytes) -> None: ...
    async def verify(self, username: str, key: bytes) -> None: ...
    async def reject(self, username: str) -> tuple[bytes, ...]: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Registered:
    EVENT: ClassVar[str] = "registered"
    user: str


@dataclass(frozen=True, slots=True)
class LoggedIn:
    EVENT: ClassVar[str] = "logged_in"
    user: str
    fingerprint: str
    listen: str | None


@dataclass(frozen=True, slots=True)
class PeerEntry:
    """An online user as the directory lists them: no address (only room-mates get it)."""

    user: str
    room: str | None
    fingerprint: str


@dataclass(frozen=True, slots=True)
class PeersListed:
    """One page: ``total`` online in all; ``next``: ``/peers NEXT`` shows the next page."""

    EVENT: ClassVar[str] = "peers"
    peers: list[PeerEntry]
    total: int
    next: str | None


@dataclass(frozen=True, slots=True)
class RoomEntry:
    room: str
    owner: str
    members: list[str]
    capacity: int
    invite_only: bool


@dataclass(frozen=True, slots=True)
class RoomsListed:
    EVENT: ClassVar[str] = "rooms"
    rooms: list[RoomEntry]
    total: int
    next: str | None


@dataclass(frozen=True, slots=True)
class RoomCreated:
    EVENT: ClassVar[str] = "room_created"
    room: str
    owner: str
    members: list[str]
    capacity: int
    invite_only: bool


@dataclass(frozen=True, slots=True)
class UserControlled:
    """An owner's action done: ``/kick`` gives ``kicked``, ``/ban`` ``banned``, and so on."""

    EVENTS: ClassVar[dict[cmd.OwnerAction, str]] = {
        cmd.OwnerAction.KICK: "kicked",
        cmd.OwnerAction.BAN: "banned",
        cmd.OwnerAction.UNBAN: "unbanned",
        cmd.OwnerAction.INVITE: "invited",
        cmd.OwnerAction.UNINVITE: "uninvited",
    }
    action: cmd.OwnerAction
    room: str
    user: str

    @property
    def EVENT(self) -> str:
        return self.EVENTS[self.action]


@dataclass(frozen=True, slots=True)
class RoomModeSet:
    EVENT: ClassVar[str] = "room_mode"
    room: str
    invite_only: bool


@dataclass(frozen=True, slots=True)
class AccessListed:
    EVENT: ClassVar[str] = "room_access"
    room: str
    invite_only: bool
    invited: list[str]
    banned: list[str]


@dataclass(frozen=True, slots=True)
class Joined:
    EVENT: ClassVar[str] = "joined"
    room: str
    owner: str | None
    members: list[str]


@dataclass(frozen=True, slots=True)
class Left:
    EVENT: ClassVar[str] = "left"
    room: str | None


@dataclass(frozen=True, slots=True)
class Deleted:
    EVENT: ClassVar[str] = "deleted"
    room: str


@dataclass(frozen=True, slots=True)
class UsersListed:
    EVENT: ClassVar[str] = "users"
    room: str | None
    owner: str | None
    members: list[str]
    connected: list[str]
    #: How each open channel travels: ``direct`` or ``relay``.
    paths: dict[str, str]


@dataclass(frozen=True, slots=True)
class Sent:
    """Handed to the channels; receipts follow as ``delivered``/``failed`` events."""

    EVENT: ClassVar[str] = "sent"
    room: str | None
    to: str | None
    msg_id: str
    recipients: list[str]


@dataclass(frozen=True, slots=True)
class OwnFingerprint:
    EVENT: ClassVar[str] = "fingerprint"
    user: str | None
    fingerprint: str


@dataclass(frozen=True, slots=True)
class PendingKey:
    fingerprint: str
    safety_number: str


@dataclass(frozen=True, slots=True)
class ContactFingerprint:
    """The key shown for a contact (the newest undecided one, else the pinned one), the
    pinned key, and every key waiting for a decision."""

    EVENT: ClassVar[str] = "fingerprint"
    user: str
    fingerprint: str
    safety_number: str
    trust: str | None
    pinned: str | None
    pending: list[PendingKey]


@dataclass(frozen=True, slots=True)
class Trusted:
    EVENT: ClassVar[str] = "trusted"
    user: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Verified:
    EVENT: ClassVar[str] = "verified"
    user: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Rejected:
    EVENT: ClassVar[str] = "rejected"
    user: str
    kept: str | None
    refused: list[str]


@dataclass(frozen=True, slots=True)
class Bye:
    EVENT: ClassVar[str] = "bye"


Result = (
    Registered
    | LoggedIn
    | PeersListed
    | RoomsListed
    | RoomCreated
    | UserControlled
    | RoomModeSet
    | AccessListed
    | Joined
    | Left
    | Deleted
    | UsersListed
    | Sent
    | OwnFingerprint
    | ContactFingerprint
    | Trusted
    | Verified
    | Rejected
    | Bye
)

SharedCommand = (
    cmd.Register
    | cmd.Login
    | cmd.ListPeers
    | cmd.ListRooms
    | cmd.CreateRoom
    | cmd.ControlUser
    | cmd.SetInviteOnly
    | cmd.ShowAccess
    | cmd.JoinRoom
    | cmd.LeaveRoom
    | cmd.DeleteRoom
    | cmd.ListUsers
    | cmd.SendPrivate
    | cmd.SendRoom
    | cmd.ShowFingerprint
    | cmd.Trust
    | cmd.Verify
    | cmd.Reject
    | cmd.Quit
)


def result_to_json(result: Result) -> dict[str, Any]:
    """The batch-mode object of a result: its fields under ``"event"``."""
    fields = asdict(result)
    if isinstance(result, UserControlled):
        del fields["action"]
    return {"event": result.EVENT, **fields}


def _endpoint(address: tuple[str, int] | None) -> str | None:
    return None if address is None else endpoint_key(*address)


def fingerprint_result(
    client: CommandClient, username: str | None
) -> OwnFingerprint | ContactFingerprint:
    if username is None or username == client.username:
        return OwnFingerprint(client.username, client.fingerprint())
    state = client.trust_state(username)
    pinned = client.pinned_key(username)
    pending = [
        PendingKey(client.fingerprint(key=key), client.safety_number(username, key))
        for key in client.pending_keys(username)
    ]
    return ContactFingerprint(
        username,
        client.fingerprint(username),
        client.safety_number(username),
        None if state is None else str(state),
        None if pinned is None else client.fingerprint(key=pinned),
        pending,
    )


async def refresh_key(client: CommandClient, username: str) -> None:
    """Ask the tracker for ``username``'s key now (``LOOKUP``), so a key to show or to
    verify is current. Offline, or the tracker out of reach: what is known will do (the
    pinned key); a user with no key known at all stays an error for the caller."""
    try:
        await client.look_up(username)
    except P2PChatError as exc:
        if exc.code not in (ErrorCode.USER_OFFLINE, ErrorCode.NOT_CONNECTED, ErrorCode.TIMEOUT):
            raise


_OWNER_ACTIONS = {
    cmd.OwnerAction.KICK: lambda c, u, r: c.kick(u, r),
    cmd.OwnerAction.BAN: lambda c, u, r: c.ban(u, r),
    cmd.OwnerAction.UNBAN: lambda c, u, r: c.unban(u, r),
    cmd.OwnerAction.INVITE: lambda c, u, r: c.invite(u, r),
    cmd.OwnerAction.UNINVITE: lambda c, u, r: c.uninvite(u, r),
}


async def execute(client: CommandClient, command: SharedCommand) -> Result:
    """Run one command; errors raise :class:`commons.errors.P2PChatError`."""
    match command:
        case cmd.Register(username, password):
            await client.register(username, password)
            return Registered(username)
        case cmd.Login(username, password, replace_key):
            await client.login(username, password, replace_key)
            return LoggedIn(username, client.fingerprint(), _endpoint(client.listen_address))
        case cmd.ListPeers(cursor):
            peers = await client.list_peers(cursor)
            entries = [
                PeerEntry(
                    p.username,
                    p.room,
                    client.fingerprint(key=decode_identity_key(p.identity_key)),
                )
                for p in peers.peers
            ]
            return PeersListed(entries, peers.page.total, peers.page.next_cursor)
        case cmd.ListRooms(cursor):
            rooms = await client.list_rooms(cursor)
            listed = [
                RoomEntry(r.name, r.owner, list(r.members), r.capacity, r.invite_only)
                for r in rooms.rooms
            ]
            return RoomsListed(listed, rooms.page.total, rooms.page.next_cursor)
        case cmd.CreateRoom(room, invite_only):
            info = await client.create_room(room, invite_only)
            return RoomCreated(
                info.name, info.owner, list(info.members), info.capacity, info.invite_only
            )
        case cmd.ControlUser(action, username, room):
            done_room, done_user = await _OWNER_ACTIONS[action](client, username, room)
            return UserControlled(action, done_room, done_user)
        case cmd.SetInviteOnly(invite_only, room):
            info = await client.set_invite_only(invite_only, room)
            return RoomModeSet(info.name, info.invite_only)
        case cmd.ShowAccess(room):
            access = await client.room_access(room)
            return AccessListed(
                access.room, access.invite_only, list(access.invited), list(access.banned)
            )
        case cmd.JoinRoom(room):
            members = await client.join_room(room)
            return Joined(room, client.room_owner, members)
        case cmd.LeaveRoom():
            left = client.room
            await client.leave_room()
            return Left(left)
        case cmd.DeleteRoom(room):
            await client.delete_room(room)
            return Deleted(room)
        case cmd.ListUsers():
            return UsersListed(
                client.room,
                client.room_owner,
                client.members,
                client.connected_peers,
                client.channel_paths,
            )
        case cmd.SendPrivate(username, text):
            sent = await client.send_private(username, text)
            return Sent(None, username, sent.msg_id, list(sent.recipients))
        case cmd.SendRoom(text):
            sent = await client.send_room(text)
            return Sent(sent.room, None, sent.msg_id, list(sent.recipients))
        case cmd.ShowFingerprint(username):
            if username is not None and username != client.username:
                await refresh_key(client, username)
            return fingerprint_result(client, username)
        case cmd.Trust(username, typed):
            key = client.key_to_trust(username, typed)
            await client.trust(username, key)
            return Trusted(username, client.fingerprint(key=key))
        case cmd.Verify(username, typed):
            key = client.key_to_verify(username, typed)
            await client.verify(username, key)
            return Verified(username, client.fingerprint(key=key))
        case cmd.Reject(username):
            refused = await client.reject(username)
            kept = client.pinned_key(username)
            return Rejected(
                username,
                None if kept is None else client.fingerprint(key=kept),
                [client.fingerprint(key=k) for k in refused],
            )
        case cmd.Quit():
            await client.close()
            return Bye()
    assert_never(command)
