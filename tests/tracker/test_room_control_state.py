"""Room quotas, owner control and the per-session rate, in the sans-I/O core."""

from __future__ import annotations

import base64

import pytest

from commons.tracker_protocol import Command, Request
from tracker.state.room_changes import (
    BanAdded,
    InviteAdded,
    InviteRemoved,
    MemberRemoved,
    RoomModeChanged,
)
from tracker.state.tracker_state import RoomSeed, StateLimits, TrackerState

KEY = base64.b64encode(b"k" * 32).decode()
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


def login_request(name: str) -> Request:
    return Request(1, Command.LOGIN, username=name, password="0" * 64, identity_key=KEY, port=4000)


def make_state(**limits: float) -> TrackerState:
    s = TrackerState(3, 1.0, 65536, limits=StateLimits(**limits))  # type: ignore[arg-type]
    for session, name in enumerate(["alice", "bob", "carol", "dave"], start=1):
        s.login(session, login_request(name), "127.0.0.1", now=0.0)
    return s


@pytest.fixture
def state() -> TrackerState:
    return make_state()


def cmd(command: Command, **fields: object) -> Request:
    return Request(7, command, **fields)  # type: ignore[arg-type]


def code(outcome) -> str:
    return outcome.reply.get("code", outcome.reply["status"])


def events_for(outcome, session: int) -> list[dict]:
    return [msg for targets, msg in outcome.pushes if session in targets]


def test_rooms_per_owner_and_in_all():
    state = make_state(rooms_per_owner=2, max_rooms=3, changes_burst=100, newcomer_room_share=1)
    assert code(state.handle(ALICE, cmd(Command.CREATE_ROOM, room="a1"), 0.0)) == "OK"
    assert code(state.handle(ALICE, cmd(Command.CREATE_ROOM, room="a2"), 0.0)) == "OK"
    assert code(state.handle(ALICE, cmd(Command.CREATE_ROOM, room="a3"), 0.0)) == "quota_exceeded"
    assert code(state.handle(BOB, cmd(Command.CREATE_ROOM, room="b1"), 0.0)) == "OK"
    assert code(state.handle(CAROL, cmd(Command.CREATE_ROOM, room="c1"), 0.0)) == "quota_exceeded"
    assert code(state.handle(ALICE, cmd(Command.DELETE_ROOM, room="a1"), 0.0)) == "OK"
    assert code(state.handle(CAROL, cmd(Command.CREATE_ROOM, room="c1"), 0.0)) == "OK"


def test_kick_pushes_kicked_and_updates_the_rest(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    state.handle(CAROL, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    outcome = state.handle(ALICE, cmd(Command.KICK, room="r", target="BOB"), 0.0)
    assert outcome.reply["user"] == "bob"
    assert events_for(outcome, BOB) == [
        {"event": "KICKED", "room": "r", "by": "alice", "reason": "kicked"}
    ]
    update = events_for(outcome, CAROL)[0]
    assert [m["username"] for m in update["members"]] == ["alice", "carol"]
    assert state.registry.rooms_of("bob") == []
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "OK"


def test_only_the_owner_controls_and_not_against_themself(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    for command in (Command.KICK, Command.BAN, Command.UNBAN, Command.INVITE, Command.UNINVITE):
        assert code(state.handle(BOB, cmd(command, room="r", target="alice"), 0.0)) == "not_owner"
    assert code(state.handle(BOB, cmd(Command.ROOM_ACCESS, room="r"), 0.0)) == "not_owner"
    assert code(state.handle(ALICE, cmd(Command.KICK, room="r", target="alice"), 0.0)) == (
        "forbidden"
    )
    assert code(state.handle(ALICE, cmd(Command.BAN, room="r", target="Alice"), 0.0)) == (
        "forbidden"
    )
    assert code(state.handle(ALICE, cmd(Command.KICK, room="r", target="dave"), 0.0)) == (
        "not_in_room"
    )


def test_ban_removes_blocks_and_survives_as_a_stored_fact(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    outcome = state.handle(ALICE, cmd(Command.BAN, room="r", target="bob"), 0.0)
    assert outcome.store == (BanAdded("r", "bob"), MemberRemoved("r", "bob"))
    assert events_for(outcome, BOB)[0]["reason"] == "banned"
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "banned"
    again = state.handle(ALICE, cmd(Command.BAN, room="r", target="Bob"), 0.0)
    assert code(again) == "OK" and again.store == ()
    assert code(state.handle(ALICE, cmd(Command.INVITE, room="r", target="bob"), 0.0)) == "banned"
    state.handle(ALICE, cmd(Command.UNBAN, room="r", target="BOB"), 0.0)
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "OK"


def test_the_invite_reply_says_how_full_the_room_is(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    reply = state.handle(ALICE, cmd(Command.INVITE, room="r", target="bob"), 0.0).reply
    assert reply is not None and (reply["member_count"], reply["capacity"]) == (1, 3)
    for member in (BOB, CAROL):
        assert code(state.handle(member, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "OK"
    reply = state.handle(ALICE, cmd(Command.INVITE, room="r", target="dave"), 0.0).reply
    assert reply is not None and (reply["member_count"], reply["capacity"]) == (3, 3)


def test_invite_only_rooms(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r", invite_only=True), 0.0)
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "not_invited"
    outcome = state.handle(ALICE, cmd(Command.INVITE, room="r", target="bob"), 0.0)
    assert outcome.store == (InviteAdded("r", "bob"),)
    assert events_for(outcome, BOB) == [{"event": "INVITED", "room": "r", "by": "alice"}]
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "OK"
    kicked = state.handle(ALICE, cmd(Command.KICK, room="r", target="bob"), 0.0)
    assert kicked.store == (InviteRemoved("r", "bob"), MemberRemoved("r", "bob"))
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "not_invited"
    access = state.handle(ALICE, cmd(Command.ROOM_ACCESS, room="r"), 0.0).reply
    assert access == {
        "status": "OK",
        "id": 7,
        "room": "r",
        "invite_only": True,
        "invited": [],
        "banned": [],
    }


def test_closing_a_room_invites_who_is_inside(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    outcome = state.handle(ALICE, cmd(Command.SET_ROOM, room="r", invite_only=True), 0.0)
    assert outcome.store == (RoomModeChanged("r", True), InviteAdded("r", "bob"))
    assert events_for(outcome, BOB)[0]["invite_only"] is True
    state.handle(BOB, cmd(Command.LEAVE_ROOM), 0.0)
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "OK"
    assert code(state.handle(CAROL, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "not_invited"


def test_lists_are_bounded():
    state = make_state(max_bans=2, max_invites=1)
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    for name in ("x1", "x2"):
        assert code(state.handle(ALICE, cmd(Command.BAN, room="r", target=name), 0.0)) == "OK"
    assert code(state.handle(ALICE, cmd(Command.BAN, room="r", target="x3"), 0.0)) == (
        "quota_exceeded"
    )
    assert code(state.handle(ALICE, cmd(Command.INVITE, room="r", target="y1"), 0.0)) == "OK"
    assert code(state.handle(ALICE, cmd(Command.INVITE, room="r", target="y2"), 0.0)) == (
        "quota_exceeded"
    )


def test_room_commands_are_rate_limited_per_session():
    state = make_state(changes_burst=4, changes_per_second=1.0)
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    codes = []
    for _ in range(4):
        codes.append(code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)))
        codes.append(code(state.handle(BOB, cmd(Command.LEAVE_ROOM), 0.0)))
    assert codes == ["OK"] * 4 + ["rate_limited"] * 4
    limited = state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.5)
    assert 0 < limited.reply["retry_after"] <= 1.0
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 1.0)) == "OK"
    assert code(state.handle(CAROL, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "OK"
    assert code(state.handle(BOB, cmd(Command.LOOKUP, target="carol"), 0.0)) == "OK"


def test_revert_puts_memory_back_as_the_database_has_it(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    outcome = state.handle(ALICE, cmd(Command.BAN, room="r", target="bob"), 0.0)
    undone = state.revert(outcome.store)
    assert state.rooms["r"].members == ["alice", "bob"]  # membership is durable: back
    assert [m["username"] for m in events_for(undone, ALICE)[0]["members"]] == ["alice", "bob"]
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "OK"
    deleted = state.handle(ALICE, cmd(Command.DELETE_ROOM, room="r"), 0.0)
    state.revert(deleted.store)
    assert state.rooms["r"].owner == "alice"
    assert state.rooms_owned_by("alice") == 1


def test_seeded_rooms_keep_their_access_lists():
    state = TrackerState(
        3, 1.0, 65536, [RoomSeed("r", "alice", invite_only=True, banned=("Bob",), invited=())]
    )
    state.login(BOB, login_request("bob"), "127.0.0.1", now=0.0)
    assert code(state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)) == "banned"


def test_directory_pages_are_rate_limited_per_source_unless_trusted():
    state = TrackerState(3, 1.0, 65536, limits=StateLimits(pages_burst_per_source=3))
    sessions = [
        ("a", "10.0.0.1", False),
        ("b", "10.0.0.1", False),
        ("c", "10.0.0.2", False),
        ("d", "10.9.0.1", True),
    ]
    for session, (name, source, trusted) in enumerate(sessions, start=1):
        state.login(session, login_request(name), "h", now=0.0, source=source, trusted=trusted)
    codes = [code(state.handle(s, cmd(Command.LIST_PEERS), 0.0)) for s in (1, 2, 1, 2)]
    assert codes == ["OK", "OK", "OK", "rate_limited"]  # two sessions, one source
    assert code(state.handle(1, cmd(Command.LIST_ROOMS), 0.0)) == "rate_limited"
    assert code(state.handle(1, cmd(Command.LOOKUP, target="c"), 0.0)) == "OK"
    assert code(state.handle(3, cmd(Command.LIST_PEERS), 0.0)) == "OK"
    assert all(code(state.handle(4, cmd(Command.LIST_PEERS), 0.0)) == "OK" for _ in range(10))
    assert code(state.handle(1, cmd(Command.LIST_PEERS), 1.0)) == "OK"


def _removed(outcome, session: int) -> list[object]:
    return [
        msg.get("removed") for msg in events_for(outcome, session) if msg["event"] == "ROOM_UPDATE"
    ]


@pytest.mark.parametrize(
    ("command", "fields", "reason"),
    [
        (Command.KICK, {"room": "r", "target": "bob"}, "kicked"),
        (Command.BAN, {"room": "r", "target": "bob"}, "banned"),
    ],
)
def test_an_owners_removal_says_who_and_why_to_the_members(state, command, fields, reason):
    """Members must drop a removed member at once, live channel or not (peer/core/room.py)."""
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    state.handle(BOB, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    state.handle(CAROL, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    outcome = state.handle(ALICE, cmd(command, **fields), 0.0)
    expected = [{"username": "bob", "reason": reason}]
    assert _removed(outcome, ALICE) == expected
    assert _removed(outcome, CAROL) == expected


def test_leaving_is_a_departure_logging_out_and_a_lost_session_are_presence(state):
    state.handle(ALICE, cmd(Command.CREATE_ROOM, room="r"), 0.0)
    for session in (BOB, CAROL):
        state.handle(session, cmd(Command.JOIN_ROOM, room="r"), 0.0)
    left = state.handle(BOB, cmd(Command.LEAVE_ROOM), 0.0)
    assert _removed(left, ALICE) == [{"username": "bob", "reason": "left"}]
    state.handle(DAVE, cmd(Command.JOIN_ROOM, room="r"), 0.0)  # capacity 3
    logged_out = state.handle(CAROL, cmd(Command.LOGOUT), 0.0)
    assert _removed(logged_out, ALICE) == []
    assert [m["event"] for m in events_for(logged_out, ALICE)] == ["PRESENCE"]
    lost = state.disconnect(DAVE)  # a dropped connection, heartbeat expiry
    assert [(m["event"], m["online"]) for m in events_for(lost, ALICE)] == [("PRESENCE", False)]
    assert state.rooms["r"].members == ["alice", "carol", "dave"]
