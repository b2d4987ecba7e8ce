"""The client's parsing of durable membership (spec21): LOGIN/RESUME ``rooms``, member
entries with ``online``, the ``PRESENCE`` push; and what older trackers send."""

from __future__ import annotations

import base64
import logging

import pytest

from commons.errors import ValidationError
from commons.tracker_protocol import Command
from peer.session.messages import (
    MAX_LOGIN_ROOMS,
    JoinReply,
    LoginReply,
    PresencePush,
    RoomUpdate,
    Roster,
    parse_login_rooms,
    parse_push,
)
from tests.tracker.test_membership import cmd, login_request
from tracker.state.tracker_state import StateLimits, TrackerState

KEY = base64.b64encode(bytes(range(1, 33))).decode()
BOB = {"username": "bob", "online": True, "host": "127.0.0.1", "port": 4000, "identity_key": KEY}
DAVE_OFF = {"username": "dave", "online": False}


def room(name: str = "lobby", members: tuple[str, ...] = ("bob", "dave")) -> dict[str, object]:
    return {
        "room": name,
        "owner": "bob",
        "members": list(members),
        "online": ["bob"],
        "capacity": 16,
        "invite_only": False,
    }


def test_member_entries_say_who_is_online_in_join_order() -> None:
    roster = Roster.parse([BOB, DAVE_OFF])
    assert [m.username for m in roster.online] == ["bob"]
    assert roster.names == ["bob", "dave"]


def test_an_older_trackers_entries_without_online_are_online_and_no_roster() -> None:
    old = {k: v for k, v in BOB.items() if k != "online"}
    roster = Roster.parse([old])
    assert [m.username for m in roster.online] == ["bob"] and roster.names is None


@pytest.mark.parametrize(
    "entries",
    [
        [{"username": "dave", "online": "no"}],  # not a boolean
        [{"online": False}],  # no name
        [BOB, BOB],  # twice
        [{"username": "eve", "online": True}],  # online without a key
        [{"username": f"u{n}", "online": False} for n in range(65)],  # beyond any capacity
    ],
)
def test_bad_member_entries_are_refused(entries: list[object]) -> None:
    with pytest.raises(ValidationError):
        Roster.parse(entries)


def test_login_reply_lists_our_rooms_in_join_order() -> None:
    reply = LoginReply.parse(
        {
            "username": "alice",
            "heartbeat_interval": 5,
            "rooms": [
                {"room": room("den"), "members": [BOB, DAVE_OFF]},
                {"room": room("lobby", ("bob",)), "members": [BOB]},
            ],
        }
    )
    assert reply.rooms is not None
    assert [r.room.name for r in reply.rooms] == ["den", "lobby"]
    assert reply.rooms[0].roster.names == ["bob", "dave"]


def test_login_reply_without_rooms_is_an_older_tracker() -> None:
    assert LoginReply.parse({"username": "alice", "heartbeat_interval": 5}).rooms is None
    with pytest.raises(ValidationError):
        LoginReply.parse({"username": "alice", "rooms": "lobby"})


def test_login_reply_keeps_at_most_64_rooms_and_logs_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rooms = [{"room": room(f"r{n}"), "members": [BOB]} for n in range(MAX_LOGIN_ROOMS + 36)]
    with caplog.at_level(logging.WARNING):
        reply = LoginReply.parse({"username": "alice", "rooms": rooms})
    assert reply.rooms is not None and len(reply.rooms) == MAX_LOGIN_ROOMS
    assert "36 beyond 64 refused" in caplog.text


def test_join_reply_and_room_update_carry_the_roster() -> None:
    joined = JoinReply.parse({"room": room(), "members": [BOB, DAVE_OFF]})
    assert [m.username for m in joined.members] == ["bob"] and joined.roster == ["bob", "dave"]
    body = {"room": "lobby", "owner": "bob", "capacity": 16, "members": [BOB, DAVE_OFF]}
    update = parse_push("ROOM_UPDATE", body)
    assert isinstance(update, RoomUpdate) and update.roster == ["bob", "dave"]


def test_presence_pushes_are_typed() -> None:
    online = parse_push(
        "PRESENCE", {"username": "bob", "online": True, "rooms": ["den", "lobby"], "member": BOB}
    )
    assert isinstance(online, PresencePush)
    assert online.rooms == ("den", "lobby") and online.member is not None
    assert online.member.port == 4000
    offline = parse_push(
        "PRESENCE", {"username": "dave", "online": False, "rooms": ["den"], "member": DAVE_OFF}
    )
    assert offline == PresencePush("dave", False, ("den",), None)


@pytest.mark.parametrize(
    "body",
    [
        {"username": "bob", "online": 1, "rooms": ["den"], "member": BOB},
        {"username": "bob", "online": True, "rooms": [], "member": BOB},
        {"username": "bob", "online": True, "rooms": ["den"] * 65, "member": BOB},
        {"username": "bob", "online": True, "rooms": ["den"], "member": {**BOB, "username": "x"}},
        {"username": "bob", "online": True, "rooms": ["den"]},
        {"username": "bob", "online": False, "rooms": ["bad room"]},
    ],
)
def test_bad_presence_pushes_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_push("PRESENCE", body)


def test_a_login_reply_with_member_lists_omitted_parses_and_names_every_room() -> None:
    """The tracker's own reply for a user in more full rooms than fit one frame: the
    client logs in (the later rooms come without member entries) rather than refusing
    the whole reply, which any room-mates with long names could otherwise force."""
    state = TrackerState(64, 1.0, 4096, limits=StateLimits(rooms_per_owner=20, changes_burst=99))
    state.login(1, login_request("hub"), "h", now=0.0)
    for n in range(6):
        state.handle(1, cmd(Command.CREATE_ROOM, room=f"r{n}"), 0.0)
        for m in range(8):
            session = 100 + n * 10 + m
            state.login(session, login_request(f"u{n}x{m}"), "h", now=0.0)
            state.handle(session, cmd(Command.JOIN_ROOM, room=f"r{n}"), 0.0)
    reply = state.login(2, login_request("hub"), "h", now=1.0).reply
    assert reply is not None
    records = parse_login_rooms(reply["rooms"])
    assert records is not None
    assert [r.room.name for r in records] == [f"r{n}" for n in range(6)]
    assert not records[0].omitted and records[-1].omitted
    assert records[-1].roster.online == []  # nobody known online until JOIN_ROOM says
    assert records[-1].roster.names == list(records[-1].room.members)
