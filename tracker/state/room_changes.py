"""The durable facts a room command changes, as values. Sans-I/O.

:class:`tracker.state.tracker_state.TrackerState` returns them in
:attr:`~tracker.state.registry.Outcome.store`; the store (in SQLite
:func:`tracker.storage.sqlite_rooms.apply_changes`) writes a command's whole list in one transaction
before anyone hears of the change, and :meth:`~tracker.state.tracker_state.TrackerState.revert`
undoes them in memory if that write fails. Membership is durable (``MemberAdded``,
``MemberRemoved``, ``MemberModeChanged``); presence (who is online) is live state and never
one of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RoomCreated:
    """``newcomer``: made by an account younger than the standing age (it counts against
    the newcomers' share of the rooms, :mod:`tracker.state.rooms`)."""

    name: str
    owner: str
    invite_only: bool = False
    newcomer: bool = False


@dataclass(frozen=True, slots=True)
class RoomDeleted:
    """``owner``, ``invite_only``, ``banned`` and ``invited`` let a failed write be undone."""

    name: str
    owner: str = field(default="", compare=False)
    invite_only: bool = field(default=False, compare=False)
    banned: tuple[str, ...] = field(default=(), compare=False)
    invited: tuple[str, ...] = field(default=(), compare=False)
    #: The members in join order: (name, entered relay-only, when they joined).
    members: tuple[tuple[str, bool, float], ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class MemberAdded:
    """``username`` became the last member of ``room`` (``relay_only``: no address of
    theirs goes to that room's members) at ``joined``, which orders their rooms."""

    room: str
    username: str
    relay_only: bool = False
    joined: float = field(default=0.0, compare=False)


@dataclass(frozen=True, slots=True)
class MemberRemoved:
    """``username`` left ``room``, or was kicked or banned from it; ``relay_only`` and
    ``joined`` are what undoing it would need."""

    room: str
    username: str
    relay_only: bool = field(default=False, compare=False)
    joined: float = field(default=0.0, compare=False)


@dataclass(frozen=True, slots=True)
class MemberModeChanged:
    """A member joined the room they are in again with the other ``relay_only`` choice."""

    room: str
    username: str
    relay_only: bool


@dataclass(frozen=True, slots=True)
class RoomModeChanged:
    room: str
    invite_only: bool


@dataclass(frozen=True, slots=True)
class BanAdded:
    room: str
    username: str


@dataclass(frozen=True, slots=True)
class BanRemoved:
    room: str
    username: str


@dataclass(frozen=True, slots=True)
class InviteAdded:
    room: str
    username: str


@dataclass(frozen=True, slots=True)
class InviteRemoved:
    room: str
    username: str


@dataclass(frozen=True, slots=True)
class RoomUsed:
    """The room had members at ``at`` (wall clock): it is not abandoned
    (:mod:`tracker.state.room_upkeep`). Nothing to undo if it is not stored."""

    room: str
    at: float


StoreAction = (
    RoomCreated
    | RoomDeleted
    | RoomModeChanged
    | BanAdded
    | BanRemoved
    | InviteAdded
    | InviteRemoved
    | RoomUsed
    | MemberAdded
    | MemberRemoved
    | MemberModeChanged
)
