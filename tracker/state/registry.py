"""The registry every tracker rule works on: the records, the sessions and rooms with
their indexes, and the few steps several rules take. Sans-I/O.

The rules are module functions over one :class:`Registry`, one module per command family
(:mod:`tracker.state.tracker_state` lists them and dispatches to them). The registry holds:

* ``online`` (username to :class:`OnlineUser`) and ``sessions`` (session id to the
  same records), kept in step by :meth:`Registry.add_user` and
  :meth:`Registry.remove_user`;
* ``rooms`` (name to :class:`Room`), only changed through :meth:`Registry.add_room`
  and :meth:`Registry.remove_room`, which keep the sorted names and the owners'
  counts right; their durable members only through :meth:`Registry.add_member`,
  :meth:`Registry.remove_member` and :meth:`Registry.set_members`, which keep
  ``memberships`` (username to their rooms in join order) in step;
* the indexes the directory pages from (sorted names, folded names for ``LOOKUP``).

It is a plain class that :class:`~tracker.state.tracker_state.TrackerState` *has*, not a
base it inherits: the rules take it as ``state``, and no rule needs the shell's API.

Contract of every rule built on it: it takes a validated request (or an event of the
shell) and the time, changes the registry, and says everything the shell must do in an
:class:`Outcome`; it never touches a socket, a clock or a disk. :meth:`Registry.changed`
is called for every user or room whose shared facts change (a group of trackers writes
them out, :mod:`tracker.group.replica`).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from commons.codec import JsonObject
from commons.errors import ErrorCode
from commons.look_alikes import skeleton
from commons.models import PeerInfo, RoomInfo
from commons.relay_frames import RelayEndCode, RelayFrame, relay_end_push
from commons.room_control import Departure, Removed
from commons.tracker_protocol import Event, Request, error, push
from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import KeyedTokenBuckets, TokenBucket
from tracker.state.relay_budget import RelayBudgets, RelayLimits, RelaySession, RelayStats
from tracker.state.room_changes import StoreAction

SessionId = int

#: Told which user (or room) changed: see :meth:`Registry.changed`.
ChangeHook = Callable[[str | None, str | None], None]

#: Bytes kept free in a list reply for the envelope (status, id, flags, cursor).
_ENVELOPE_RESERVE = 512


@dataclass(frozen=True, slots=True)
class StateLimits:
    """Quotas and rates of the commands (``TrackerConfig`` fills them)."""

    rooms_per_owner: int = 5
    max_rooms: int = 10_000
    #: Accounts younger than ``standing_age`` seconds are newcomers: the rooms they
    #: create may take only ``newcomer_room_share`` of ``max_rooms`` together.
    standing_age: float = 24 * 3600.0
    newcomer_room_share: float = 0.5
    #: A room none of whose members was online for this many seconds is deleted
    #: (:mod:`tracker.state.room_upkeep`).
    room_expiry: float = 30 * 24 * 3600.0
    #: Rooms a user may be a member of at once (created ones included).
    rooms_per_user: int = 20
    max_bans: int = 500
    max_invites: int = 500
    #: Room commands a session may send at once, then per second.
    changes_burst: int = 10
    changes_per_second: float = 1.0
    #: Directory pages (LIST_PEERS, LIST_ROOMS, ROOM_ACCESS) per source: burst, then rate.
    #: A page of peers costs ~2 ms to build, so this bounds what one source can make
    #: the tracker spend on them (~0.1 s per second at most), whatever its sessions.
    pages_burst_per_source: int = 100
    pages_per_source_per_second: float = 50.0
    relay: RelayLimits = field(default_factory=RelayLimits)


#: A stored membership: the member's name, whether they entered relay-only, and when they
#: joined (a number that orders one user's rooms by when they joined them).
Membership = tuple[str, bool, float]


@dataclass(frozen=True, slots=True)
class RoomSeed:
    """A room as stored, to start from."""

    name: str
    owner: str
    invite_only: bool = False
    banned: tuple[str, ...] = ()
    invited: tuple[str, ...] = ()
    newcomer: bool = False
    #: When a member was last online, as stored (0: unknown, counted from the first upkeep).
    last_active: float = 0.0
    #: The durable members in join order: (name, entered relay-only, when they joined).
    members: tuple[Membership, ...] = ()


@dataclass(slots=True)
class OnlineUser:
    """A logged-in session's public facts."""

    username: str
    session: SessionId
    host: str
    #: The P2P port announced at login; ``None``: no listener, no address published.
    port: int | None
    identity_key: str
    last_seen: float
    room_changes: TokenBucket
    #: Where the session comes from (:func:`tracker.limits.source.source_key`), and whether that
    #: is a trusted network (exempt from per-source limits).
    source: str = ""
    trusted: bool = False
    #: Another tracker of the group holds this session (:mod:`tracker.group.replica`); ``None``
    #: for a session of this tracker.
    tracker: str | None = None
    #: Budget and pairs of what this session relays (made by its first RELAY frame).
    relay: RelaySession | None = None
    #: When the account was made (``None``: unknown, taken for a newcomer's).
    account_created: float | None = None

    def is_newcomer(self, now: float, standing_age: float) -> bool:
        """Whether the account is younger than ``standing_age`` seconds (or unknown)."""
        return self.account_created is None or now - self.account_created < standing_age

    @property
    def local(self) -> bool:
        return self.tracker is None

    def member_entry(self, relay_only: bool) -> JsonObject:
        """What a room-mate learns of this online user: the key, and how to dial them if
        they listen and are not ``relay_only`` towards that room-mate."""
        entry: JsonObject = {
            "username": self.username,
            "online": True,
            "identity_key": self.identity_key,
        }
        if self.port is not None and not relay_only:
            entry["host"] = self.host
            entry["port"] = self.port
        return entry

    def peer_info(self) -> PeerInfo:
        """What anyone logged in learns: the name and the key. Never an address, and
        never a room: durable memberships would hand anyone a user's social graph."""
        return PeerInfo(self.username, self.identity_key, None)


def fold(name: str) -> str:
    """Usernames are unique ignoring case (ASCII only, so ``lower`` is enough)."""
    return name.lower()


@dataclass(slots=True)
class Room:
    """A room: persistent name, owner, access lists and members.

    ``members`` is every member, online or not, in join order (durable: a member stays
    one until they leave, are kicked or banned, or the room goes); who of them is
    online is the registry's ``online``. ``relay_only``: the members who entered
    relay-only (their room-mates get no address for them from this room); ``joined``:
    when each joined, which orders a user's rooms (``Registry.rooms_of``). Change
    members only through :meth:`Registry.add_member` and :meth:`Registry.remove_member`,
    which keep the per-user index right. ``banned`` and ``invited`` map a folded
    username to the name as the owner gave it. ``newcomer``: created by a newcomer's
    account; ``last_active``: when a member was last online (wall clock),
    ``stamped``: that time as the store last heard it.
    """

    name: str
    owner: str
    members: list[str] = field(default_factory=list)
    invite_only: bool = False
    banned: dict[str, str] = field(default_factory=dict)
    invited: dict[str, str] = field(default_factory=dict)
    newcomer: bool = False
    last_active: float = 0.0
    stamped: float = 0.0
    relay_only: set[str] = field(default_factory=set)
    joined: dict[str, float] = field(default_factory=dict)

    @classmethod
    def stored(
        cls,
        name: str,
        owner: str,
        invite_only: bool,
        banned: Iterable[str],
        invited: Iterable[str],
        newcomer: bool = False,
        last_active: float = 0.0,
        members: Iterable[Membership] = (),
    ) -> Room:
        """The room as the store holds it (add it with :meth:`Registry.add_room`, which
        indexes its members)."""
        listed = list(members)
        return cls(
            name,
            owner,
            [name for name, _, _ in listed],
            relay_only={name for name, relay, _ in listed if relay},
            joined={name: joined for name, _, joined in listed},
            invite_only=invite_only,
            banned={fold(n): n for n in banned},
            invited={fold(n): n for n in invited},
            newcomer=newcomer,
            last_active=last_active,
            stamped=last_active,
        )

    def member_named(self, name: str) -> str | None:
        folded = fold(name)
        return next((m for m in self.members if fold(m) == folded), None)


@dataclass(frozen=True, slots=True)
class Forward:
    """A relayed frame to carry: push ``message`` to ``target``, unless ``target`` does
    not read fast enough, in which case the shell drops it and carries out
    :meth:`~tracker.state.tracker_state.TrackerState.relay_dropped` instead."""

    sender: SessionId
    target: SessionId
    frame: RelayFrame
    message: JsonObject


@dataclass(slots=True)
class Outcome:
    """What the shell must do: persist, reply, push, forward, close — in that order.

    ``wait`` > 0: nothing was done; hold this session's input that many seconds, then
    hand the same frame in again (the relay's rate limit shapes, it does not drop).
    """

    reply: JsonObject | None = None
    pushes: list[tuple[tuple[SessionId, ...], JsonObject]] = field(default_factory=list)
    close: list[SessionId] = field(default_factory=list)
    store: tuple[StoreAction, ...] = ()
    forward: Forward | None = None
    wait: float = 0.0

    def push_to(self, sessions: Iterable[SessionId], message: JsonObject) -> None:
        targets = tuple(sessions)
        if targets:
            self.pushes.append((targets, message))


def refuse(request: Request, code: ErrorCode, msg: str) -> Outcome:
    """The error reply to ``request``, and nothing else done."""
    return Outcome(reply=error(request.id, code, msg))


class Registry:
    """The live registry of sessions and rooms, with its indexes."""

    def __init__(
        self,
        room_capacity: int,
        heartbeat_interval: float,
        max_frame_size: int,
        rooms: Iterable[RoomSeed] = (),
        limits: StateLimits | None = None,
        on_change: ChangeHook | None = None,
    ) -> None:
        self.room_capacity = room_capacity
        self.heartbeat_interval = heartbeat_interval
        self.limits = limits or StateLimits()
        self.on_change = on_change
        self.list_budget = max(256, max_frame_size - _ENVELOPE_RESERVE)
        self.online: dict[str, OnlineUser] = {}
        self.sessions: dict[SessionId, OnlineUser] = {}
        self.rooms: dict[str, Room] = {}
        #: Sorted names, for cursor paging; folded names, for LOOKUP.
        self.online_names: list[str] = []
        self.room_names: list[str] = []
        #: Room names by their look-alike skeleton (:func:`commons.look_alikes.skeleton`),
        #: so a new name is checked against every room in one lookup.
        self.room_skeletons: dict[str, set[str]] = {}
        self.folded: dict[str, str] = {}
        #: Each member's rooms in the order they joined them (the reverse of
        #: ``Room.members``), so "which rooms is X in" costs the rooms of X.
        self.memberships: dict[str, list[str]] = {}
        #: The latest join stamp seen (:meth:`add_member` keeps joins ordered).
        self.last_joined = 0.0
        self.owned: Counter[str] = Counter()
        #: Rooms created by newcomers' accounts (their share is bounded).
        self.newcomer_rooms = 0
        #: Who relays to each user (the reverse of the senders' pairs).
        self.relayed_by: dict[str, set[str]] = {}
        self.relay_stats = RelayStats()
        #: The relay's budgets above a session: per user, per source, in all.
        self.relay_budgets = RelayBudgets(self.limits.relay)
        #: Directory pages per source (charged before the rule runs).
        self.pages = KeyedTokenBuckets(
            KeyedRecords("pages_source"),
            self.limits.pages_burst_per_source,
            self.limits.pages_per_source_per_second,
        )
        for seed in rooms:
            self.add_room(
                Room.stored(
                    seed.name,
                    seed.owner,
                    seed.invite_only,
                    seed.banned,
                    seed.invited,
                    seed.newcomer,
                    seed.last_active,
                    seed.members,
                )
            )

    # ----------------------------------------------------------------- indexes

    def add_room(self, room: Room) -> None:
        self.rooms[room.name] = room
        bisect.insort(self.room_names, room.name)
        self.room_skeletons.setdefault(skeleton(room.name), set()).add(room.name)
        self.owned[room.owner] += 1
        self.newcomer_rooms += room.newcomer
        self._index(room)

    def clear_rooms(self) -> None:
        """Forget every room and each index kept over them (a replica's full resync)."""
        self.rooms.clear()
        self.room_names.clear()
        self.room_skeletons.clear()
        self.owned.clear()
        self.memberships.clear()
        self.newcomer_rooms = 0

    def remove_room(self, name: str) -> Room | None:
        room = self.rooms.pop(name, None)
        if room is None:
            return None
        index = bisect.bisect_left(self.room_names, name)
        del self.room_names[index]
        mark = skeleton(name)
        alike = self.room_skeletons[mark]
        alike.discard(name)
        if not alike:
            del self.room_skeletons[mark]
        self.owned[room.owner] -= 1
        if self.owned[room.owner] <= 0:
            del self.owned[room.owner]
        self.newcomer_rooms -= room.newcomer
        for member in room.members:
            self._unindex(member, name)
        return room

    def add_member(self, room: Room, username: str, relay_only: bool, now: float) -> float:
        """``username`` becomes the last member of ``room`` and of their own rooms' list;
        returns when they joined (``now``, or just after the last join seen, so joins
        stay ordered whatever the clock does)."""
        joined = max(now, self.last_joined + 1e-3)
        self.last_joined = joined
        room.members.append(username)
        room.joined[username] = joined
        if relay_only:
            room.relay_only.add(username)
        self.memberships.setdefault(username, []).append(room.name)
        self.changed(room=room.name)
        return joined

    def remove_member(self, room: Room, username: str) -> None:
        """``username`` is no longer a member of ``room``."""
        room.members.remove(username)
        room.relay_only.discard(username)
        room.joined.pop(username, None)
        self._unindex(username, room.name)
        self.changed(room=room.name)

    def set_members(self, room: Room, members: Iterable[Membership]) -> None:
        """Replace ``room``'s members wholesale (a replica copying another tracker's)."""
        for member in room.members:
            self._unindex(member, room.name)
        listed = list(members)
        room.members = [name for name, _, _ in listed]
        room.relay_only = {name for name, relay, _ in listed if relay}
        room.joined = {name: joined for name, _, joined in listed}
        self._index(room)

    def _index(self, room: Room) -> None:
        """Add ``room`` to each member's rooms, kept in the order they joined them."""
        for member in room.members:
            rooms = self.memberships.setdefault(member, [])
            rooms.append(room.name)
            if len(rooms) > 1 and room.joined.get(member, 0.0) < self._joined(rooms[-2], member):
                rooms.sort(key=lambda name: self._joined(name, member))
        if room.joined:
            self.last_joined = max(self.last_joined, *room.joined.values())

    def _joined(self, room: str, member: str) -> float:
        found = self.rooms.get(room)
        return 0.0 if found is None else found.joined.get(member, 0.0)

    def _unindex(self, username: str, room: str) -> None:
        rooms = self.memberships.get(username)
        if rooms is not None and room in rooms:
            rooms.remove(room)
            if not rooms:
                del self.memberships[username]

    def rooms_of(self, username: str) -> list[str]:
        """The rooms ``username`` is a member of, in the order they joined them."""
        return self.memberships.get(username, [])

    def look_alike_room(self, name: str) -> str | None:
        """An existing room whose name looks like ``name`` (``Lobby``, ``l0bby`` or a
        Cyrillic ``o`` in ``lobby`` for ``lobby``), other than ``name`` itself; the smallest if
        several (a database may hold some from before the rule)."""
        others = self.room_skeletons.get(skeleton(name), set()) - {name}
        return min(others) if others else None

    def rooms_owned_by(self, username: str) -> int:
        return self.owned.get(username, 0)

    def add_user(self, user: OnlineUser) -> None:
        self.online[user.username] = user
        self.sessions[user.session] = user
        bisect.insort(self.online_names, user.username)
        self.folded[fold(user.username)] = user.username
        self.changed(user=user.username)

    def remove_user(self, user: OnlineUser) -> None:
        """Take ``user``'s session out of the indexes; its name stays if a newer session
        holds it."""
        self.sessions.pop(user.session, None)
        if self.online.get(user.username) is user:
            del self.online[user.username]
            del self.online_names[bisect.bisect_left(self.online_names, user.username)]
            self.folded.pop(fold(user.username), None)

    def changed(self, user: str | None = None, room: str | None = None) -> None:
        """A user's presence, or a room's members or mode, changed: ``on_change`` hears
        of it (:class:`tracker.group.replica.ReplicaState` collects what to write)."""
        if self.on_change is not None:
            self.on_change(user, room)

    # ----------------------------------------------------------------- views

    def room_info(self, room: Room) -> RoomInfo:
        return RoomInfo(
            room.name, room.owner, tuple(room.members), self.room_capacity, room.invite_only
        )

    def room_object(self, room: Room) -> JsonObject:
        """The room object of replies and ``LIST_ROOMS``: every member in join order, and
        those online (same order)."""
        obj = self.room_info(room).to_wire()
        obj["online"] = [name for name in room.members if name in self.online]
        return obj

    def member_entry(self, room: Room, username: str) -> JsonObject:
        """A member as ``room``'s members see them: offline, only the name; online, the
        key and (unless they entered relay-only or announced no port) the address."""
        user = self.online.get(username)
        if user is None:
            return {"username": username, "online": False}
        return user.member_entry(username in room.relay_only)

    def members_wire(self, room: Room) -> list[JsonObject]:
        return [self.member_entry(room, name) for name in room.members]

    def sessions_of(self, names: Iterable[str]) -> list[SessionId]:
        return [self.online[name].session for name in names if name in self.online]


# --------------------------------------------------------------------- shared steps


def leave_room(
    state: Registry, room: Room, username: str, outcome: Outcome, departure: Departure
) -> None:
    """Take ``username`` out of ``room`` for good (``departure`` says why): the
    membership ends and the online members get ``ROOM_UPDATE`` naming the removal."""
    state.remove_member(room, username)
    push_update(state, room, outcome, Removed(username, departure))


def owned_room(
    state: Registry, user: OnlineUser, request: Request, verb: str
) -> tuple[Room, Outcome] | tuple[None, Outcome]:
    """The request's room if ``user`` owns it, else the refusal to send."""
    assert request.room is not None
    room = state.rooms.get(request.room)
    if room is None:
        return None, refuse(request, ErrorCode.ROOM_NOT_FOUND, "no such room")
    if room.owner != user.username:
        return None, refuse(request, ErrorCode.NOT_OWNER, f"only the room's owner may {verb} it")
    return room, Outcome()


def push_update(
    state: Registry, room: Room, outcome: Outcome, removed: Removed | None = None
) -> None:
    """``ROOM_UPDATE`` (the full member list, ``removed`` if one left on purpose) to every
    online member of ``room``: sent on membership and mode changes only, never on
    presence (that is ``PRESENCE``, :mod:`tracker.state.presence`)."""
    message = push(
        Event.ROOM_UPDATE,
        room=room.name,
        owner=room.owner,
        capacity=state.room_capacity,
        invite_only=room.invite_only,
        members=state.members_wire(room),
    )
    if removed is not None:
        message["removed"] = removed.to_wire()
    outcome.push_to(state.sessions_of(room.members), message)


def end_relays(state: Registry, user: OnlineUser, outcome: Outcome) -> None:
    """``user``'s session ends: everyone it relayed with loses those links at once."""
    partners = state.relayed_by.pop(user.username, set())
    if user.relay is not None:
        for name in user.relay.pairs:
            partners.add(name)
            state.relayed_by.get(name, set()).discard(user.username)
    notice = relay_end_push(
        user.username, None, False, RelayEndCode.USER_OFFLINE, f"{user.username} went offline"
    )
    for name in sorted(partners):
        partner = state.online.get(name)
        if partner is None or partner is user:
            continue
        if partner.relay is not None:
            partner.relay.pairs.forget(user.username)
        if partner.local:  # another tracker tells its own (tracker.group.replica)
            outcome.push_to((partner.session,), notice)
