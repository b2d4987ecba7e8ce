"""One tracker's copy of a group's live state, kept in step with the others. Sans-I/O.

With several trackers on one PostgreSQL database (:mod:`tracker.group.coordinator`) each runs a
:class:`ReplicaState`: the whole :class:`~tracker.state.tracker_state.TrackerState` (every online
user of the group, every room with its members), where users on other trackers have
a session id of their own (negative, never a connection's) and ``tracker`` set. The
rules of :class:`TrackerState` run unchanged on it; two things are added:

* **what changed**: the users and rooms a command touched (:meth:`take_changes`), which
  :mod:`tracker.group.coordinator` writes to the database and announces;
* **what others changed**: :meth:`apply` takes the rows another tracker wrote (presence,
  rooms) and the pushes it addressed to sessions of this tracker, brings the copy in
  line, and returns the pushes this tracker must deliver: ``ROOM_UPDATE`` and
  ``ROOM_DELETED`` to its own members of a room whose membership or mode changed,
  ``PRESENCE``, ``KICKED``, ``INVITED``, ``KEY_CHANGED``, ``SESSION_REPLACED``,
  ``SESSION_ENDED`` as addressed, and the local sessions to close (a user now logged in
  elsewhere, or dropped by the group).

Members are durable and shared: a room row holds every member in join order and who of
them entered relay-only; who is online is the ``presence`` rows. A session starting or
ending changes no room row, so it never makes a ``ROOM_UPDATE``: the tracker where it
happened addresses one ``PRESENCE`` to each room-mate's session, whichever tracker holds
it (:mod:`tracker.state.presence`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from commons.codec import JsonObject
from commons.errors import ValidationError
from commons.room_control import Removed
from commons.tracker_protocol import Event, push
from tracker.limits.rate_limit import TokenBucket
from tracker.state.registry import end_relays, fold, push_update
from tracker.state.relay_budget import RelaySession
from tracker.state.tracker_state import OnlineUser, Outcome, Room, SessionId, TrackerState

#: Pushes a tracker derives from room rows itself; never sent as addressed pushes.
ROOM_EVENTS = frozenset({str(Event.ROOM_UPDATE), str(Event.ROOM_DELETED)})
#: Addressed pushes after which the session is closed.
CLOSING_EVENTS = frozenset({str(Event.SESSION_REPLACED), str(Event.SESSION_ENDED)})


@dataclass(frozen=True, slots=True)
class Presence:
    """A ``presence`` row: who is logged in where."""

    username: str
    tracker: str
    session: int
    host: str
    #: ``None``: no listener, no address published (reached through the relay).
    port: int | None
    identity_key: str
    since: float


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """A ``rooms`` row with its access lists and members (every member, in join order;
    ``relay_only``: those of them who entered relay-only)."""

    name: str
    owner: str
    invite_only: bool
    banned: tuple[str, ...]
    invited: tuple[str, ...]
    members: tuple[str, ...]
    newcomer: bool = False
    last_active: float = 0.0
    relay_only: tuple[str, ...] = ()
    #: When each member joined (same order as ``members``), which orders a user's rooms.
    joined: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class AddressedPush:
    """A push for one session of one tracker (``body`` is the push frame)."""

    username: str
    tracker: str
    session: int
    body: JsonObject


@dataclass(frozen=True, slots=True)
class RemoteSession:
    tracker: str
    session: int
    username: str


class ReplicaState(TrackerState):
    """:class:`TrackerState` for tracker ``me`` of a group.

    It extends the rules at one point, :meth:`TrackerState._changed` (the registry's
    ``on_change``): every user and room a rule touches is noted for
    :meth:`ReplicaState.take_changes`. Everything else reads and changes the same
    :class:`~tracker.state.registry.Registry` the rules do (``self.registry``).
    """

    def __init__(self, me: str, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.me = me
        self.changed_users: set[str] = set()
        self.changed_rooms: set[str] = set()
        #: Session ids given to other trackers' sessions, and whose they are.
        self.remote: dict[SessionId, RemoteSession] = {}
        self._remote_ids = itertools.count(-1, -1)

    def _changed(self, user: str | None = None, room: str | None = None) -> None:
        if user is not None:
            self.changed_users.add(user)
        if room is not None:
            self.changed_rooms.add(room)

    def take_changes(self) -> tuple[set[str], set[str]]:
        users, rooms = self.changed_users, self.changed_rooms
        self.changed_users, self.changed_rooms = set(), set()
        return users, rooms

    def forget_gone_remotes(self) -> None:
        """Drop the ids of remote sessions no longer in the copy (after a batch)."""
        for session in [s for s in self.remote if s not in self.sessions]:
            del self.remote[session]

    def presence_of(self, user: OnlineUser) -> Presence:
        """The row that says where ``user`` is logged in."""
        if user.tracker is None:
            tracker, session = self.me, user.session
        else:
            ref = self.remote[user.session]
            tracker, session = ref.tracker, ref.session
        return Presence(
            user.username,
            tracker,
            session,
            user.host,
            user.port,
            user.identity_key,
            user.last_seen,
        )

    def address_of(self, session: SessionId) -> RemoteSession | None:
        return self.remote.get(session)

    # ------------------------------------------------------------ relay

    def relay_arrived(self, origin: str, sender: str, target: OnlineUser, now: float) -> None:
        """A body from ``sender`` (tracker ``origin``) reached ``target``, one of ours:
        note the pair as the sender's tracker did, so that when either end goes, the
        other end's tracker tells it (:func:`tracker.state.registry.end_relays`)."""
        user = self.online.get(sender)
        if user is None or user.tracker != origin:
            return  # not in this copy yet; a later body notes it
        if user.relay is None:
            user.relay = RelaySession(self.limits.relay, now)
        expired = user.relay.pairs.use(target.username, now)
        if expired is None:
            return
        for name in expired:
            self.registry.relayed_by.get(name, set()).discard(sender)
        self.registry.relayed_by.setdefault(target.username, set()).add(sender)

    # ------------------------------------------------------------ others' changes

    def apply(
        self,
        presence: Mapping[str, Presence | None],
        rooms: Mapping[str, RoomSnapshot | None],
        pushes: Iterable[AddressedPush] = (),
        removed: Mapping[str, Sequence[object]] = {},
    ) -> Outcome:
        """Bring the copy in line with rows others wrote; what to deliver here.

        ``presence`` and ``rooms`` map each name an entry named to its current row
        (``None``: gone). ``removed`` maps a room to the ``removed`` records of its
        writers' updates (the members taken out on purpose). A room that
        changed gets one ``ROOM_UPDATE`` per such member still out, each naming one (the
        field names one member; members drop each at once, see :mod:`peer.core.room`), or a
        plain one. Changes made here are not changes of ours to write back.
        """
        outcome = Outcome()
        touched = set(rooms)
        before = {name: self._shape(name) for name in touched}
        for item in pushes:
            self._addressed(item, outcome)
        for username, row in presence.items():
            self._presence(username, row, outcome)
        for name, snapshot in rooms.items():
            self._room(name, snapshot, outcome)
        for name in sorted(touched):
            shape = self._shape(name)
            if shape is not None and shape != before[name]:
                room = self.rooms[name]
                departures: list[Removed | None] = [*_departures(removed.get(name, ()), room)]
                for departure in departures or [None]:
                    push_update(self.registry, room, outcome, departure)
        self.changed_users.clear()
        self.changed_rooms.clear()
        return outcome

    def _shape(self, name: str) -> tuple[tuple[str, ...], frozenset[str], bool] | None:
        """What a ``ROOM_UPDATE`` announces of a room: its members, who of them entered
        relay-only, and whether it is invite-only (presence is not in it: ``PRESENCE``)."""
        room = self.rooms.get(name)
        if room is None:
            return None
        return tuple(room.members), frozenset(room.relay_only), room.invite_only

    def reset(self, presence: Iterable[Presence], rooms: Iterable[RoomSnapshot]) -> Outcome:
        """Start over from a full read; local sessions the database no longer has close."""
        rows = {row.username: row for row in presence}
        outcome = Outcome()
        kept: dict[SessionId, OnlineUser] = {}
        for user in list(self.online.values()):
            row = rows.get(user.username)
            if user.tracker is None:
                if row is not None and (row.tracker, row.session) == (self.me, user.session):
                    kept[user.session] = user
                else:
                    outcome.close.append(user.session)
            self._drop(user)
        self.registry.clear_rooms()
        self.remote.clear()
        for row in rows.values():
            if row.tracker != self.me:
                self._add_remote(row)
                continue
            local = kept.get(row.session)
            if local is not None and local.username == row.username:
                self.registry.add_user(local)
        for snapshot in rooms:
            self._room(snapshot.name, snapshot, Outcome())
        live = self.online.keys()
        self.registry.relayed_by = {
            name: {p for p in partners if p in live}
            for name, partners in self.registry.relayed_by.items()
            if name in live
        }
        self.changed_users.clear()
        self.changed_rooms.clear()
        return outcome

    def _addressed(self, item: AddressedPush, outcome: Outcome) -> None:
        if item.tracker != self.me:
            return
        user = self.sessions.get(item.session)
        if user is None or user.tracker is not None or user.username != item.username:
            return
        outcome.push_to((item.session,), item.body)
        if item.body.get("event") in CLOSING_EVENTS:
            outcome.close.append(item.session)

    def _presence(self, username: str, row: Presence | None, outcome: Outcome) -> None:
        current = self.online.get(username)
        if current is not None:
            if row is not None and self._same(current, row):
                current.host, current.port = row.host, row.port
                current.identity_key = row.identity_key
                return
            end_relays(self.registry, current, outcome)
            self._drop(current)
            if current.tracker is None:
                outcome.close.append(current.session)
        if row is not None and row.tracker != self.me:
            self._add_remote(row)

    def _same(self, user: OnlineUser, row: Presence) -> bool:
        if user.tracker is None:
            return row.tracker == self.me and row.session == user.session
        ref = self.remote.get(user.session)
        return ref is not None and (ref.tracker, ref.session) == (row.tracker, row.session)

    def _add_remote(self, row: Presence) -> None:
        session = next(self._remote_ids)
        self.remote[session] = RemoteSession(row.tracker, row.session, row.username)
        limits = self.limits
        self.registry.add_user(
            OnlineUser(
                row.username,
                session,
                row.host,
                row.port,
                row.identity_key,
                row.since,
                TokenBucket(limits.changes_burst, limits.changes_per_second, row.since),
                tracker=row.tracker,
            )
        )

    def _drop(self, user: OnlineUser) -> None:
        """Offline in the copy, silently (its memberships stay; the tracker that ended the
        session addressed the ``PRESENCE``)."""
        self.registry.remove_user(user)

    def _room(self, name: str, snapshot: RoomSnapshot | None, outcome: Outcome) -> None:
        room = self.rooms.get(name)
        if snapshot is None:
            if room is None:
                return
            outcome.push_to(
                self.registry.sessions_of(room.members), push(Event.ROOM_DELETED, room=name)
            )
            self.registry.remove_room(name)
            return
        if room is None:
            room = Room(snapshot.name, snapshot.owner, newcomer=snapshot.newcomer)
            self.registry.add_room(room)
        room.last_active = max(room.last_active, snapshot.last_active)
        room.stamped = max(room.stamped, snapshot.last_active)
        room.invite_only = snapshot.invite_only
        room.banned = {fold(n): n for n in snapshot.banned}
        room.invited = {fold(n): n for n in snapshot.invited}
        relay_only = set(snapshot.relay_only)
        joined = snapshot.joined
        self.registry.set_members(
            room,
            [
                (m, m in relay_only, joined[i] if i < len(joined) else 0.0)
                for i, m in enumerate(snapshot.members)
            ],
        )


#: Departures named per room and batch, at most (a room holds at most 64 members).
MAX_DEPARTURES = 64


def _departures(records: Sequence[object], room: Room) -> list[Removed]:
    """The valid ``removed`` records whose member is out of ``room``: the latest per
    member, at most :data:`MAX_DEPARTURES` (the latest)."""
    latest: dict[str, Removed] = {}
    for record in records:
        try:
            removed = Removed.from_wire(record)
        except ValidationError:
            continue
        latest.pop(removed.username, None)
        latest[removed.username] = removed
    out = [r for r in latest.values() if r.username not in room.members]
    return out[-MAX_DEPARTURES:]
