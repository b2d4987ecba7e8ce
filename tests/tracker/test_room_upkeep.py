"""The rooms' newcomer share and upkeep, without sockets (:mod:`tracker.state.room_upkeep`)."""

from __future__ import annotations

import base64

from commons.tracker_protocol import Command, Request
from tracker.state.room_changes import RoomDeleted, RoomUsed
from tracker.state.tracker_state import RoomSeed, StateLimits, TrackerState

KEY = base64.b64encode(b"k" * 32).decode()
DAY = 86400.0
NOW = 100 * DAY


def login(state: TrackerState, session: int, name: str, created: float | None) -> None:
    request = Request(1, Command.LOGIN, username=name, password="0" * 64, identity_key=KEY, port=1)
    state.login(session, request, "127.0.0.1", NOW, account_created=created)


def create(state: TrackerState, session: int, room: str, now: float = NOW) -> str:
    reply = state.handle(session, Request(7, Command.CREATE_ROOM, room=room), now).reply
    assert reply is not None
    return str(reply.get("code", reply["status"]))


def test_newcomers_take_only_their_share_of_the_rooms():
    limits = StateLimits(rooms_per_owner=5, max_rooms=10, newcomer_room_share=0.5, changes_burst=50)
    state = TrackerState(3, 1.0, 65536, limits=limits)
    for i in range(4):  # a wave of accounts made an hour ago
        login(state, 1 + i, f"sybil{i}", NOW - 3600)
    codes = [create(state, 1 + i % 4, f"s{i}") for i in range(12)]
    assert codes.count("OK") == 5 and set(codes[5:]) == {"quota_exceeded"}
    login(state, 9, "unknown", None)  # no known age: a newcomer's
    assert create(state, 9, "u") == "quota_exceeded"
    login(state, 10, "regular", NOW - 2 * DAY)
    assert create(state, 10, "general") == "OK"


def test_abandoned_rooms_expire_and_rooms_in_use_are_stamped():
    limits = StateLimits(room_expiry=30 * DAY)
    seeds = [
        RoomSeed("old", "gone", last_active=NOW - 31 * DAY),
        RoomSeed("recent", "gone", last_active=NOW - 29 * DAY),
        RoomSeed("unknown", "gone"),
        RoomSeed("busy", "alice", last_active=NOW - 40 * DAY),
    ]
    state = TrackerState(3, 1.0, 65536, seeds, limits)
    login(state, 1, "alice", None)
    assert state.handle(1, Request(7, Command.JOIN_ROOM, room="busy"), NOW).reply["status"] == "OK"
    outcome = state.upkeep_rooms(NOW)
    assert set(state.rooms) == {"recent", "unknown", "busy"}
    assert RoomDeleted("old") in outcome.store
    assert RoomUsed("busy", NOW) in outcome.store and RoomUsed("unknown", NOW) in outcome.store
    # Stamps reach the store at most once an hour; "recent" expires a day later.
    again = state.upkeep_rooms(NOW + 60)
    assert again.store == ()
    later = state.upkeep_rooms(NOW + 1.5 * DAY)
    assert set(state.rooms) == {"unknown", "busy"}
    assert RoomDeleted("recent") in later.store


def test_the_operator_removes_any_room_and_its_members_hear_it():
    state = TrackerState(3, 1.0, 65536)
    login(state, 1, "alice", None)
    login(state, 2, "bob", None)
    assert create(state, 1, "squat") == "OK"
    assert state.handle(2, Request(7, Command.JOIN_ROOM, room="squat"), NOW).reply["status"] == "OK"
    outcome = state.upkeep_rooms(NOW, ["squat", "no-such-room"])
    assert "squat" not in state.rooms
    assert outcome.store[0] == RoomDeleted("squat")
    deleted = [targets for targets, push in outcome.pushes if push["event"] == "ROOM_DELETED"]
    assert deleted == [(1, 2)]
    assert state.registry.rooms_of("alice") == []
    assert create(state, 2, "squat") == "OK"  # the name is free again
