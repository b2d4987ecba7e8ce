"""Who is online and who is in which room: the tracker's protocol core. Sans-I/O.

:class:`TrackerState` takes validated :class:`~commons.tracker_protocol.Request` objects
for a session and returns an :class:`Outcome`: the reply for that session, the pushes
to deliver to other sessions, the sessions to close, and the room facts to persist. It
never touches a socket, a clock or a disk, so every rule is unit-testable. It is wired
from parts with one job each, over one registry:

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
* this module: sessions (login, presence, the end of a session) and the dispatch of
  commands, with the rate limits charged before any rule runs.

The rules, whichever part holds them:

* after login every command acts as the session's user; naming anyone else is
  ``forbidden``;
* one live session per user: a new login replaces the old one, which gets
  ``SESSION_REPLACED`` and is closed;
* a user is in at most one room; joining or creating another leaves the first;
* every membership change pushes ``ROOM_UPDATE`` (full member list) to every member;
  deleting a room pushes ``ROOM_DELETED`` to its members;
* a session that ends (logout, close, heartbeat expiry) leaves its room at once, and
  ends the relayed links it had;
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
  differently.

Accounts (passwords, keys on disk) are not here: :mod:`tracker.accounts.accounts` checks them
before :meth:`TrackerState.login` is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from commons.errors import ErrorCode
from commons.room_control import Departure
from commons.tracker_protocol import Command, Event, Request, error, ok, push
from tracker.limits.rate_limit import TokenBucket
from tracker.state.directory import DirectoryRules
from tracker.state.owner import OwnerControlRules
from tracker.state.registry import (
    Forward,
    OnlineUser,
    Outcome,
    Room,
    RoomSeed,
    SessionId,
    StateLimits,
    _refuse,
)
from tracker.state.relay import RelayRules
from tracker.state.room_changes import RoomCreated, RoomDeleted, StoreAction
from tracker.state.rooms import RoomRules

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


#: Commands that change what a group of trackers shares (:mod:`tracker.group.coordinator`).
GROUP_COMMANDS = _ROOM_CHANGES | {Command.LOGOUT}

#: Commands that open a session; :mod:`tracker.accounts.accounts` checks them first.
_ACCOUNT_COMMANDS = frozenset({Command.REGISTER, Command.LOGIN, Command.RESUME})

#: Commands that build a directory page; each takes a token from the source's bucket.
_PAGES = frozenset({Command.LIST_PEERS, Command.LIST_ROOMS, Command.ROOM_ACCESS})


class TrackerState(RoomRules, OwnerControlRules, DirectoryRules, RelayRules):
    """The live registry of sessions and rooms, and every rule on it."""

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
        limits (:mod:`tracker.limits.source`).
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
        self._remove_user(user)

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

    _handlers: ClassVar[dict[Command, _Handler]] = {
        Command.PING: _ping,
        Command.LOGOUT: _logout,
        Command.LOOKUP: DirectoryRules._lookup,
        Command.LIST_PEERS: DirectoryRules._list_peers,
        Command.LIST_ROOMS: DirectoryRules._list_rooms,
        Command.CREATE_ROOM: RoomRules._create_room,
        Command.JOIN_ROOM: RoomRules._join_room,
        Command.LEAVE_ROOM: RoomRules._leave,
        Command.DELETE_ROOM: RoomRules._delete_room,
        Command.KICK: OwnerControlRules._kick,
        Command.BAN: OwnerControlRules._ban,
        Command.UNBAN: OwnerControlRules._unban,
        Command.INVITE: OwnerControlRules._invite,
        Command.UNINVITE: OwnerControlRules._uninvite,
        Command.SET_ROOM: OwnerControlRules._set_room,
        Command.ROOM_ACCESS: OwnerControlRules._room_access,
    }
