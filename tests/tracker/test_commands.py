"""Every command's success and failure paths, against a real TLS tracker."""

from __future__ import annotations

import pytest

from commons.models import PeerInfo, RoomInfo
from tests.tracker_client import password_digest


async def test_register_then_login_returns_session_facts(tracker, connect):
    client = await connect(tracker)
    reply = await client.register("alice")
    assert reply == {"status": "OK", "id": reply["id"], "username": "alice"}
    reply = await client.login("alice", port=5555)
    assert reply["status"] == "OK"
    assert reply["username"] == "alice"
    assert reply["host"] == "127.0.0.1"
    assert reply["heartbeat_interval"] == tracker.config.heartbeat_interval


async def test_register_taken_name_any_case(tracker, connect):
    client = await connect(tracker)
    assert (await client.register("alice"))["status"] == "OK"
    for name in ("alice", "ALICE"):
        reply = await client.register(name)
        assert reply["status"] == "ERROR"
        assert reply["code"] == "user_exists"


async def test_unknown_user_and_wrong_password_are_the_same_error(tracker, connect):
    client = await connect(tracker)
    await client.register("alice")
    wrong = await client.login("alice", password="nope")
    unknown = await client.login("mallory")
    assert wrong["code"] == unknown["code"] == "auth_failed"
    assert wrong["msg"] == unknown["msg"]


async def test_login_twice_on_one_session_is_refused(tracker, user):
    alice = await user(tracker, "alice")
    reply = await alice.login("alice")
    assert reply["code"] == "already_authenticated"
    reply = await alice.register("other")
    assert reply["code"] == "already_authenticated"


async def test_ping_and_logout(tracker, user):
    alice = await user(tracker, "alice")
    assert (await alice.request("PING"))["status"] == "OK"
    reply = await alice.request("LOGOUT")
    assert reply["status"] == "OK"
    await alice.wait_closed()
    bob = await user(tracker, "bob")
    peers = (await bob.request("LIST_PEERS"))["peers"]
    assert [p["username"] for p in peers] == ["bob"]


async def test_directory_shows_name_and_key_but_no_address_nor_room(tracker, user, connect):
    """A stranger learns nobody's address nor rooms: LIST_PEERS and LOOKUP give name and
    key, and ``room`` is always null (durable memberships would map who talks with whom)."""
    alice = await user(tracker, "alice", port=4001)
    bob = await connect(tracker)
    await bob.register("bob")
    reply = await bob.login("bob", port=4002, host="192.0.2.7")
    assert reply["host"] == "192.0.2.7"
    assert reply["relay"] is True
    await alice.request("CREATE_ROOM", room="lobby")
    listed = (await bob.request("LIST_PEERS"))["peers"]
    looked_up = (await bob.request("LOOKUP", user="alice"))["peer"]
    assert {p["username"]: p for p in listed}["alice"] == looked_up
    assert looked_up == {"username": "alice", "identity_key": alice.identity_key, "room": None}
    for entry in [*listed, looked_up]:
        assert set(entry) == {"username", "identity_key", "room"}
        assert "4001" not in str(entry) and "192.0.2.7" not in str(entry)
    peers = {p["username"]: PeerInfo.from_wire(p) for p in listed}
    assert peers["bob"].room is None


async def test_address_goes_only_to_room_mates_and_never_without_a_port(tracker, user, connect):
    """Room-mates get each other's address; a user who announces no port has none."""
    alice = await user(tracker, "alice", port=4001)
    hidden = await connect(tracker)
    await hidden.register("hidden")
    secret, _ = await hidden.secrets("hidden", "correct horse")
    reply = await hidden.request(
        "LOGIN",
        username="hidden",
        password=secret,
        identity_key=hidden.identity_key,
    )
    assert reply["status"] == "OK", reply
    await alice.request("CREATE_ROOM", room="lobby")
    joined = await hidden.request("JOIN_ROOM", room="lobby")
    members = {m["username"]: m for m in joined["members"]}
    assert members["alice"]["host"] == "127.0.0.1" and members["alice"]["port"] == 4001
    assert members["hidden"] == {
        "username": "hidden",
        "online": True,
        "identity_key": hidden.identity_key,
    }
    update = await alice.push("ROOM_UPDATE")
    while len(update["members"]) < 2:
        update = await alice.push("ROOM_UPDATE")
    assert {m["username"]: m for m in update["members"]}["hidden"] == members["hidden"]


async def test_room_lifecycle(tracker, user):
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    created = await alice.request("CREATE_ROOM", room="lobby")
    assert created["status"] == "OK"
    assert RoomInfo.from_wire(created["room"]) == RoomInfo("lobby", "alice", ("alice",), 16)
    joined = await bob.request("JOIN_ROOM", room="lobby")
    assert joined["status"] == "OK"
    assert joined["room"]["members"] == ["alice", "bob"]
    assert {m["username"] for m in joined["members"]} == {"alice", "bob"}
    rooms = (await bob.request("LIST_ROOMS"))["rooms"]
    assert [RoomInfo.from_wire(r) for r in rooms] == [
        RoomInfo("lobby", "alice", ("alice", "bob"), 16)
    ]
    assert (await bob.request("LEAVE_ROOM"))["status"] == "OK"
    assert (await bob.request("LEAVE_ROOM"))["code"] == "not_in_room"
    assert (await alice.request("DELETE_ROOM", room="lobby"))["status"] == "OK"
    assert (await alice.request("LIST_ROOMS"))["rooms"] == []


@pytest.mark.parametrize(
    ("cmd", "room", "code"),
    [
        ("JOIN_ROOM", "nowhere", "room_not_found"),
        ("DELETE_ROOM", "nowhere", "room_not_found"),
        ("CREATE_ROOM", "taken", "room_exists"),
    ],
)
async def test_room_command_failures(tracker, user, cmd, room, code):
    alice = await user(tracker, "alice")
    await alice.request("CREATE_ROOM", room="taken")
    reply = await alice.request(cmd, room=room)
    assert reply["status"] == "ERROR"
    assert reply["code"] == code
    assert reply["msg"]


async def test_room_capacity_default_sixteen(tracker, user):
    """A group of friends fits by default: a fourth and a sixteenth join, a 17th does not."""
    owner = await user(tracker, "owner")
    created = await owner.request("CREATE_ROOM", room="friends")
    assert created["room"]["capacity"] == 16
    for number in range(2, 17):
        member = await user(tracker, f"friend{number}")
        joined = await member.request("JOIN_ROOM", room="friends")
        assert joined["status"] == "OK" and len(joined["room"]["members"]) == number
    late = await user(tracker, "late")
    reply = await late.request("JOIN_ROOM", room="friends")
    assert reply["code"] == "room_full" and "16" in reply["msg"]


async def test_room_capacity_above_the_maximum_is_refused(tracker_factory):
    with pytest.raises(ValueError, match="2-64"):
        await tracker_factory(room_capacity=65)


async def test_room_capacity_is_configurable(tracker_factory, user):
    tracker = await tracker_factory(room_capacity=2)
    owner = await user(tracker, "owner")
    created = await owner.request("CREATE_ROOM", room="pair")
    assert created["room"]["capacity"] == 2
    assert (await (await user(tracker, "m1")).request("JOIN_ROOM", room="pair"))["status"] == "OK"
    reply = await (await user(tracker, "m2")).request("JOIN_ROOM", room="pair")
    assert reply["code"] == "room_full"


async def test_joining_another_room_keeps_the_first(tracker, user):
    """Issue 21: a user is in several rooms at once."""
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    await alice.request("CREATE_ROOM", room="one")
    await bob.request("CREATE_ROOM", room="two")
    await alice.request("JOIN_ROOM", room="two")
    rooms = {r["room"]: r["members"] for r in (await alice.request("LIST_ROOMS"))["rooms"]}
    assert rooms == {"one": ["alice"], "two": ["bob", "alice"]}


async def test_join_same_room_twice_is_harmless(tracker, user):
    alice = await user(tracker, "alice")
    await alice.request("CREATE_ROOM", room="one")
    reply = await alice.request("JOIN_ROOM", room="one")
    assert reply["status"] == "OK"
    assert reply["room"]["members"] == ["alice"]


async def test_string_request_ids_are_echoed(tracker, connect):
    client = await connect(tracker)
    await client.send(
        {
            "cmd": "REGISTER",
            "id": "req-1",
            "username": "alice",
            "password": password_digest("x"),
            "identity_key": client.identity_key,
        }
    )
    reply = await client.reply()
    assert reply["id"] == "req-1"
    assert reply["status"] == "OK"
