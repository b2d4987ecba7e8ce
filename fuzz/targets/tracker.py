"""Target ``tracker``: request decoding and the tracker's state machine, with invariants.

Up to six connections each get a :class:`tracker.server.request_decoder.RequestDecoder`; the
input is a script of steps, each for one connection: a request built from fuzzed
choices (every command, ids, names, target users, hosts, ports, invite codes, page
cursors and limits, room modes; strings may hold anything, lone surrogates included)
sent as JSON with ``\\u`` escapes, a raw frame, raw stream bytes, or a disconnect.
Decoded requests go to :class:`tracker.state.tracker_state.TrackerState` as the server would send
them. Accounts are not the state machine's job, so the model keeps only their one rule
the state relies on: a name is unique ignoring case, its spelling fixed by the first
``REGISTER`` or ``LOGIN`` (a later ``REGISTER`` gets ``user_exists``, a ``LOGIN`` with
another spelling ``auth_failed``); passwords are not checked. After every step:

* every reply and push encodes within the frame limit (the lone-surrogate and the
  33 KB-host failures broke this);
* every reply to a request carries that request's id, and is the only reply;
* a user is in at most one room, and its record and the room's member list agree;
* no room holds more members than the capacity;
* only a room's owner deletes, changes, kicks from, bans from or invites to it, or sees
  its access lists;
* no banned user is a member; ban and invite lists and rooms per owner stay within
  their quotas;
* pushes and closes name only live sessions;
* a decoder asks to close after at most ``MAX_REJECTED_IN_A_ROW`` bad frames in a row;
* a ``RELAY`` frame gets no reply (only an id-less error before login), and what it is
  forwarded to is another live session, with the body unchanged.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from commons.codec import JsonObject, encode_message
from commons.errors import ErrorCode
from commons.framing import DEFAULT_MAX_FRAME_SIZE, HEADER
from commons.relay_frames import RELAY_COMMAND, RelayFrame
from commons.tracker_protocol import Command, Request, Status, error, ok
from fuzz.byte_reader import ByteReader
from tracker.server.request_decoder import MAX_REJECTED_IN_A_ROW, Rejected, RequestDecoder
from tracker.state.tracker_state import Outcome, StateLimits, TrackerState

#: Commands the server answers without the state (the mailbox's; their rules are
#: :mod:`tracker.state.mailbox`, tested by ``tests/tracker/test_mailbox_rules.py``).
_SERVER_COMMANDS = frozenset(
    {Command.MAILBOX_TOKENS, Command.DEPOSIT, Command.MAILBOX_FETCH, Command.MAILBOX_ACK}
)

MAX_LEN = 8192
MAX_STEPS = 96
CONNECTIONS = 6
KEY = base64.b64encode(bytes(range(1, 33))).decode()
PASSWORD = "0" * 64

_USERS = ("alice", "bob", "carol", "dave", "Alice", "..", "x" * 32, "x" * 33)
_INVITES = ("abcdefgh12345678_-AZ", "short", "x" * 65, "bad code!")
_LIMITS: tuple[Any, ...] = (1, 2, 1000, 0, 1001, True, "5")
_ROOMS = ("lobby", "r2", "r3", "...", "r" * 32, "bad room")
_HOSTS = (
    "127.0.0.1",
    "fe80::1%eth0",
    "::1",
    ".".join(["a" * 63] * 3) + "." + "b" * 61,
    "fe80::1%" + "a" * 300,
    "fe80::1%\ud800",
    "host\u202e",
    "",
    "fe80::1%" + "a" * 33_000,  # two of these once pushed ROOM_UPDATE past 64 KiB
)
_IDS: tuple[Any, ...] = (1, 0, 2**63 - 1, 2**63, -1, "a", "i" * 64, "i" * 65, "\ud800", True, None)
_PORTS: tuple[Any, ...] = (4000, 1, 65535, 0, 65536, "80", None)
_COMMANDS = (*[c.value for c in Command], "FLY", 7, RELAY_COMMAND)
_LINKS: tuple[Any, ...] = (1, 2, 2**31 - 1, 0, 2**31, True, "1")
_DATA: tuple[Any, ...] = ("bm9pc2U=", "", "bm9pc2U", "!!!!", 7, "A" * 60_001)
_ROOM_COMMANDS = {
    "CREATE_ROOM",
    "JOIN_ROOM",
    "DELETE_ROOM",
    "KICK",
    "BAN",
    "UNBAN",
    "INVITE",
    "UNINVITE",
    "SET_ROOM",
    "ROOM_ACCESS",
}
_TARGET_COMMANDS = {"LOOKUP", "KICK", "BAN", "UNBAN", "INVITE", "UNINVITE"}
#: Commands only a room's owner may carry out.
_OWNER_COMMANDS = {
    Command.DELETE_ROOM,
    Command.KICK,
    Command.BAN,
    Command.UNBAN,
    Command.INVITE,
    Command.UNINVITE,
    Command.SET_ROOM,
    Command.ROOM_ACCESS,
}


class _Model:
    def __init__(self, capacity: int) -> None:
        self.limits = StateLimits(rooms_per_owner=3, max_rooms=8, max_bans=4, max_invites=4)
        self.state = TrackerState(capacity, 10.0, DEFAULT_MAX_FRAME_SIZE, limits=self.limits)
        self.capacity = capacity
        self.decoders = {s: RequestDecoder(DEFAULT_MAX_FRAME_SIZE) for s in range(CONNECTIONS)}
        self.open = set(range(CONNECTIONS))
        self.rejected_in_a_row = dict.fromkeys(range(CONNECTIONS), 0)
        #: Accounts by name ignoring case -> the name as registered.
        self.accounts: dict[str, str] = {}
        self.now = 1000.0

    # -- delivery checks -------------------------------------------------------------

    def sent(self, message: JsonObject) -> None:
        encode_message(message, DEFAULT_MAX_FRAME_SIZE)  # raises if it cannot be sent

    def deliver(self, outcome: Outcome) -> None:
        if outcome.reply is not None:
            self.sent(outcome.reply)
        for targets, message in outcome.pushes:
            assert "id" not in message and "event" in message
            self.sent(message)
            for target in targets:
                assert target in self.state.sessions or target in self.open, target
        for session in outcome.close:
            self.disconnect(session)

    def disconnect(self, session: int) -> None:
        self.open.discard(session)
        self.deliver(self.state.disconnect(session))

    # -- one connection's bytes ------------------------------------------------------

    def feed(self, session: int, data: bytes) -> None:
        if session not in self.open:
            return
        for item in self.decoders[session].feed(data):
            if session not in self.open:
                raise AssertionError("a decoder produced items after asking to close")
            if isinstance(item, Rejected):
                self.rejected_in_a_row[session] += 1
                assert self.rejected_in_a_row[session] <= MAX_REJECTED_IN_A_ROW
                assert item.reply["status"] == Status.ERROR
                self.sent(item.reply)
                if item.close:
                    self.disconnect(session)
                continue
            self.rejected_in_a_row[session] = 0
            if isinstance(item, RelayFrame):
                self.relay(session, item)
            else:
                self.request(session, item)

    def relay(self, session: int, frame: RelayFrame) -> None:
        self.now += 1.0
        outcome = self.state.relay(session, frame, self.now)
        if outcome.reply is not None:  # only before login, and never with an id
            assert outcome.reply["id"] is None and outcome.reply["status"] == Status.ERROR
            assert not self.state.is_authenticated(session)
        forward = outcome.forward
        if forward is not None:
            assert forward.sender == session and forward.target != session
            assert forward.target in self.state.sessions and forward.target in self.open
            assert forward.message["data"] == frame.data
            self.sent(forward.message)
        self.deliver(outcome)

    def request(self, session: int, request: Request) -> None:
        state = self.state
        self.now += 1.0
        new_session = not state.is_authenticated(session)
        if request.cmd is Command.SALT:  # answered by tracker.accounts.accounts, never by the state
            self.sent(ok(request.id))
            return
        if request.cmd in _SERVER_COMMANDS:  # tracker.server.mailbox_commands answers them
            self.sent(error(request.id, ErrorCode.MAILBOX_REFUSED, "not fuzzed here"))
            return
        if new_session and request.cmd in (Command.REGISTER, Command.LOGIN, Command.RESUME):
            assert request.username is not None
            folded = request.username.lower()
            known = self.accounts.get(folded)
            if request.cmd is Command.REGISTER:
                if known is None:
                    self.accounts[folded] = request.username
                    self.sent(ok(request.id, username=request.username))
                else:
                    self.sent(error(request.id, ErrorCode.USER_EXISTS, "taken"))
                return
            if known is None:  # as if registered before
                self.accounts[folded] = request.username
            elif known != request.username:
                self.sent(error(request.id, ErrorCode.AUTH_FAILED, "unknown user"))
                return
        if new_session and request.cmd in (Command.LOGIN, Command.RESUME):
            outcome = state.login(session, request, request.host or "127.0.0.1", self.now)
        else:
            owners = {name: room.owner for name, room in state.rooms.items()}
            acting = state.username_of(session)
            outcome = state.handle(session, request, self.now)
            assert outcome.reply is not None
            if request.cmd in _OWNER_COMMANDS and outcome.reply["status"] == Status.OK:
                assert owners[request.room or ""] == acting, f"a non-owner did {request.cmd}"
        assert outcome.reply is not None and outcome.reply["id"] == request.id
        assert outcome.reply["status"] in (Status.OK, Status.ERROR)
        self.deliver(outcome)

    # -- invariants ------------------------------------------------------------------

    def check(self) -> None:
        state = self.state
        limits = self.limits
        assert len(state.rooms) <= limits.max_rooms
        for name, room in state.rooms.items():
            assert len(room.members) <= self.capacity
            assert len(set(room.members)) == len(room.members)
            for member in room.members:
                assert name in state.registry.rooms_of(member), "the member index is stale"
                assert member.lower() not in room.banned, "a banned user is a member"
            assert len(room.banned) <= limits.max_bans
            assert len(room.invited) <= limits.max_invites
            assert state.rooms_owned_by(room.owner) <= limits.rooms_per_owner
        for name, user in state.online.items():
            assert state.sessions[user.session] is user and user.username == name
        for name, rooms in state.registry.memberships.items():
            assert rooms, "an empty membership list is kept"
            assert len(rooms) <= limits.rooms_per_user
            assert all(name in state.rooms[r].members for r in rooms)
        for session in state.sessions:
            assert session in self.open


def _string(reader: ByteReader, fixed: tuple[Any, ...]) -> Any:
    if reader.below(4) == 0:
        return reader.text(24)
    return reader.choice(fixed)


def _request(reader: ByteReader) -> bytes:
    obj: dict[str, Any] = {"cmd": reader.choice(_COMMANDS), "id": reader.choice(_IDS)}
    extras = reader.byte()  # one bit per optional part, so a mutation flips one of them
    cmd = obj["cmd"]
    if cmd in ("REGISTER", "LOGIN") or extras & 1:
        obj["username"] = _string(reader, _USERS)
        obj["password"] = PASSWORD if reader.below(8) else reader.text(8)
        obj["identity_key"] = KEY if reader.below(8) else reader.text(8)
        obj["port"] = reader.choice(_PORTS)
        if extras & 2:
            obj["host"] = _string(reader, _HOSTS)
        if extras & 4:
            obj["replace_key"] = reader.choice((True, False, "yes"))
        if extras & 8:
            obj["invite"] = _string(reader, _INVITES)
    if cmd in _ROOM_COMMANDS or extras & 16:
        obj["room"] = _string(reader, _ROOMS)
    if cmd in _TARGET_COMMANDS or extras & 32:
        obj["user"] = _string(reader, _USERS)
    if extras & 64:
        obj["cursor"] = _string(reader, _USERS + _ROOMS)
        obj["limit"] = reader.choice(_LIMITS)
    if cmd in ("CREATE_ROOM", "SET_ROOM") and extras & 128:
        obj["invite_only"] = reader.choice((True, False, "yes"))
    if cmd == RELAY_COMMAND:
        if extras & 128:
            obj.pop("id")
        obj["to"] = _string(reader, _USERS)
        obj["link"] = reader.choice(_LINKS)
        obj["back"] = reader.choice((True, False, None))
        if extras & 64:
            obj["end"] = reader.choice((True, False, 1))
        else:
            obj["data"] = reader.choice(_DATA)
    for _ in range(reader.below(3)):
        obj.pop(reader.choice(tuple(obj)), None)
    body = json.dumps(obj).encode("ascii")
    return HEADER.pack(len(body)) + body


def fuzz_one(data: bytes) -> None:
    reader = ByteReader(data)
    model = _Model(capacity=2 + reader.below(63))
    for _ in range(MAX_STEPS):
        if not reader.remaining:
            break
        step = reader.byte()
        session = step % CONNECTIONS
        kind = step // CONNECTIONS % 8
        if kind < 5:
            model.feed(session, _request(reader))
        elif kind == 5:
            body = reader.take(reader.below(64))
            model.feed(session, HEADER.pack(len(body)) + body)
        elif kind == 6:
            model.feed(session, reader.take(reader.below(64)))
        else:
            model.disconnect(session)
        model.check()


def _step(session: int, kind: int, *choices: int) -> bytes:
    return bytes([kind * CONNECTIONS + session, *choices])


# Steps spelled out, for seeds and regression inputs. _request's choices, in order:
# cmd, id, the extras bits, then for REGISTER/LOGIN the username's source (1 = a fixed
# one) and index, password (1 = fixed), key (1 = fixed), port, the host's source and
# index if extras & 2; then the room's, then the target user's source and index; then
# how many fields to drop (0).
_CMD = {c: i for i, c in enumerate(_COMMANDS)}


def login_step(session: int, user: int, host: int | None = None, request_id: int = 0) -> bytes:
    extras, hosted = (0, ()) if host is None else (2, (1, host))
    return _step(session, 0, _CMD["LOGIN"], request_id, extras, 1, user, 1, 1, 0, *hosted, 0)


def room_step(session: int, cmd: str, room: int, request_id: int = 0) -> bytes:
    return _step(session, 0, _CMD[cmd], request_id, 0, 1, room, 0)


def target_step(session: int, cmd: str, room: int, user: int) -> bytes:
    return _step(session, 0, _CMD[cmd], 0, 0, 1, room, 1, user, 0)


def simple_step(session: int, cmd: str, request_id: int = 0) -> bytes:
    return _step(session, 0, _CMD[cmd], request_id, 0, 0)


def relay_step(session: int, user: int, back: int = 1, end: bool = False) -> bytes:
    """A RELAY frame (no id) to ``_USERS[user]`` on link 1: a body, or the link's end.
    ``back``: index in (True, False, None)."""
    if end:  # extras 64 also adds cursor and limit (ignored by RELAY): their choices first
        return _step(session, 0, _CMD[RELAY_COMMAND], 0, 192, 1, 0, 0, 1, user, 0, back, 0, 0)
    return _step(session, 0, _CMD[RELAY_COMMAND], 0, 128, 1, user, 0, back, 0, 0)


def empty_frame_step(session: int) -> bytes:
    return _step(session, 5, 0)


CAPACITY_3 = bytes([1])


def seeds() -> list[bytes]:
    return [
        CAPACITY_3
        + login_step(0, 0)
        + login_step(1, 1)
        + room_step(0, "CREATE_ROOM", 0)
        + room_step(1, "JOIN_ROOM", 0)
        + simple_step(1, "LIST_PEERS")
        + room_step(0, "DELETE_ROOM", 0),
        CAPACITY_3
        + login_step(0, 0)
        + login_step(1, 0)
        + simple_step(0, "PING")
        + simple_step(1, "LEAVE_ROOM"),
        CAPACITY_3 + login_step(0, 0) + login_step(1, 1, host=5) + simple_step(0, "LIST_PEERS"),
        CAPACITY_3 + login_step(0, 0) + empty_frame_step(0) * 10 + simple_step(0, "LOGOUT"),
        CAPACITY_3
        + login_step(2, 2)
        + room_step(2, "CREATE_ROOM", 1)
        + login_step(3, 3)
        + room_step(3, "JOIN_ROOM", 1)
        + login_step(4, 1)
        + room_step(4, "JOIN_ROOM", 1)
        + room_step(3, "DELETE_ROOM", 1)
        + _step(2, 7),
        CAPACITY_3
        + login_step(0, 0)
        + login_step(1, 1)
        + login_step(2, 2)
        + room_step(0, "CREATE_ROOM", 0)
        + room_step(1, "JOIN_ROOM", 0)
        + target_step(0, "BAN", 0, 1)
        + target_step(0, "INVITE", 0, 2)
        + _step(0, 0, _CMD["SET_ROOM"], 0, 128, 1, 0, 0, 0)
        + room_step(2, "JOIN_ROOM", 0)
        + room_step(0, "ROOM_ACCESS", 0)
        + target_step(1, "KICK", 0, 2)
        + target_step(0, "KICK", 0, 2)
        + _step(2, 0, _CMD["LOOKUP"], 0, 0, 1, 0, 0)
        + _step(2, 0, _CMD["LIST_PEERS"], 0, 64, 1, 0, 2, 0),
        CAPACITY_3
        + relay_step(0, 1)
        + login_step(0, 0)
        + login_step(1, 1)
        + relay_step(0, 1)
        + relay_step(1, 0, back=0)
        + relay_step(0, 1, end=True)
        + relay_step(0, 2)
        + relay_step(1, 1)
        + _step(0, 7),
    ]
