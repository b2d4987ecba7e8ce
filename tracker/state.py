"""Who is online and who is in which room: the tracker's protocol core. Sans-I/O.

:class:`TrackerState` takes validated :class:`~commons.tracker_protocol.Request` objects
for a session and returns an :class:`Outcome`: the reply for that session, the pushes
to deliver to other sessions, the sessions to close, and the room rows to persist. It
never touches a socket, a clock or a disk, so every rule below is unit-testable:

* after login every command acts as the session's user; naming anyone else is
  ``forbidden``;
* one live session per user: a new login replaces the old one, which gets
  ``SESSION_REPLACED`` and is closed;
* a user is in at most one room; joining or creating another leaves the first;
* every membership change pushes ``ROOM_UPDATE`` (full member list) to every member;
  deleting a room pushes ``ROOM_DELETED`` to its members;
* a session that ends (logout, close, heartbeat expiry) leaves its room at once.

Accounts (passwords, keys on disk) are not here: :mod:`tracker.accounts` checks them
before :meth:`TrackerState.login` is called.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from commons.codec import JsonObject
from commons.errors import ErrorCode
from commons.models import MemberInfo, PeerInfo, RoomInfo
from commons.tracker_protocol import Command, Event, Request, error, ok, push

SessionId = int

#: Bytes kept free in a list reply for the envelope (status, id, flags).
_ENVELOPE_RESERVE = 512


@dataclass(slots=True)
class OnlineUser:
    """A logged-in session's public facts."""

    username: str
    session: SessionId
    host: str
    port: int
    identity_key: str
    last_seen: float
    room: str | None = None

    def member_info(self) -> MemberInfo:
        return MemberInfo(self.username, self.host, self.port, self.identity_key)

    def peer_info(self) -> PeerInfo:
        return PeerInfo(
            self.username, self.host, self.port, self.identity_key, self.room, self.last_seen
        )


@dataclass(slots=True)
class Room:
    """A room: persistent name and owner, live member list (join order)."""

    name: str
    owner: str
    members: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RoomCreated:
    name: str
    owner: str


@dataclass(frozen=True, slots=True)
class RoomDeleted:
    name: str


StoreAction = RoomCreated | RoomDeleted


@dataclass(slots=True)
class Outcome:
    """What the shell must do: persist, reply, push, close — in that order."""

    reply: JsonObject | None = None
    pushes: list[tuple[tuple[SessionId, ...], JsonObject]] = field(default_factory=list)
    close: list[SessionId] = field(default_factory=list)
    store: StoreAction | None = None

    def push_to(self, sessions: Iterable[SessionId], message: JsonObject) -> None:
        targets = tuple(sessions)
        if targets:
            self.pushes.append((targets, message))


_Handler = Callable[["TrackerState", OnlineUser, Request, float], Outcome]


class TrackerState:
    """The live registry of sessions and rooms."""

    def __init__(
        self,
        room_capacity: int,
        heartbeat_interval: float,
        max_frame_size: int,
        rooms: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.room_capacity = room_capacity
        self.heartbeat_interval = heartbeat_interval
        self._list_budget = max(256, max_frame_size - _ENVELOPE_RESERVE)
        self.online: dict[str, OnlineUser] = {}
        self.sessions: dict[SessionId, OnlineUser] = {}
        self.rooms: dict[str, Room] = {name: Room(name, owner) for name, owner in rooms}

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
    ) -> Outcome:
        """Bind ``session`` to the (already authenticated) user of ``request``."""
        assert request.username is not None and request.port is not None
        assert request.identity_key is not None
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
        user = OnlineUser(username, session, host, request.port, request.identity_key, now)
        self.online[username] = user
        self.sessions[session] = user
        outcome.reply = ok(
            request.id,
            username=username,
            heartbeat_interval=self.heartbeat_interval,
            host=host,
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
        return [user.session for user in self.online.values() if user.last_seen < limit]

    def _end(self, user: OnlineUser, outcome: Outcome) -> None:
        self._leave_room(user, outcome)
        del self.sessions[user.session]
        if self.online.get(user.username) is user:
            del self.online[user.username]

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
            if request.cmd in (Command.REGISTER, Command.LOGIN):
                raise ValueError("REGISTER/LOGIN of a new session go through accounts first")
            return Outcome(reply=error(request.id, ErrorCode.NOT_AUTHENTICATED, "log in first"))
        if request.cmd in (Command.REGISTER, Command.LOGIN):
            return Outcome(
                reply=error(request.id, ErrorCode.ALREADY_AUTHENTICATED, "already logged in")
            )
        if request.username is not None and request.username != user.username:
            return Outcome(
                reply=error(
                    request.id, ErrorCode.FORBIDDEN, "a session may only act as its own user"
                )
            )
        handler = self._handlers[request.cmd]
        return handler(self, user, request, now)

    def _ping(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        return Outcome(reply=ok(request.id, time=now))

    def _logout(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        outcome = Outcome(reply=ok(request.id))
        self._end(user, outcome)
        outcome.close.append(user.session)
        return outcome

    def _list_peers(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        peers, truncated = self._fit(u.peer_info().to_wire() for u in self.online.values())
        return Outcome(
            reply=ok(request.id, peers=peers, total=len(self.online), truncated=truncated)
        )

    def _list_rooms(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        rooms, truncated = self._fit(self.room_info(r).to_wire() for r in self.rooms.values())
        return Outcome(
            reply=ok(request.id, rooms=rooms, total=len(self.rooms), truncated=truncated)
        )

    def _create_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        assert request.room is not None
        if request.room in self.rooms:
            return Outcome(
                reply=error(request.id, ErrorCode.ROOM_EXISTS, "a room with that name exists")
            )
        outcome = Outcome()
        self._leave_room(user, outcome)
        room = Room(request.room, user.username, [user.username])
        self.rooms[room.name] = room
        user.room = room.name
        outcome.store = RoomCreated(room.name, room.owner)
        outcome.reply = ok(request.id, room=self.room_info(room).to_wire())
        self._push_update(room, outcome)
        return outcome

    def _join_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        assert request.room is not None
        room = self.rooms.get(request.room)
        if room is None:
            return Outcome(reply=error(request.id, ErrorCode.ROOM_NOT_FOUND, "no such room"))
        outcome = Outcome()
        if user.room != room.name:
            if len(room.members) >= self.room_capacity:
                return Outcome(
                    reply=error(
                        request.id,
                        ErrorCode.ROOM_FULL,
                        f"room is full ({self.room_capacity} members)",
                    )
                )
            self._leave_room(user, outcome)
            room.members.append(user.username)
            user.room = room.name
            self._push_update(room, outcome)
        outcome.reply = ok(
            request.id,
            room=self.room_info(room).to_wire(),
            members=self._members_wire(room),
        )
        return outcome

    def _leave_room(self, user: OnlineUser, outcome: Outcome) -> None:
        if user.room is None:
            return
        room = self.rooms.get(user.room)
        user.room = None
        if room is None:
            return
        room.members.remove(user.username)
        self._push_update(room, outcome)

    def _leave(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        if user.room is None:
            return Outcome(reply=error(request.id, ErrorCode.NOT_IN_ROOM, "not in a room"))
        name = user.room
        outcome = Outcome(reply=ok(request.id, room=name))
        self._leave_room(user, outcome)
        return outcome

    def _delete_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        assert request.room is not None
        room = self.rooms.get(request.room)
        if room is None:
            return Outcome(reply=error(request.id, ErrorCode.ROOM_NOT_FOUND, "no such room"))
        if room.owner != user.username:
            return Outcome(
                reply=error(request.id, ErrorCode.NOT_OWNER, "only the owner may delete a room")
            )
        outcome = Outcome(reply=ok(request.id, room=room.name), store=RoomDeleted(room.name))
        outcome.push_to(self._sessions_of(room.members), push(Event.ROOM_DELETED, room=room.name))
        for name in room.members:
            member = self.online.get(name)
            if member is not None:
                member.room = None
        del self.rooms[room.name]
        return outcome

    def drop_room(self, name: str) -> Outcome:
        """Undo a creation the store could not persist; members get ``ROOM_DELETED``."""
        outcome = Outcome()
        room = self.rooms.pop(name, None)
        if room is not None:
            outcome.push_to(self._sessions_of(room.members), push(Event.ROOM_DELETED, room=name))
            for member_name in room.members:
                member = self.online.get(member_name)
                if member is not None:
                    member.room = None
        return outcome

    _handlers: ClassVar[dict[Command, _Handler]] = {
        Command.PING: _ping,
        Command.LOGOUT: _logout,
        Command.LIST_PEERS: _list_peers,
        Command.LIST_ROOMS: _list_rooms,
        Command.CREATE_ROOM: _create_room,
        Command.JOIN_ROOM: _join_room,
        Command.LEAVE_ROOM: _leave,
        Command.DELETE_ROOM: _delete_room,
    }

    # ----------------------------------------------------------------- views

    def room_info(self, room: Room) -> RoomInfo:
        return RoomInfo(room.name, room.owner, tuple(room.members), self.room_capacity)

    def _members_wire(self, room: Room) -> list[JsonObject]:
        return [self.online[name].member_info().to_wire() for name in room.members]

    def _sessions_of(self, names: Iterable[str]) -> list[SessionId]:
        return [self.online[name].session for name in names if name in self.online]

    def _push_update(self, room: Room, outcome: Outcome) -> None:
        message = push(
            Event.ROOM_UPDATE,
            room=room.name,
            owner=room.owner,
            capacity=self.room_capacity,
            members=self._members_wire(room),
        )
        outcome.push_to(self._sessions_of(room.members), message)

    def _fit(self, items: Iterable[JsonObject]) -> tuple[list[JsonObject], bool]:
        """Take items while their JSON still fits in one frame; say if some were left out."""
        taken: list[JsonObject] = []
        used = 0
        for item in items:
            used += len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()) + 1
            if used > self._list_budget:
                return taken, True
            taken.append(item)
        return taken, False
