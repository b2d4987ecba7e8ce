"""What a command did, as typed values (:func:`peer.commands.runner.execute` returns them).

The batch mode writes each result as one JSON object (:func:`result_to_json`: the
result's fields under its ``EVENT`` name), the terminal chat as lines
(:mod:`peer.tui.model.result_lines`). Field names are the batch protocol's, so the JSON form
needs no mapping of its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Self

from commons.models import RoomInfo
from peer.commands import table as cmd


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
    """A room as the tracker describes it."""

    room: str
    owner: str
    members: list[str]
    capacity: int
    invite_only: bool

    @classmethod
    def of(cls, info: RoomInfo) -> Self:
        return cls(info.name, info.owner, list(info.members), info.capacity, info.invite_only)


@dataclass(frozen=True, slots=True)
class RoomsListed:
    EVENT: ClassVar[str] = "rooms"
    rooms: list[RoomEntry]
    total: int
    next: str | None


@dataclass(frozen=True, slots=True)
class RoomCreated:
    """The new room, described as a listing describes it, and whether we entered it
    relay-only."""

    EVENT: ClassVar[str] = "room_created"
    room: str
    owner: str
    members: list[str]
    capacity: int
    invite_only: bool
    relay_only: bool

    @classmethod
    def of(cls, info: RoomInfo, relay_only: bool) -> Self:
        members = list(info.members)
        return cls(info.name, info.owner, members, info.capacity, info.invite_only, relay_only)


@dataclass(frozen=True, slots=True)
class UserControlled:
    """An owner's action done: ``/kick`` gives ``kicked``, ``/ban`` ``banned``, and so on.

    ``/invite`` also says how full the room is (``member_count`` of ``capacity``, ``None``
    from a tracker that does not say; ``full``: the invitee cannot join until someone
    leaves); the other actions leave both ``None`` and the batch object without them."""

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
    member_count: int | None = None
    capacity: int | None = None

    @property
    def EVENT(self) -> str:
        return self.EVENTS[self.action]

    @property
    def full(self) -> bool:
        return (
            self.member_count is not None
            and self.capacity is not None
            and self.member_count >= self.capacity
        )


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
    #: We asked for the room relay-only (no address of ours to its members).
    relay_only: bool


@dataclass(frozen=True, slots=True)
class Left:
    EVENT: ClassVar[str] = "left"
    room: str | None


@dataclass(frozen=True, slots=True)
class MemberPresence:
    user: str
    online: bool


@dataclass(frozen=True, slots=True)
class MyRoom:
    """One of our rooms: its roster in join order, each member online or not."""

    room: str
    owner: str
    capacity: int
    members: list[MemberPresence]


@dataclass(frozen=True, slots=True)
class MyRoomsListed:
    """``/rooms``: our rooms in join order."""

    EVENT: ClassVar[str] = "my_rooms"
    rooms: list[MyRoom]


@dataclass(frozen=True, slots=True)
class RoomSwitched:
    """Batch ``/switch``: plain lines go to ``room`` from now on."""

    EVENT: ClassVar[str] = "switched"
    room: str


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
class Signalled:
    """A typing indicator or read marker (``kind``) went, or was held back by its rules
    (``sent`` false: too soon, the setting is off); no receipt follows."""

    EVENT: ClassVar[str] = "signalled"
    kind: str
    room: str | None
    to: str | None
    sent: bool


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
class Forgotten:
    EVENT: ClassVar[str] = "forgotten"
    user: str
    fingerprint: str


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
    | MyRoomsListed
    | RoomSwitched
    | Deleted
    | UsersListed
    | Sent
    | Signalled
    | OwnFingerprint
    | ContactFingerprint
    | Trusted
    | Verified
    | Rejected
    | Forgotten
    | Bye
)


def result_to_json(result: Result) -> dict[str, Any]:
    """The batch-mode object of a result: its fields under ``"event"``."""
    fields = asdict(result)
    if isinstance(result, UserControlled):
        del fields["action"]
        if result.action is cmd.OwnerAction.INVITE:
            fields["full"] = result.full
        else:
            del fields["member_count"], fields["capacity"]
    return {"event": result.EVENT, **fields}
