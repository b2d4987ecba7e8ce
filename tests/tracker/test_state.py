"""The sans-I/O core without sockets: rules of sessions, rooms and pushes."""

from __future__ import annotations

import base64

import pytest

from commons.codec import JsonObject, encode_message
from commons.framing import DEFAULT_MAX_FRAME_SIZE
from commons.models import (
    MAX_HOST_LENGTH,
    MAX_ROOM_CAPACITY,
    MAX_ROOM_NAME_BYTES,
    MAX_ROOM_NAME_CHARS,
)
from commons.tracker_protocol import MAX_ID_LENGTH, Command, Request
from tracker.state.room_changes import MemberAdded
from tracker.state.tracker_state import RoomCreated, RoomDeleted, TrackerState

KEY = base64.b64encode(b"k" * 32).decode()


def login_request(name: str, port: int = 4000) -> Request:
    return Request(1, Command.LOGIN, username=name, password="0" * 64, identity_key=KEY, port=port)


@pytest.fixture
def state() -> TrackerState:
    s = TrackerState(room_capacity=3, heartbeat_interval=1.0, max_frame_size=4096)
    for session, name in enumerate(["alice", "bob", "carol", "dave"], start=1):
        s.login(session, login_request(name), "127.0.0.1", now=100.0)
    return s


def cmd(command: Command, **fields: object) -> Request:
    return Request(7, command, **fields)  # type: ignore[arg-type]


def test_unauthenticated_session_is_refused(state):
    outcome = state.handle(99, cmd(Command.PING), 1.0)
    assert outcome.reply is not None and outcome.reply["code"] == "not_authenticated"


def test_create_room_asks_to_persist_and_pushes_to_creator(state):
    outcome = state.handle(1, cmd(Command.CREATE_ROOM, room="r"), 1.0)
    assert outcome.store == (
        RoomCreated("r", "alice", newcomer=True),
        MemberAdded("r", "alice", relay_only=False),
    )
    assert [targets for targets, _ in outcome.pushes] == [(1,)]


def test_join_pushes_to_all_members_only(state):
    state.handle(1, cmd(Command.CREATE_ROOM, room="r"), 1.0)
    outcome = state.handle(2, cmd(Command.JOIN_ROOM, room="r"), 1.0)
    assert [targets for targets, _ in outcome.pushes] == [(1, 2)]


def test_capacity_counts_members(state):
    state.handle(1, cmd(Command.CREATE_ROOM, room="r"), 1.0)
    state.handle(2, cmd(Command.JOIN_ROOM, room="r"), 1.0)
    state.handle(3, cmd(Command.JOIN_ROOM, room="r"), 1.0)
    outcome = state.handle(4, cmd(Command.JOIN_ROOM, room="r"), 1.0)
    assert outcome.reply is not None and outcome.reply["code"] == "room_full"


def test_delete_by_owner_clears_members(state):
    state.handle(1, cmd(Command.CREATE_ROOM, room="r"), 1.0)
    state.handle(2, cmd(Command.JOIN_ROOM, room="r"), 1.0)
    outcome = state.handle(1, cmd(Command.DELETE_ROOM, room="r"), 1.0)
    assert outcome.store == (RoomDeleted("r"),)
    assert outcome.pushes[0][0] == (1, 2)
    assert state.registry.rooms_of("bob") == []
    assert "r" not in state.rooms


def test_impersonation_is_forbidden(state):
    outcome = state.handle(1, cmd(Command.JOIN_ROOM, room="r", username="bob"), 1.0)
    assert outcome.reply is not None and outcome.reply["code"] == "forbidden"


def test_relogin_replaces_and_closes_old_session(state):
    state.handle(2, cmd(Command.CREATE_ROOM, room="r"), 1.0)
    state.handle(1, cmd(Command.JOIN_ROOM, room="r"), 1.0)
    outcome = state.login(50, login_request("alice"), "127.0.0.1", now=2.0)
    assert outcome.close == [1]
    events = [(targets, msg["event"]) for targets, msg in outcome.pushes]
    assert ((1,), "SESSION_REPLACED") in events
    # No offline/online flap: bob hears once that alice is online (at her new address).
    assert ((2,), "PRESENCE") in events
    assert [e for e in events if e[0] == (2,)] == [((2,), "PRESENCE")]
    assert state.online["alice"].session == 50
    assert state.disconnect(1).pushes == []
    assert state.online["alice"].session == 50


def test_expired_lists_silent_sessions(state):
    state.touch(2, 200.0)
    assert sorted(state.expired(now=150.0, max_silence=10.0)) == [1, 3, 4]


def test_list_replies_are_truncated_to_fit_a_frame():
    state = TrackerState(room_capacity=3, heartbeat_interval=1.0, max_frame_size=2048)
    for session in range(1, 60):
        state.login(session, login_request(f"user{session}"), "127.0.0.1", now=1.0)
    reply = state.handle(1, cmd(Command.LIST_PEERS), 1.0).reply
    assert reply is not None
    assert reply["truncated"] is True
    assert reply["total"] == 59
    assert 0 < len(reply["peers"]) < 59


def test_the_largest_room_update_fits_in_one_default_frame():
    """Every field is bounded, so a full room of the largest capacity, every member with
    the longest name, host, port and id, still fits: no push can be too large."""
    capacity = MAX_ROOM_CAPACITY
    state = TrackerState(capacity, heartbeat_interval=1.0, max_frame_size=DEFAULT_MAX_FRAME_SIZE)
    host = ".".join(["a" * 63] * 3) + "." + "b" * 61
    assert len(host) == MAX_HOST_LENGTH
    room = "\u6771" * MAX_ROOM_NAME_CHARS  # the longest room name in bytes (96)
    assert len(room.encode()) == MAX_ROOM_NAME_BYTES
    frames: list[JsonObject] = []
    for session in range(1, capacity + 1):
        name = f"{session:0>32}"
        request = Request(
            "i" * MAX_ID_LENGTH,
            Command.LOGIN,
            username=name,
            password="0" * 64,
            identity_key=KEY,
            port=65535,
        )
        state.login(session, request, host, now=1.0)
        command = Command.CREATE_ROOM if session == 1 else Command.JOIN_ROOM
        outcome = state.handle(session, Request("i" * MAX_ID_LENGTH, command, room=room), 1.0)
        assert outcome.reply is not None and outcome.reply["status"] == "OK", outcome.reply
        frames.append(outcome.reply)
        frames.extend(message for _, message in outcome.pushes)
    assert len(state.rooms[room].members) == capacity
    for message in frames:
        encode_message(message, DEFAULT_MAX_FRAME_SIZE)  # raises if it does not fit
    largest = max(len(encode_message(m, DEFAULT_MAX_FRAME_SIZE)) for m in frames)
    assert largest < DEFAULT_MAX_FRAME_SIZE // 2


@pytest.mark.parametrize(
    ("existing", "alike"),
    [
        ("lobby", "Lobby"),  # case
        ("lobby", "l0bby"),  # digit zero
        ("lobby", "LOBBY"),
        ("lobby", "\uff4c\uff4f\uff42\uff42\uff59"),  # fullwidth
        ("cop", "\u0441\u043e\u0440"),  # all Cyrillic (a mixed name is refused as a field)
        ("mallory", "rnallory"),
    ],
)
def test_a_room_name_that_looks_like_an_existing_one_is_refused(state, existing, alike):
    state.handle(1, cmd(Command.CREATE_ROOM, room=existing), 1.0)
    outcome = state.handle(2, cmd(Command.CREATE_ROOM, room=alike), 1.0)
    assert outcome.reply is not None and outcome.reply["code"] == "room_exists"
    assert f"'{existing}'" in outcome.reply["msg"] and "looks the same" in outcome.reply["msg"]
    assert outcome.store == ()
    # once the room is gone, its look-alike name is free
    state.handle(1, cmd(Command.DELETE_ROOM, room=existing), 2.0)
    outcome = state.handle(2, cmd(Command.CREATE_ROOM, room=alike), 3.0)
    assert outcome.reply is not None and outcome.reply["status"] == "OK"


def test_unicode_room_names_are_their_own_rooms(state):
    for session, name in [(1, "café"), (2, "cafe"), (3, "東京")]:
        outcome = state.handle(session, cmd(Command.CREATE_ROOM, room=name), 1.0)
        assert outcome.reply is not None and outcome.reply["status"] == "OK", name
    outcome = state.handle(4, cmd(Command.JOIN_ROOM, room="東京"), 1.0)
    assert outcome.reply is not None and outcome.reply["room"]["room"] == "東京"
