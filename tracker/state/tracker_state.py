"""Who is online and who is in which room: the tracker's protocol core. Sans-I/O.

:class:`TrackerState` takes validated :class:`~commons.tracker_protocol.Request` objects
for a session and returns an :class:`Outcome`: the reply for that session, the pushes
to deliver to other sessions, the sessions to close, and the room facts to persist. It
never touches a socket, a clock or a disk, so every rule is unit-testable. It *has* one
:class:`~tracker.state.registry.Registry`, and the rules are functions of it, one module per
command family, reached through a table from :class:`~commons.tracker_protocol.Command` to
function (like h11's reader and writer tables):

* :mod:`tracker.state.registry`: the records (:class:`OnlineUser`, :class:`Room`,
  :class:`Outcome`, :class:`Forward`, :class:`StateLimits`), the registry and its
  indexes, the steps several rules share (leaving a room, ``ROOM_UPDATE``);
* :mod:`tracker.state.directory`: ``LOOKUP``, ``LIST_PEERS``, ``LIST_ROOMS``;
* :mod:`tracker.state.rooms`: creating, joining, leaving, deleting rooms, and undoing
  what the store could not keep;
* :mod:`tracker.state.owner`: ``KICK``, ``BAN``, ``UNBAN``, ``INVITE``,
  ``UNINVITE``, ``SET_ROOM``, ``ROOM_ACCESS``;
* :mod:`tracker.state.relay`: ``RELAY`` frames (budgets and pairs in
  :mod:`tracker.state.relay_budget`);
* :mod:`tracker.state.room_upkeep`: abandoned rooms expire, the operator's removals;
* :mod:`tracker.state.presence`: ``PRESENCE`` pushes and the LOGIN reply's ``rooms``;
* this module: sessions (login, presence, the end of a session) and the dispatch of
  commands, with the rate limits charged before any rule runs.

The rules, whichever part holds them:

* after login every command acts as the session's user; naming anyone else is
  ``forbidden``;
* one live session per user: a new login replaces the old one, which gets
  ``SESSION_REPLACED`` and is closed;
* membership is durable and a user may be in several rooms (:mod:`tracker.state.rooms`);
  every membership change pushes ``ROOM_UPDATE`` (full member list) to every online
  member; deleting a room pushes ``ROOM_DELETED`` to its online members;
* a session that starts (LOGIN, RESUME) or ends (logout, close, heartbeat expiry,
  replacement) leaves every membership as it is: each online room-mate gets one
  ``PRESENCE`` (:mod:`tracker.state.presence`); the session's relayed links end; the
  LOGIN/RESUME reply carries the user's ``rooms``; a replaced session is not announced
  offline (the new one is announced online, with its address);
* ``LOOKUP`` finds one online user; ``LIST_PEERS``/``LIST_ROOMS`` page through names in
  code-point order with a cursor (the last name of the previous page), so no client
  needs to see everyone at once and no number of fake accounts hides a name;
* rooms have quotas (per owner and in total) and owner control: ``KICK``, ``BAN``,
  ``UNBAN``, ``INVITE``, ``UNINVITE`` and invite-only rooms (``SET_ROOM``); the user
  removed gets ``KICKED``, the user invited gets ``INVITED``;
* room commands are rate-limited per session (a token bucket), so join/leave cycles
  cannot flood the members with pushes; directory pages per source, so sessions cannot
  make the tracker spend its time building them;
* a user's address (``host``/``port``) goes only to the members of the rooms the user is
  in (``ROOM_UPDATE``, ``PRESENCE``, the ``JOIN_ROOM`` and LOGIN replies), never into a
  directory listing (``LIST_PEERS``, ``LOOKUP``: name and key, ``room`` null); a user
  who announces no port has no address at all;
* ``RELAY`` frames are forwarded to the session named, as an outcome
  (:class:`Forward`) the shell carries out: the decision "this frame goes to session X"
  is taken here, so another shell (or trackers sharing one database) can carry it
  differently.

Accounts (passwords, keys on disk) are not here: :mod:`tracker.accounts.accounts` checks them
before :meth:`TrackerState.login` is called.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from commons.errors import ErrorCode
from commons.relay_frames import RelayFrame
from commons.tracker_protocol import Command, Event, Request, error, ok, push
from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import TokenBucket
from tracker.state.directory import list_peers, list_rooms, lookup
from tracker.state.owner import ban, invite, kick, room_access, set_room, unban, uninvite
from tracker.state.presence import announce, login_rooms
from tracker.state.registry import (
    Forward,
    OnlineUser,
    Outcome,
    Registry,
    Room,
    RoomSeed,
    SessionId,
    StateLimits,
    end_relays,
    refuse,
)
from tracker.state.relay import count_relay_pairs, forward_dropped, relay_frame
from tracker.state.relay_budget import RelayStats
from tracker.state.room_changes import RoomCreated, RoomDeleted, StoreAction
from tracker.state.room_upkeep import upkeep
from tracker.state.rooms import (
    create_room,
    delete_room,
    drop_room,
    join_room,
    leave,
    revert_actions,
)

__all__ = [
    "GROUP_COMMANDS",
    "Forward",
    "OnlineUser",
    "Outcome",
    "Room",
    "RoomCreated",
    "RoomDeleted",
    "RoomSeed",
    "SessionId",
    "StateLimits",
    "StoreAction",
    "TrackerState",
]

#: A command's rule: what ``user`` asked in ``request`` at ``now``, done to the registry.
_Handler = Callable[[Registry, OnlineUser, Request, float], Outcome]

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


#: Commands that change what a group of trackers shares (:mod:`tracker.group.coordinator`).
GROUP_COMMANDS = _ROOM_CHANGES | {Command.LOGOUT}

#: Commands that open a session; :mod:`tracker.accounts.accounts` checks them first.
_ACCOUNT_COMMANDS = frozenset({Command.REGISTER, Command.LOGIN, Command.RESUME})

#: Commands that build a directory page; each takes a token from the source's bucket.
_PAGES = frozenset({Command.LIST_PEERS, Command.LIST_ROOMS, Command.ROOM_ACCESS})


def _ping(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    return Outcome(reply=ok(request.id, time=now))


def _logout(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    outcome = Outcome(reply=ok(request.id))
    _end(state, user, outcome)
    outcome.close.append(user.session)
    return outcome


def _end(state: Registry, user: OnlineUser, outcome: Outcome, announced: bool = True) -> None:
    """``user``'s session ends: offline (its memberships stay), relays ended; its
    room-mates get ``PRESENCE`` unless ``announced`` is false (a replacement, which the
    new session's ``PRESENCE`` tells)."""
    state.changed(user=user.username)
    end_relays(state, user, outcome)
    state.remove_user(user)
    if announced:
        announce(state, user.username, outcome)


def _key_audience(state: Registry, username: str) -> list[SessionId]:
    """Who must hear that ``username`` changed keys: the online members of every room
    it is in or owns."""
    names: set[str] = set()
    for name in state.rooms_of(username):
        names.update(state.rooms[name].members)
    for room in state.rooms.values():
        if room.owner == username:
            names.update(room.members)
    names.discard(username)
    return [state.online[name].session for name in sorted(names) if name in state.online]


class TrackerState:
    """The live registry of sessions and rooms, and every rule on it: the shell's API.

    :class:`tracker.group.replica.ReplicaState` is the one declared extension point. It
    overrides :meth:`TrackerState._changed`, which the registry calls on every change (it is passed
    as the registry's ``on_change``). ``_handlers`` is a class attribute, so a subclass
    could substitute one command's function without touching the others.
    """

    def __init__(
        self,
        room_capacity: int,
        heartbeat_interval: float,
        max_frame_size: int,
        rooms: Iterable[RoomSeed] = (),
        limits: StateLimits | None = None,
    ) -> None:
        self.registry = Registry(
            room_capacity,
            heartbeat_interval,
            max_frame_size,
            rooms,
            limits,
            on_change=self._changed,
        )

    def _changed(self, user: str | None = None, room: str | None = None) -> None:
        """Hook: a user's presence or room, or a room's members, changed (see
        :class:`tracker.group.replica.ReplicaState`)."""

    # ----------------------------------------------------------------- the registry's views

    @property
    def online(self) -> dict[str, OnlineUser]:
        return self.registry.online

    @property
    def sessions(self) -> dict[SessionId, OnlineUser]:
        return self.registry.sessions

    @property
    def rooms(self) -> dict[str, Room]:
        return self.registry.rooms

    @property
    def limits(self) -> StateLimits:
        return self.registry.limits

    @property
    def relay_stats(self) -> RelayStats:
        return self.registry.relay_stats

    @property
    def relay_tables(self) -> tuple[KeyedRecords, ...]:
        """The relay's per-user and per-source budget tables, which the trackers of a group
        share (:class:`~tracker.state.relay_budget.RelayBudgets`)."""
        return self.registry.relay_budgets.tables

    def rooms_owned_by(self, username: str) -> int:
        return self.registry.rooms_owned_by(username)

    # ----------------------------------------------------------------- sessions

    def is_authenticated(self, session: SessionId) -> bool:
        return session in self.registry.sessions

    def username_of(self, session: SessionId) -> str | None:
        user = self.registry.sessions.get(session)
        return None if user is None else user.username

    def touch(self, session: SessionId, now: float) -> None:
        """Any frame from a logged-in session counts as a heartbeat."""
        user = self.registry.sessions.get(session)
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
        account_created: float | None = None,
    ) -> Outcome:
        """Bind ``session`` to the (already authenticated) user of ``request``.

        ``source`` and ``trusted`` are where the connection comes from, for per-source
        limits (:mod:`tracker.limits.source`); ``account_created`` is when the account
        was made (``None``: unknown, a newcomer's), for the rooms' newcomer share.
        """
        assert request.username is not None and request.identity_key is not None
        state = self.registry
        outcome = Outcome()
        username = request.username
        if key_changed:
            outcome.push_to(
                _key_audience(state, username),
                push(Event.KEY_CHANGED, username=username, identity_key=request.identity_key),
            )
        previous = state.online.get(username)
        if previous is not None:
            outcome.push_to((previous.session,), push(Event.SESSION_REPLACED))
            outcome.close.append(previous.session)
            _end(state, previous, outcome, announced=False)
        limits = state.limits
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
            account_created=account_created,
        )
        state.add_user(user)
        announce(state, username, outcome)
        outcome.reply = ok(
            request.id,
            username=username,
            heartbeat_interval=state.heartbeat_interval,
            host=host,
            relay=state.limits.relay.enabled,
            rooms=login_rooms(state, username),
        )
        return outcome

    def disconnect(self, session: SessionId) -> Outcome:
        """The session is gone (closed, expired, replaced): offline at once."""
        outcome = Outcome()
        user = self.registry.sessions.get(session)
        if user is not None:
            _end(self.registry, user, outcome)
        return outcome

    def expired(self, now: float, max_silence: float) -> list[SessionId]:
        """Sessions silent for longer than ``max_silence`` seconds."""
        limit = now - max_silence
        return [
            user.session
            for user in self.registry.online.values()
            if user.last_seen < limit and user.tracker is None
        ]

    # ----------------------------------------------------------------- commands

    def handle(self, session: SessionId, request: Request, now: float) -> Outcome:
        """Carry out a command of an authenticated session (others get an error)."""
        user = self.registry.sessions.get(session)
        if user is None:
            if request.cmd in _ACCOUNT_COMMANDS:
                raise ValueError("REGISTER/LOGIN/RESUME of a new session go through accounts")
            return refuse(request, ErrorCode.NOT_AUTHENTICATED, "log in first")
        if request.cmd in _ACCOUNT_COMMANDS:
            return refuse(request, ErrorCode.ALREADY_AUTHENTICATED, "already logged in")
        if request.username is not None and request.username != user.username:
            return refuse(request, ErrorCode.FORBIDDEN, "a session may only act as its own user")
        wait = 0.0
        if request.cmd in _ROOM_CHANGES:
            wait = user.room_changes.take(now)
        elif request.cmd in _PAGES and not user.trusted:
            wait = self.registry.pages.take(user.source, now)
        if wait > 0:
            return Outcome(
                reply=error(
                    request.id,
                    ErrorCode.RATE_LIMITED,
                    f"too many {request.cmd} requests, retry in {wait:.1f} s",
                    retry_after=wait,
                )
            )
        handler = self._handlers.get(request.cmd)
        if handler is None:  # SALT and the mailbox's commands: the server answers them
            raise ValueError(f"{request.cmd} is not a command of the state")
        return handler(self.registry, user, request, now)

    _handlers: ClassVar[dict[Command, _Handler]] = {
        Command.PING: _ping,
        Command.LOGOUT: _logout,
        Command.LOOKUP: lookup,
        Command.LIST_PEERS: list_peers,
        Command.LIST_ROOMS: list_rooms,
        Command.CREATE_ROOM: create_room,
        Command.JOIN_ROOM: join_room,
        Command.LEAVE_ROOM: leave,
        Command.DELETE_ROOM: delete_room,
        Command.KICK: kick,
        Command.BAN: ban,
        Command.UNBAN: unban,
        Command.INVITE: invite,
        Command.UNINVITE: uninvite,
        Command.SET_ROOM: set_room,
        Command.ROOM_ACCESS: room_access,
    }

    # ----------------------------------------------------------------- relay

    def relay(self, session: SessionId, frame: RelayFrame, now: float) -> Outcome:
        """A ``RELAY`` frame from ``session``: forward it, shape it, or refuse it
        (:func:`tracker.state.relay.relay_frame`)."""
        return relay_frame(self.registry, session, frame, now)

    def relay_dropped(self, forward: Forward) -> Outcome:
        """The shell dropped ``forward`` (its target reads too slowly): both ends are
        told the link broke (:func:`tracker.state.relay.forward_dropped`)."""
        return forward_dropped(self.registry, forward)

    def relay_pairs(self) -> int:
        """Pairs relaying now (for the log)."""
        return count_relay_pairs(self.registry)

    # ----------------------------------------------------------------- upkeep

    def upkeep_rooms(self, now: float, removals: Iterable[str] = ()) -> Outcome:
        """Stamp rooms in use, expire abandoned ones, delete the operator's
        ``removals`` (:func:`tracker.state.room_upkeep.upkeep`)."""
        return upkeep(self.registry, now, removals)

    # ----------------------------------------------------------------- undo

    def drop_room(self, name: str) -> Outcome:
        """Undo a creation the store could not persist (:func:`tracker.state.rooms.drop_room`)."""
        return drop_room(self.registry, name)

    def revert(self, actions: Sequence[StoreAction]) -> Outcome:
        """Undo in memory the durable facts a failed write did not store; membership
        changes stand (:func:`tracker.state.rooms.revert_actions`)."""
        return revert_actions(self.registry, actions)
