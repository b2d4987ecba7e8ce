"""Durable membership, several rooms per user and presence (issue 21), on the sans-I/O
core: members outlast sessions, capacity counts them, one PRESENCE per recipient."""

from __future__ import annotations

import base64
from collections import Counter

import pytest

from commons.codec import JsonObject, encode_message
from commons.errors import ValidationError
from commons.framing import DEFAULT_MAX_FRAME_SIZE
from commons.tracker_protocol import Command, Request, parse_request
from tracker.state.registry import Outcome
from tracker.state.room_changes import MemberAdded, MemberModeChanged, MemberRemoved, RoomDeleted
from tracker.state.tracker_state import RoomSeed, StateLimits, TrackerState

KEY = base64.b64encode(b"k" * 32).decode()
OTHER_KEY = base64.b64encode(b"o" * 32).decode()
DAY = 24 * 3600.0


def login_request(name: str, port: int | None = 4000, key: str = KEY) -> Request:
    return Request(1, Command.LOGIN, username=name, password="0" * 64, identity_key=key, port=port)


def cmd(command: Command, **fields: object) -> Request:
    return Request(7, command, **fields)  # type: ignore[arg-type]


def code(outcome: Outcome) -> str:
    assert outcome.reply is not None
    return str(outcome.reply.get("code", outcome.reply["status"]))


def events(outcome: Outcome, session: int, event: str | None = None) -> list[JsonObject]:
    return [
        msg
        for targets, msg in outcome.pushes
        if session in targets and (event is None or msg["event"] == event)
    ]


def new_state(capacity: int = 4, **limits: object) -> TrackerState:
    return TrackerState(capacity, 1.0, 65536, limits=StateLimits(**limits))  # type: ignore[arg-type]


@pytest.fixture
def state() -> TrackerState:
    s = new_state()
    for session, name in enumerate(["alice", "bob", "carol", "dave", "erin"], start=1):
        s.login(session, login_request(name), "127.0.0.1", now=0.0)
    return s


ALICE, BOB, CAROL, DAVE, ERIN = 1, 2, 3, 4, 5


def test_membership_survives_every_kind_of_session_end(state):
    assert code(state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)) == "OK"
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "OK"
    state.handle(BOB, cmd(Command.LOGOUT), 0.0)
    assert state.rooms["r"].members == ["alice", "bob"]
    state.login(20, login_request("bob"), "127.0.0.1", now=1.0)
    state.disconnect(20)  # closed, or expired
    state.login(21, login_request("bob"), "127.0.0.1", now=2.0)
    state.login(22, login_request("bob"), "127.0.0.1", now=3.0)  # replaced
    assert state.rooms["r"].members == ["alice", "bob"]
    assert state.registry.rooms_of("bob") == ["r"]


def test_capacity_counts_offline_members(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    for session in (BOB, CAROL, DAVE):
        state.handle(session, cmd(Command.JOIN_ROOM, room="r"), 0.0)
        state.disconnect(session)
    refused = state.handle(ERIN, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    assert code(refused) == "room_full"
    assert state.rooms["r"].members == ["alice", "bob", "carol", "dave"]


def test_the_twenty_first_room_is_refused_created_or_joined():
    state = new_state(rooms_per_owner=30, changes_burst=100)
    state.login(1, login_request("owner"), "h", now=0.0)
    state.login(2, login_request("joiner"), "h", now=0.0)
    for n in range(20):
        assert code(state.handle(1, cmd(Command.CREATE_ROOM, room=f"r{n}"), 0.0)) == "OK"
    created = state.handle(1, cmd(Command.CREATE_ROOM, room="more"), 0.0)
    assert code(created) == "quota_exceeded" and "leave one first" in created.reply["msg"]
    assert "more" not in state.rooms
    for n in range(20):
        assert code(state.handle(2, cmd(Command.JOIN_ROOM, room=f"r{n}"), 0.0)) == "OK"
    state.handle(1, cmd(Command.LEAVE_ROOM, room="r0"), 0.0)
    assert code(state.handle(1, cmd(Command.CREATE_ROOM, room="more"), 0.0)) == "OK"
    joined = state.handle(2, cmd(Command.JOIN_ROOM, room="more"), 0.0)
    assert code(joined) == "quota_exceeded" and joined.store == ()
    assert len(state.registry.rooms_of("joiner")) == 20


def test_leave_room_with_and_without_a_room(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="one"), 0.0)
    state.handle(BOB, cmd(Command.CREATE_ROOM, room="two"), 0.0)
    assert code(state.handle(CAROL, cmd(Command.LEAVE_ROOM), 0.0)) == "not_in_room"
    assert code(state.handle(CAROL, cmd(Command.LEAVE_ROOM, room="one"), 0.0)) == "not_in_room"
    state.handle(CAROL, cmd(Command.JOIN_ROOM, room="one"), 0.0)
    only = state.handle(CAROL, cmd(Command.LEAVE_ROOM), 0.0)  # an older client: its only room
    assert only.reply["room"] == "one" and only.store == (MemberRemoved("one", "carol"),)
    for room in ("one", "two"):
        state.handle(CAROL, cmd(Command.JOIN_ROOM, room=room), 0.0)
    several = state.handle(CAROL, cmd(Command.LEAVE_ROOM), 0.0)
    assert code(several) == "invalid_field" and "name the room" in several.reply["msg"]
    named = state.handle(CAROL, cmd(Command.LEAVE_ROOM, room="two"), 0.0)
    assert named.reply["room"] == "two"
    removed = [m["removed"] for m in events(named, BOB, "ROOM_UPDATE")]
    assert removed == [{"username": "carol", "reason": "left"}]
    assert state.registry.rooms_of("carol") == ["one"]


def test_presence_is_one_push_per_recipient_in_twenty_rooms_of_sixty_four():
    """A user in 20 full rooms (64 members each) going offline and back: every other
    online member gets exactly one small PRESENCE, whatever the rooms they share."""
    state = new_state(capacity=64, rooms_per_owner=20, changes_burst=100)
    session = iter(range(1, 100_000))
    state.login(next(session), login_request("hub"), "10.0.0.1", now=0.0)
    hub = state.online["hub"].session
    rooms = [f"room{n:02}" for n in range(20)]
    for room in rooms:
        state.handle(hub, cmd(Command.CREATE_ROOM, room=room), 0.0)
    # 20 users in all 20 rooms, and 43 others in each room alone: 63 more per room.
    everywhere = [f"all{n}" for n in range(20)]
    for name in everywhere:
        state.login(next(session), login_request(name), "10.0.0.2", now=0.0)
        for room in rooms:
            state.handle(state.online[name].session, cmd(Command.JOIN_ROOM, room=room), 0.0)
    for room in rooms:
        for n in range(43):
            name = f"{room}m{n}"
            state.login(next(session), login_request(name), "10.0.0.3", now=0.0)
            state.handle(state.online[name].session, cmd(Command.JOIN_ROOM, room=room), 0.0)
    assert all(len(state.rooms[room].members) == 64 for room in rooms)
    outsider = next(session)
    state.login(outsider, login_request("outsider"), "10.0.0.4", now=0.0)

    for outcome in (state.disconnect(hub), state.login(9999, login_request("hub"), "h", 1.0)):
        pushes = [(targets, msg) for targets, msg in outcome.pushes if msg["event"] == "PRESENCE"]
        recipients = Counter(target for targets, _ in pushes for target in targets)
        assert len(recipients) == 20 + 20 * 43 <= 63 * 20
        assert set(recipients.values()) == {1}
        assert outsider not in recipients
        assert all(msg["event"] == "PRESENCE" for _, msg in outcome.pushes)
        shared = {
            msg["rooms"][0] if len(msg["rooms"]) == 1 else "all": msg["rooms"] for _, msg in pushes
        }
        assert shared["all"] == rooms
        assert max(len(str(msg)) for _, msg in pushes) < 1024
    online = events(outcome, state.online["all0"].session)[0]
    assert online["member"] == {
        "username": "hub",
        "online": True,
        "identity_key": KEY,
        "host": "h",
        "port": 4000,
    }


def test_the_address_in_presence_follows_the_shared_rooms_relay_only(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="open"), 0.0)
    state.handle(CAROL, cmd(Command.CREATE_ROOM, room="quiet"), 0.0)
    state.handle(BOB, cmd(Command.JOIN_ROOM, room="open"), 0.0)
    state.handle(BOB, cmd(Command.JOIN_ROOM, room="quiet", relay_only=True), 0.0)
    state.handle(ALICE, cmd(Command.JOIN_ROOM, room="quiet"), 0.0)
    outcome = state.login(30, login_request("bob"), "192.0.2.1", now=1.0)
    to_alice = events(outcome, ALICE, "PRESENCE")  # shares "open" and "quiet"
    to_carol = events(outcome, CAROL, "PRESENCE")  # shares "quiet" only
    assert to_alice[0]["rooms"] == ["open", "quiet"] and "host" not in to_alice[0]["member"]
    assert to_carol[0]["rooms"] == ["quiet"] and "host" not in to_carol[0]["member"]
    state.handle(30, cmd(Command.LEAVE_ROOM, room="quiet"), 1.0)
    again = state.login(31, login_request("bob"), "192.0.2.1", now=2.0)
    assert events(again, ALICE, "PRESENCE")[0]["member"]["host"] == "192.0.2.1"
    assert events(again, CAROL) == []
    changed = state.handle(31, cmd(Command.JOIN_ROOM, room="open", relay_only=True), 2.0)
    assert changed.store == (MemberModeChanged("open", "bob", True),)
    assert events(changed, ALICE, "ROOM_UPDATE")[0]["members"][1] == {
        "username": "bob",
        "online": True,
        "identity_key": KEY,
    }


def test_kicking_an_offline_member_removes_them_for_good(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    state.handle(CAROL, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    state.handle(BOB, cmd(Command.LOGOUT), 0.0)
    kicked = state.handle(ALICE, cmd(Command.KICK, room="r", target="Bob"), 0.0)
    assert code(kicked) == "OK" and kicked.store == (MemberRemoved("r", "bob"),)
    assert [m["event"] for m in events(kicked, CAROL)] == ["ROOM_UPDATE"]
    assert events(kicked, CAROL)[0]["removed"] == {"username": "bob", "reason": "kicked"}
    back = state.login(40, login_request("bob"), "127.0.0.1", now=1.0)
    assert back.reply["rooms"] == []
    assert events(back, ALICE) == []


def test_login_reply_lists_the_rooms_in_join_order_with_members(state):
    for session, room in ((ALICE, "zeta"), (CAROL, "alpha"), (DAVE, "mid")):
        state.handle(session, cmd(Command.CREATE_ROOM, room=room), 0.0)
    for room in ("zeta", "alpha", "mid"):
        state.handle(BOB, cmd(Command.JOIN_ROOM, room=room), 0.0)
    state.handle(BOB, cmd(Command.LOGOUT), 0.0)
    state.handle(DAVE, cmd(Command.LOGOUT), 0.0)
    reply = state.login(50, login_request("bob", port=None), "127.0.0.1", now=1.0).reply
    assert [item["room"]["room"] for item in reply["rooms"]] == ["zeta", "alpha", "mid"]
    mid = reply["rooms"][2]
    assert mid["room"]["members"] == ["dave", "bob"] and mid["room"]["online"] == ["bob"]
    assert mid["members"] == [
        {"username": "dave", "online": False},
        {"username": "bob", "online": True, "identity_key": KEY},
    ]
    assert reply["rooms"][0]["members"][0]["port"] == 4000


def test_a_login_reply_too_big_for_a_frame_omits_member_lists_not_rooms():
    state = TrackerState(64, 1.0, 4096, limits=StateLimits(rooms_per_owner=20, changes_burst=99))
    state.login(1, login_request("hub"), "h", now=0.0)
    for n in range(6):
        state.handle(1, cmd(Command.CREATE_ROOM, room=f"r{n}"), 0.0)
        for m in range(8):
            name = f"u{n}x{m}"
            state.login(100 + n * 10 + m, login_request(name), "h", now=0.0)
            state.handle(100 + n * 10 + m, cmd(Command.JOIN_ROOM, room=f"r{n}"), 0.0)
    rooms = state.login(2, login_request("hub"), "h", now=1.0).reply["rooms"]
    assert [item["room"]["room"] for item in rooms] == [f"r{n}" for n in range(6)]
    assert "members" in rooms[0] and rooms[-1] == {
        "room": rooms[-1]["room"],
        "members_omitted": True,
    }
    assert len(str(rooms)) < 4096


def test_key_changed_reaches_the_online_members_of_every_room(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="one"), 0.0)
    state.handle(CAROL, cmd(Command.CREATE_ROOM, room="two"), 0.0)
    for room in ("one", "two"):
        state.handle(BOB, cmd(Command.JOIN_ROOM, room=room), 0.0)
    state.handle(DAVE, cmd(Command.JOIN_ROOM, room="two"), 0.0)
    state.disconnect(DAVE)
    outcome = state.login(60, login_request("bob", key=OTHER_KEY), "h", 1.0, key_changed=True)
    key_changed = [t for t, msg in outcome.pushes if msg["event"] == "KEY_CHANGED"]
    assert key_changed == [(ALICE, CAROL)]


def test_a_room_expires_only_when_no_member_was_online_for_the_expiry(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="kept"), 0.0)
    state.handle(BOB, cmd(Command.CREATE_ROOM, room="gone"), 0.0)
    state.handle(CAROL, cmd(Command.JOIN_ROOM, room="gone"), 0.0)
    for session in (BOB, CAROL):
        state.disconnect(session)
    state.upkeep_rooms(1.0)
    later = state.upkeep_rooms(31 * DAY)
    assert RoomDeleted("gone") in later.store and "gone" not in state.rooms
    assert "kept" in state.rooms  # alice was online all along
    assert state.registry.rooms_of("carol") == []


def test_stored_members_come_back_with_their_rooms():
    seed = RoomSeed("r", "alice", members=(("bob", True, 1.0), ("alice", False, 2.0)))
    state = TrackerState(4, 1.0, 65536, [seed])
    reply = state.login(1, login_request("bob"), "h", now=0.0).reply
    assert reply["rooms"][0]["room"]["members"] == ["bob", "alice"]
    assert reply["rooms"][0]["members"][0] == {
        "username": "bob",
        "online": True,
        "identity_key": KEY,
    }
    again = state.handle(1, cmd(Command.JOIN_ROOM, room="r", relay_only=True), 0.0)
    assert code(again) == "OK" and again.store == ()


def test_a_failed_write_of_a_join_undoes_the_membership(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    joined = state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    assert joined.store == (MemberAdded("r", "bob", relay_only=False),)
    undone = state.revert(joined.store)
    assert state.rooms["r"].members == ["alice"] and state.registry.rooms_of("bob") == []
    assert [m["username"] for m in events(undone, ALICE, "ROOM_UPDATE")[0]["members"]] == ["alice"]


def test_a_users_rooms_come_back_in_the_order_they_joined_not_by_name():
    seeds = [
        RoomSeed("alpha", "alice", members=(("alice", False, 1.0), ("bob", False, 5.0))),
        RoomSeed("mid", "alice", members=(("bob", False, 2.0),)),
        RoomSeed("zeta", "alice", members=(("alice", False, 3.0), ("bob", False, 4.0))),
    ]
    state = TrackerState(4, 1.0, 65536, seeds)
    assert state.registry.rooms_of("bob") == ["mid", "zeta", "alpha"]
    assert state.registry.rooms_of("alice") == ["alpha", "zeta"]
    state.login(1, login_request("bob"), "h", now=0.0)
    state.handle(1, cmd(Command.LEAVE_ROOM, room="mid"), 0.0)
    state.handle(1, cmd(Command.JOIN_ROOM, room="mid"), 0.0)  # the clock says 0: still last
    assert state.registry.rooms_of("bob") == ["zeta", "alpha", "mid"]


def test_leave_room_names_its_room_validated_like_any_room_name():
    assert parse_request({"cmd": "LEAVE_ROOM", "id": 1}).room is None
    assert parse_request({"cmd": "LEAVE_ROOM", "id": 1, "room": "café"}).room == "café"
    with pytest.raises(ValidationError):
        parse_request({"cmd": "LEAVE_ROOM", "id": 1, "room": "x" * 200})
    with pytest.raises(ValidationError):
        parse_request({"cmd": "LEAVE_ROOM", "id": 1, "room": 7})


def test_a_login_reply_fits_a_frame_with_twenty_full_rooms_of_the_longest_names():
    """20 rooms of 64 members with 32-character names: the room objects alone would not
    fit in 64 KiB; every room is still named, the reply still fits."""
    limits = StateLimits(rooms_per_owner=20, changes_burst=99)
    state = TrackerState(64, 1.0, DEFAULT_MAX_FRAME_SIZE, limits=limits)
    hub = "h" * 32
    state.login(1, login_request(hub), "h", now=0.0)
    session = iter(range(100, 100_000))
    for n in range(20):
        room = f"{n:02}" + "r" * 30
        state.handle(1, cmd(Command.CREATE_ROOM, room=room), 0.0)
        for m in range(63):
            name = f"{n:02}{m:02}" + "u" * 28
            state.login(next(session), login_request(name), "h", now=0.0)
            state.handle(state.online[name].session, cmd(Command.JOIN_ROOM, room=room), 0.0)
    reply = state.login(2, login_request(hub), "h", now=1.0).reply
    assert len(reply["rooms"]) == 20
    assert "members" in reply["rooms"][0]
    assert reply["rooms"][-1]["members_omitted"] is True
    assert reply["rooms"][-1]["room"]["members"] == []
    assert len(encode_message(reply)) <= DEFAULT_MAX_FRAME_SIZE
