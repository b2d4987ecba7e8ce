"""Who is online and who is in which room: the tracker's protocol core. Sans-I/O.

:class:`TrackerState` takes validated :class:`~commons.tracker_protocol.Request` objects
for a session and returns an :class:`Outcome`: the reply for that session, the pushes
to deliver to other sessions, the sessions to close, and the room facts to persist. It
never touches a socket, a clock or a disk, so every rule below is unit-testable:

* after login every command acts as the session's user; naming anyone else is
  ``forbidden``;
* one live session per user: a new login replaces the old one, which gets
  ``SESSION_REPLACED`` and is closed;
* a user is in at most one room; joining or creating another leaves the first;
* every membership change pushes ``ROOM_UPDATE`` (full member list) to every member;
  deleting a room pushes ``ROOM_DELETED`` to its members;
* a session that ends (logout, close, heartbeat expiry) leaves its room at once;
* ``LOOKUP`` finds one online user; ``LIST_PEERS``/``LIST_ROOMS`` page through names in
  code-point order with a cursor (the last name of the previous page), so no client
  needs to see everyone at once and no number of fake accounts hides a name;
* rooms have quotas (per owner and in total) and owner control: ``KICK``, ``BAN``,
  ``UNBAN``, ``INVITE``, ``UNINVITE`` and invite-only rooms (``SET_ROOM``); the user
  removed gets ``KICKED``, the user invited gets ``INVITED``;
* room commands are rate-limited per session (a token bucket), so join/leave cycles
  cannot flood the members with pushes; directory pages per source, so sessions cannot
  make the tracker spend its time building them;
* a user's address (``host``/``port``) goes only to the members of the room the user is
  in (``ROOM_UPDATE``, the ``JOIN_ROOM`` reply), never into a directory listing
  (``LIST_PEERS``, ``LOOKUP``: name, key and room); a user who announces no port has no
  address at all;
* ``RELAY`` frames are forwarded to the session named, as an outcome
  (:class:`Forward`) the shell carries out: the decision "this frame goes to session X"
  is taken here, so another shell (or trackers sharing one database) can carry it
  differently. Budgets, pair caps and the relay's counters are in :mod:`tracker.relay`.

Accounts (passwords, keys on disk) are not here: :mod:`tracker.accounts` checks them
before :meth:`TrackerState.login` is called.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from commons.codec import JsonObject
from commons.errors import ErrorCode
from commons.models import MemberInfo, PeerInfo, RoomInfo
from commons.relay_frames import RelayEndCode, RelayFrame, relay_end_push, relay_push
from commons.room_control import (
    Departure,
    Invited,
    Kicked,
    KickReason,
    Page,
    Removed,
    RoomAccess,
)
from commons.tracker_protocol import (
    MAX_PAGE_LIMIT,
    Command,
    Event,
    Request,
    error,
    ok,
    push,
)
from tracker.keyed_records import KeyedRecords
from tracker.rate_limit import KeyedTokenBuckets, TokenBucket
from tracker.relay import RelayLimits, RelaySession, RelayStats
from tracker.room_changes import (
    BanAdded,
    BanRemoved,
    InviteAdded,
    InviteRemoved,
    RoomCreated,
    RoomDeleted,
    RoomModeChanged,
    StoreAction,
)

__all__ = [
    "GROUP_COMMANDS",
    "Forward",
    "Outcome",
    "RoomCreated",
    "RoomDeleted",
    "RoomSeed",
    "SessionId",
    "StateLimits",
    "StoreAction",
    "TrackerState",
]

SessionId = int

#: Bytes kept free in a list reply for the envelope (status, id, flags, cursor).
_ENVELOPE_RESERVE = 512


@dataclass(frozen=True, slots=True)
class StateLimits:
    """Quotas and rates of the commands (``TrackerConfig`` fills them)."""

    rooms_per_owner: int = 5
    max_rooms: int = 10_000
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


@dataclass(frozen=True, slots=True)
class RoomSeed:
    """A room as stored, to start from."""

    name: str
    owner: str
    invite_only: bool = False
    banned: tuple[str, ...] = ()
    invited: tuple[str, ...] = ()


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
    room: str | None = None
    #: Where the session comes from (:func:`tracker.source.source_key`), and whether that
    #: is a trusted network (exempt from per-source limits).
    source: str = ""
    trusted: bool = False
    #: Another tracker of the group holds this session (:mod:`tracker.replica`); ``None``
    #: for a session of this tracker.
    tracker: str | None = None
    #: Budget and pairs of what this session relays (made by its first RELAY frame).
    relay: RelaySession | None = None

    @property
    def local(self) -> bool:
        return self.tracker is None

    def member_info(self) -> MemberInfo:
        """What a room-mate learns: how to dial this user, if they listen."""
        if self.port is None:
            return MemberInfo(self.username, None, None, self.identity_key)
        return MemberInfo(self.username, self.host, self.port, self.identity_key)

    def peer_info(self) -> PeerInfo:
        """What anyone logged in learns: the name, the key and the room, no address."""
        return PeerInfo(self.username, self.identity_key, self.room)


def _fold(name: str) -> str:
    """Usernames are unique ignoring case (ASCII only, so ``lower`` is enough)."""
    return name.lower()


@dataclass(slots=True)
class Room:
    """A room: persistent name, owner and access lists; live member list (join order).

    ``banned`` and ``invited`` map a folded username to the name as the owner gave it.
    """

    name: str
    owner: str
    members: list[str] = field(default_factory=list)
    invite_only: bool = False
    banned: dict[str, str] = field(default_factory=dict)
    invited: dict[str, str] = field(default_factory=dict)

    def member_named(self, name: str) -> str | None:
        folded = _fold(name)
        return next((m for m in self.members if _fold(m) == folded), None)


@dataclass(frozen=True, slots=True)
class Forward:
    """A relayed frame to carry: push ``message`` to ``target``, unless ``target`` does
    not read fast enough, in which case the shell drops it and carries out
    :meth:`TrackerState.relay_dropped` instead."""

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


_Handler = Callable[["TrackerState", OnlineUser, Request, float], Outcome]

#: Commands that change rooms; each takes a token from the session's bucket.
_ROOM_CHANGES = frozenset(
    {
        Command.CREATE_ROOM,
        Command.JOIN_ROOM,
        Command.LEAVE_ROOM,
        Command.DELETE_ROOM,
        Command.KICK,
        Command.BAN,
        Command.UNBAN,
        Command.INVITE,
        Command.UNINVITE,
        Command.SET_ROOM,
    }
)


#: Commands that change what a group of trackers shares (:mod:`tracker.group`).
GROUP_COMMANDS = _ROOM_CHANGES | {Command.LOGOUT}

#: Commands that open a session; :mod:`tracker.accounts` checks them first.
_ACCOUNT_COMMANDS = frozenset({Command.REGISTER, Command.LOGIN, Command.RESUME})

#: Commands that build a directory page; each takes a token from the source's bucket.
_PAGES = frozenset({Command.LIST_PEERS, Command.LIST_ROOMS, Command.ROOM_ACCESS})


def _refuse(request: Request, code: ErrorCode, msg: str) -> Outcome:
    return Outcome(reply=error(request.id, code, msg))


class TrackerState:
    """The live registry of sessions and rooms."""

    def __init__(
        self,
        room_capacity: int,
        heartbeat_interval: float,
        max_frame_size: int,
        rooms: Iterable[RoomSeed] = (),
        limits: StateLimits | None = None,
    ) -> None:
        self.room_capacity = room_capacity
        self.heartbeat_interval = heartbeat_interval
        self.limits = limits or StateLimits()
        self._list_budget = max(256, max_frame_size - _ENVELOPE_RESERVE)
        self.online: dict[str, OnlineUser] = {}
        self.sessions: dict[SessionId, OnlineUser] = {}
        self.rooms: dict[str, Room] = {}
        #: Sorted names, for cursor paging; folded names, for LOOKUP.
        self._online_names: list[str] = []
        self._room_names: list[str] = []
        self._folded: dict[str, str] = {}
        self._owned: Counter[str] = Counter()
        #: Who relays to each user (the reverse of the senders' pairs).
        self._relayed_by: dict[str, set[str]] = {}
        self.relay_stats = RelayStats()
        self._pages = KeyedTokenBuckets(
            KeyedRecords("pages_source"),
            self.limits.pages_burst_per_source,
            self.limits.pages_per_source_per_second,
        )
        for seed in rooms:
            self._add_room(
                Room(
                    seed.name,
                    seed.owner,
                    invite_only=seed.invite_only,
                    banned={_fold(n): n for n in seed.banned},
                    invited={_fold(n): n for n in seed.invited},
                )
            )

    # ----------------------------------------------------------------- indexes

    def _add_room(self, room: Room) -> None:
        self.rooms[room.name] = room
        bisect.insort(self._room_names, room.name)
        self._owned[room.owner] += 1

    def _remove_room(self, name: str) -> Room | None:
        room = self.rooms.pop(name, None)
        if room is None:
            return None
        index = bisect.bisect_left(self._room_names, name)
        del self._room_names[index]
        self._owned[room.owner] -= 1
        if self._owned[room.owner] <= 0:
            del self._owned[room.owner]
        return room

    def rooms_owned_by(self, username: str) -> int:
        return self._owned.get(username, 0)

    # ----------------------------------------------------------------- sessions

    def is_authenticated(self, session: SessionId) -> bool:
        return session in self.sessions

    def username_of(self, session: SessionId) -> str | None:
        user = self.sessions.get(session)
        return None if user is None else user.username

    def touch(self, session: SessionId, now: float) -> None:
        """Any frame from a logged-in session counts as a heartbeat."""
        user = self.sessions.get(session)
        if user is not None:
            user.last_seen = now

    def login(
        self,
        session: SessionId,
        request: Request,
        host: str,
        now: float,
        key_changed: bool = False,
        *,
        source: str = "",
        trusted: bool = False,
    ) -> Outcome:
        """Bind ``session`` to the (already authenticated) user of ``request``.

        ``source`` and ``trusted`` are where the connection comes from, for per-source
        limits (:mod:`tracker.source`).
        """
        assert request.username is not None and request.identity_key is not None
        outcome = Outcome()
        username = request.username
        if key_changed:
            outcome.push_to(
                self._key_audience(username),
                push(Event.KEY_CHANGED, username=username, identity_key=request.identity_key),
            )
        previous = self.online.get(username)
        if previous is not None:
            outcome.push_to((previous.session,), push(Event.SESSION_REPLACED))
            outcome.close.append(previous.session)
            self._end(previous, outcome)
        limits = self.limits
        user = OnlineUser(
            username,
            session,
            host,
            request.port,
            request.identity_key,
            now,
            TokenBucket(limits.changes_burst, limits.changes_per_second, now),
            source=source,
            trusted=trusted,
        )
        self._add_user(user)
        outcome.reply = ok(
            request.id,
            username=username,
            heartbeat_interval=self.heartbeat_interval,
            host=host,
            relay=self.limits.relay.enabled,
        )
        return outcome

    def _add_user(self, user: OnlineUser) -> None:
        self.online[user.username] = user
        self.sessions[user.session] = user
        bisect.insort(self._online_names, user.username)
        self._folded[_fold(user.username)] = user.username
        self._changed(user=user.username)

    def _changed(self, user: str | None = None, room: str | None = None) -> None:
        """Hook: a user's presence or room, or a room's members, changed (see
        :class:`tracker.replica.ReplicaState`)."""

    def disconnect(self, session: SessionId) -> Outcome:
        """The session is gone (closed, expired, replaced): offline at once."""
        outcome = Outcome()
        user = self.sessions.get(session)
        if user is not None:
            self._end(user, outcome)
        return outcome

    def expired(self, now: float, max_silence: float) -> list[SessionId]:
        """Sessions silent for longer than ``max_silence`` seconds."""
        limit = now - max_silence
        return [
            user.session
            for user in self.online.values()
            if user.last_seen < limit and user.tracker is None
        ]

    def _end(self, user: OnlineUser, outcome: Outcome, departure: Departure | None = None) -> None:
        self._leave_room(user, outcome, departure)
        self._changed(user=user.username)
        self._end_relays(user, outcome)
        del self.sessions[user.session]
        if self.online.get(user.username) is user:
            del self.online[user.username]
            del self._online_names[bisect.bisect_left(self._online_names, user.username)]
            del self._folded[_fold(user.username)]

    def _key_audience(self, username: str) -> list[SessionId]:
        """Who must hear that ``username`` changed keys: its room and rooms it owns."""
        names: set[str] = set()
        current = self.online.get(username)
        if current is not None and current.room is not None:
            names.update(self.rooms[current.room].members)
        for room in self.rooms.values():
            if room.owner == username:
                names.update(room.members)
        names.discard(username)
        return [self.online[name].session for name in sorted(names) if name in self.online]

    # ----------------------------------------------------------------- relay

    def relay(self, session: SessionId, frame: RelayFrame, now: float) -> Outcome:
        """A ``RELAY`` frame from ``session``: forward it, shape it, or refuse it.

        Every frame, refused or not, is charged to the sender's budget first, so a
        stream of frames to nobody costs the sender as much as real traffic. A refusal
        is a ``RELAY_END`` for that link to the sender; it never gets a reply.
        """
        user = self.sessions.get(session)
        if user is None:
            return Outcome(reply=error(None, ErrorCode.NOT_AUTHENTICATED, "log in first"))
        limits = self.limits.relay
        state = user.relay
        if state is None:
            state = user.relay = RelaySession(limits, now)
        wait = state.take(frame.size, now)
        if wait > 0:
            self.relay_stats.shaped += 1
            return Outcome(wait=wait)
        if not limits.enabled:
            return self._relay_refused(
                user, frame, RelayEndCode.RELAY_DISABLED, "this tracker does not relay"
            )
        target = self.online.get(frame.to)
        if target is None or target is user:
            return self._relay_refused(
                user, frame, RelayEndCode.USER_OFFLINE, f"{frame.to} is not online"
            )
        outcome = Outcome()
        if frame.end:
            self.relay_stats.ends += 1
            if frame.to in state.pairs or frame.to in self._relayed_by.get(user.username, ()):
                message = relay_end_push(
                    user.username, frame.link, frame.back, RelayEndCode.CLOSED, "closed"
                )
                outcome.push_to((target.session,), message)
            return outcome
        expired = state.pairs.use(frame.to, now)
        if expired is None:
            return self._relay_refused(
                user,
                frame,
                RelayEndCode.TOO_MANY_PAIRS,
                f"you relay to {limits.max_pairs} users already",
            )
        for name in expired:
            self._relayed_by.get(name, set()).discard(user.username)
        self._relayed_by.setdefault(frame.to, set()).add(user.username)
        self.relay_stats.frames += 1
        self.relay_stats.bytes += frame.size
        outcome.forward = Forward(session, target.session, frame, relay_push(user.username, frame))
        return outcome

    def _relay_refused(
        self, user: OnlineUser, frame: RelayFrame, code: RelayEndCode, msg: str
    ) -> Outcome:
        self.relay_stats.refused += 1
        outcome = Outcome()
        if not frame.end:  # an end needs no answer
            notice = relay_end_push(frame.to, frame.link, not frame.back, code, msg)
            outcome.push_to((user.session,), notice)
        return outcome

    def relay_dropped(self, forward: Forward) -> Outcome:
        """The shell dropped ``forward``: its target does not read fast enough. The
        link is broken (a channel cannot skip a frame): both ends are told."""
        self.relay_stats.dropped += 1
        outcome = Outcome()
        sender = self.sessions.get(forward.sender)
        target = self.sessions.get(forward.target)
        frame = forward.frame
        if sender is None or target is None:
            return outcome
        code = RelayEndCode.RECEIVER_SLOW
        outcome.push_to(
            (sender.session,),
            relay_end_push(
                target.username,
                frame.link,
                not frame.back,
                code,
                f"{target.username} does not read fast enough: relayed frames were dropped",
            ),
        )
        outcome.push_to(
            (target.session,),
            relay_end_push(
                sender.username,
                frame.link,
                frame.back,
                code,
                "frames relayed to you were dropped: your connection does not read fast enough",
            ),
        )
        return outcome

    def _end_relays(self, user: OnlineUser, outcome: Outcome) -> None:
        """``user``'s session ends: everyone it relayed with loses those links at once."""
        partners = self._relayed_by.pop(user.username, set())
        if user.relay is not None:
            for name in user.relay.pairs:
                partners.add(name)
                self._relayed_by.get(name, set()).discard(user.username)
        notice = relay_end_push(
            user.username, None, False, RelayEndCode.USER_OFFLINE, f"{user.username} went offline"
        )
        for name in sorted(partners):
            partner = self.online.get(name)
            if partner is None or partner is user:
                continue
            if partner.relay is not None:
                partner.relay.pairs.forget(user.username)
            if partner.local:  # another tracker tells its own (tracker.replica)
                outcome.push_to((partner.session,), notice)

    def relay_pairs(self) -> int:
        """Pairs relaying now (for the log)."""
        return sum(len(u.relay.pairs) for u in self.sessions.values() if u.relay is not None)

    # ----------------------------------------------------------------- commands

    def handle(self, session: SessionId, request: Request, now: float) -> Outcome:
        """Carry out a command of an authenticated session (others get an error)."""
        user = self.sessions.get(session)
        if user is None:
            if request.cmd in _ACCOUNT_COMMANDS:
                raise ValueError("REGISTER/LOGIN/RESUME of a new session go through accounts")
            return _refuse(request, ErrorCode.NOT_AUTHENTICATED, "log in first")
        if request.cmd in _ACCOUNT_COMMANDS:
            return _refuse(request, ErrorCode.ALREADY_AUTHENTICATED, "already logged in")
        if request.username is not None and request.username != user.username:
            return _refuse(request, ErrorCode.FORBIDDEN, "a session may only act as its own user")
        wait = 0.0
        if request.cmd in _ROOM_CHANGES:
            wait = user.room_changes.take(now)
        elif request.cmd in _PAGES and not user.trusted:
            wait = self._pages.take(user.source, now)
        if wait > 0:
            return Outcome(
                reply=error(
                    request.id,
                    ErrorCode.RATE_LIMITED,
                    f"too many {request.cmd} requests, retry in {wait:.1f} s",
                    retry_after=wait,
                )
            )
        handler = self._handlers[request.cmd]
        return handler(self, user, request, now)

    def _ping(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        return Outcome(reply=ok(request.id, time=now))

    def _logout(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        outcome = Outcome(reply=ok(request.id))
        self._end(user, outcome, Departure.LEFT)
        outcome.close.append(user.session)
        return outcome

    def _lookup(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        assert request.target is not None
        name = self._folded.get(_fold(request.target))
        if name is None:
            return _refuse(request, ErrorCode.USER_OFFLINE, f"{request.target} is not online")
        return Outcome(reply=ok(request.id, peer=self.online[name].peer_info().to_wire()))

    def _list_peers(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        online = self.online
        peers, cursor = self._page(
            self._online_names, request, lambda name: online[name].peer_info().to_wire()
        )
        page = Page(len(online), cursor)
        return Outcome(reply=ok(request.id, peers=peers, **page.to_wire()))

    def _list_rooms(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        rooms = self.rooms
        listed, cursor = self._page(
            self._room_names, request, lambda name: self.room_info(rooms[name]).to_wire()
        )
        page = Page(len(rooms), cursor)
        return Outcome(reply=ok(request.id, rooms=listed, **page.to_wire()))

    def _create_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        assert request.room is not None
        if request.room in self.rooms:
            return _refuse(request, ErrorCode.ROOM_EXISTS, "a room with that name exists")
        limits = self.limits
        if self.rooms_owned_by(user.username) >= limits.rooms_per_owner:
            return _refuse(
                request,
                ErrorCode.QUOTA_EXCEEDED,
                f"you own {limits.rooms_per_owner} rooms already (the most allowed);"
                " delete one first",
            )
        if len(self.rooms) >= limits.max_rooms:
            return _refuse(
                request, ErrorCode.QUOTA_EXCEEDED, "the tracker holds as many rooms as it may"
            )
        outcome = Outcome()
        self._leave_room(user, outcome, Departure.LEFT)
        room = Room(
            request.room, user.username, [user.username], invite_only=bool(request.invite_only)
        )
        self._add_room(room)
        user.room = room.name
        self._changed(user=user.username, room=room.name)
        outcome.store = (RoomCreated(room.name, room.owner, room.invite_only),)
        outcome.reply = ok(request.id, room=self.room_info(room).to_wire())
        self._push_update(room, outcome)
        return outcome

    def _join_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        assert request.room is not None
        room = self.rooms.get(request.room)
        if room is None:
            return _refuse(request, ErrorCode.ROOM_NOT_FOUND, "no such room")
        outcome = Outcome()
        if user.room != room.name:
            folded = _fold(user.username)
            if folded in room.banned:
                return _refuse(request, ErrorCode.BANNED, "the owner banned you from this room")
            if room.invite_only and room.owner != user.username and folded not in room.invited:
                return _refuse(request, ErrorCode.NOT_INVITED, "this room is invite-only")
            if len(room.members) >= self.room_capacity:
                return _refuse(
                    request, ErrorCode.ROOM_FULL, f"room is full ({self.room_capacity} members)"
                )
            self._leave_room(user, outcome, Departure.LEFT)
            room.members.append(user.username)
            user.room = room.name
            self._changed(user=user.username, room=room.name)
            self._push_update(room, outcome)
        outcome.reply = ok(
            request.id,
            room=self.room_info(room).to_wire(),
            members=self._members_wire(room),
        )
        return outcome

    def _leave_room(
        self, user: OnlineUser, outcome: Outcome, departure: Departure | None = None
    ) -> None:
        """Take ``user`` out of their room; ``departure`` says why if they meant it."""
        if user.room is None:
            return
        room = self.rooms.get(user.room)
        user.room = None
        self._changed(user=user.username)
        if room is None:
            return
        room.members.remove(user.username)
        self._changed(room=room.name)
        removed = None if departure is None else Removed(user.username, departure)
        self._push_update(room, outcome, removed)

    def _leave(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        if user.room is None:
            return _refuse(request, ErrorCode.NOT_IN_ROOM, "not in a room")
        name = user.room
        outcome = Outcome(reply=ok(request.id, room=name))
        self._leave_room(user, outcome, Departure.LEFT)
        return outcome

    def _delete_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, refused = self._owned_room(user, request, "delete")
        if room is None:
            return refused
        outcome = Outcome(
            reply=ok(request.id, room=room.name),
            store=(
                RoomDeleted(
                    room.name,
                    room.owner,
                    room.invite_only,
                    tuple(room.banned.values()),
                    tuple(room.invited.values()),
                ),
            ),
        )
        outcome.push_to(self._sessions_of(room.members), push(Event.ROOM_DELETED, room=room.name))
        for name in room.members:
            member = self.online.get(name)
            if member is not None:
                member.room = None
                self._changed(user=name)
        self._remove_room(room.name)
        self._changed(room=room.name)
        return outcome

    # ----------------------------------------------------------------- owner control

    def _owned_room(
        self, user: OnlineUser, request: Request, verb: str
    ) -> tuple[Room, Outcome] | tuple[None, Outcome]:
        """The request's room if ``user`` owns it, else the refusal to send."""
        assert request.room is not None
        room = self.rooms.get(request.room)
        if room is None:
            return None, _refuse(request, ErrorCode.ROOM_NOT_FOUND, "no such room")
        if room.owner != user.username:
            return None, _refuse(
                request, ErrorCode.NOT_OWNER, f"only the room's owner may {verb} it"
            )
        return room, Outcome()

    def _remove_member(
        self, room: Room, name: str, by: str, reason: KickReason, outcome: Outcome
    ) -> None:
        """Take ``name`` out of ``room``: it gets ``KICKED``, the others ``ROOM_UPDATE``."""
        member = self.online.get(name)
        if member is None or member.room != room.name:
            return
        notice = Kicked(room.name, by, reason)
        outcome.push_to((member.session,), push(Event.KICKED, **notice.to_wire()))
        self._leave_room(member, outcome, Departure(str(reason)))

    def _kick(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, outcome = self._owned_room(user, request, "kick from")
        if room is None:
            return outcome
        assert request.target is not None
        if _fold(request.target) == _fold(user.username):
            return _refuse(request, ErrorCode.FORBIDDEN, "the owner cannot kick themself")
        name = room.member_named(request.target)
        if name is None:
            return _refuse(
                request, ErrorCode.NOT_IN_ROOM, f"{request.target} is not in {room.name}"
            )
        invite = room.invited.pop(_fold(name), None)
        if invite is not None:
            outcome.store = (InviteRemoved(room.name, invite),)
        self._remove_member(room, name, user.username, KickReason.KICKED, outcome)
        outcome.reply = ok(request.id, room=room.name, user=name)
        return outcome

    def _ban(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, outcome = self._owned_room(user, request, "ban from")
        if room is None:
            return outcome
        target = request.target
        assert target is not None
        folded = _fold(target)
        if folded == _fold(user.username):
            return _refuse(request, ErrorCode.FORBIDDEN, "the owner cannot ban themself")
        if folded not in room.banned:
            if len(room.banned) >= self.limits.max_bans:
                return _refuse(
                    request,
                    ErrorCode.QUOTA_EXCEEDED,
                    f"{room.name} has {self.limits.max_bans} bans already; unban someone first",
                )
            room.banned[folded] = target
            changes: list[StoreAction] = [BanAdded(room.name, target)]
            invite = room.invited.pop(folded, None)
            if invite is not None:
                changes.append(InviteRemoved(room.name, invite))
            outcome.store = tuple(changes)
        name = room.member_named(target)
        if name is not None:
            self._remove_member(room, name, user.username, KickReason.BANNED, outcome)
        outcome.reply = ok(request.id, room=room.name, user=target)
        return outcome

    def _unban(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, outcome = self._owned_room(user, request, "unban from")
        if room is None:
            return outcome
        assert request.target is not None
        removed = room.banned.pop(_fold(request.target), None)
        if removed is not None:
            outcome.store = (BanRemoved(room.name, removed),)
        outcome.reply = ok(request.id, room=room.name, user=request.target)
        return outcome

    def _invite(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, outcome = self._owned_room(user, request, "invite to")
        if room is None:
            return outcome
        target = request.target
        assert target is not None
        folded = _fold(target)
        if folded == _fold(user.username):
            return _refuse(request, ErrorCode.FORBIDDEN, "the owner needs no invite")
        if folded in room.banned:
            return _refuse(request, ErrorCode.BANNED, f"{target} is banned here; unban first")
        if folded not in room.invited:
            if len(room.invited) >= self.limits.max_invites:
                return _refuse(
                    request,
                    ErrorCode.QUOTA_EXCEEDED,
                    f"{room.name} has {self.limits.max_invites} invites already",
                )
            room.invited[folded] = target
            outcome.store = (InviteAdded(room.name, target),)
            invitee = self.online.get(self._folded.get(folded, ""))
            if invitee is not None:
                notice = Invited(room.name, user.username)
                outcome.push_to((invitee.session,), push(Event.INVITED, **notice.to_wire()))
        outcome.reply = ok(request.id, room=room.name, user=target)
        return outcome

    def _uninvite(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, outcome = self._owned_room(user, request, "uninvite from")
        if room is None:
            return outcome
        assert request.target is not None
        removed = room.invited.pop(_fold(request.target), None)
        if removed is not None:
            outcome.store = (InviteRemoved(room.name, removed),)
        outcome.reply = ok(request.id, room=room.name, user=request.target)
        return outcome

    def _set_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, outcome = self._owned_room(user, request, "change")
        if room is None:
            return outcome
        invite_only = bool(request.invite_only)
        if invite_only != room.invite_only:
            changes: list[StoreAction] = [RoomModeChanged(room.name, invite_only)]
            if invite_only:
                # Whoever is in the room when it closes may come back.
                for name in room.members:
                    folded = _fold(name)
                    if name != room.owner and folded not in room.invited:
                        room.invited[folded] = name
                        changes.append(InviteAdded(room.name, name))
            room.invite_only = invite_only
            outcome.store = tuple(changes)
            self._push_update(room, outcome)
        outcome.reply = ok(request.id, room=self.room_info(room).to_wire())
        return outcome

    def _room_access(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, outcome = self._owned_room(user, request, "see the access lists of")
        if room is None:
            return outcome
        access = RoomAccess(
            room.name,
            room.invite_only,
            tuple(sorted(room.invited.values())),
            tuple(sorted(room.banned.values())),
        )
        outcome.reply = ok(request.id, **access.to_wire())
        return outcome

    # ----------------------------------------------------------------- undo

    def drop_room(self, name: str) -> Outcome:
        """Undo a creation the store could not persist; members get ``ROOM_DELETED``."""
        outcome = Outcome()
        room = self._remove_room(name)
        if room is not None:
            outcome.push_to(self._sessions_of(room.members), push(Event.ROOM_DELETED, room=name))
            for member_name in room.members:
                member = self.online.get(member_name)
                if member is not None:
                    member.room = None
                    self._changed(user=member_name)
            self._changed(room=name)
        return outcome

    def revert(self, actions: Sequence[StoreAction]) -> Outcome:
        """Undo in memory the durable facts a failed write did not store.

        Membership changes stand (they were real and are announced); only what the
        database would have held goes back to how the database has it.
        """
        outcome = Outcome()
        for action in reversed(actions):
            if isinstance(action, RoomCreated):
                dropped = self.drop_room(action.name)
                outcome.pushes.extend(dropped.pushes)
                continue
            if isinstance(action, RoomDeleted):
                if action.name not in self.rooms:
                    self._add_room(
                        Room(
                            action.name,
                            action.owner,
                            invite_only=action.invite_only,
                            banned={_fold(n): n for n in action.banned},
                            invited={_fold(n): n for n in action.invited},
                        )
                    )
                continue
            room = self.rooms.get(action.room)
            if room is None:
                continue
            if isinstance(action, RoomModeChanged):
                room.invite_only = not action.invite_only
            elif isinstance(action, BanAdded):
                room.banned.pop(_fold(action.username), None)
            elif isinstance(action, BanRemoved):
                room.banned[_fold(action.username)] = action.username
            elif isinstance(action, InviteAdded):
                room.invited.pop(_fold(action.username), None)
            elif isinstance(action, InviteRemoved):
                room.invited[_fold(action.username)] = action.username
        return outcome

    _handlers: ClassVar[dict[Command, _Handler]] = {
        Command.PING: _ping,
        Command.LOGOUT: _logout,
        Command.LOOKUP: _lookup,
        Command.LIST_PEERS: _list_peers,
        Command.LIST_ROOMS: _list_rooms,
        Command.CREATE_ROOM: _create_room,
        Command.JOIN_ROOM: _join_room,
        Command.LEAVE_ROOM: _leave,
        Command.DELETE_ROOM: _delete_room,
        Command.KICK: _kick,
        Command.BAN: _ban,
        Command.UNBAN: _unban,
        Command.INVITE: _invite,
        Command.UNINVITE: _uninvite,
        Command.SET_ROOM: _set_room,
        Command.ROOM_ACCESS: _room_access,
    }

    # ----------------------------------------------------------------- views

    def room_info(self, room: Room) -> RoomInfo:
        return RoomInfo(
            room.name, room.owner, tuple(room.members), self.room_capacity, room.invite_only
        )

    def _members_wire(self, room: Room) -> list[JsonObject]:
        return [self.online[name].member_info().to_wire() for name in room.members]

    def _sessions_of(self, names: Iterable[str]) -> list[SessionId]:
        return [self.online[name].session for name in names if name in self.online]

    def _push_update(self, room: Room, outcome: Outcome, removed: Removed | None = None) -> None:
        message = push(
            Event.ROOM_UPDATE,
            room=room.name,
            owner=room.owner,
            capacity=self.room_capacity,
            invite_only=room.invite_only,
            members=self._members_wire(room),
        )
        if removed is not None:
            message["removed"] = removed.to_wire()
        outcome.push_to(self._sessions_of(room.members), message)

    def _page(
        self, names: list[str], request: Request, render: Callable[[str], JsonObject]
    ) -> tuple[list[JsonObject], str | None]:
        """One page of ``names`` after ``request.cursor``: the items and the next cursor.

        A page holds at most ``limit`` items (default and maximum
        :data:`~commons.tracker_protocol.MAX_PAGE_LIMIT`) and never more than fit in one
        frame; the cursor is the last name returned.
        """
        start = 0 if request.cursor is None else bisect.bisect_right(names, request.cursor)
        limit = request.limit or MAX_PAGE_LIMIT
        taken: list[JsonObject] = []
        used = 0
        for name in names[start : start + limit]:
            item = render(name)
            used += len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()) + 1
            if used > self._list_budget:
                break
            taken.append(item)
        more = start + len(taken) < len(names)
        cursor = names[start + len(taken) - 1] if more and taken else None
        return taken, cursor
