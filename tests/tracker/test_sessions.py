"""Who may act as whom, pushes to exactly the right members, session replacement."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("cmd", ["CREATE_ROOM", "JOIN_ROOM", "DELETE_ROOM"])
async def test_acting_as_another_user_is_forbidden(tracker, user, cmd):
    bob = await user(tracker, "bob")
    await bob.request("CREATE_ROOM", room="bobs")
    alice = await user(tracker, "alice")
    reply = await alice.request(cmd, room="bobs", username="bob")
    assert reply["code"] == "forbidden"
    rooms = (await bob.request("LIST_ROOMS"))["rooms"]
    assert rooms == [
        {
            "room": "bobs",
            "owner": "bob",
            "members": ["bob"],
            "online": ["bob"],
            "capacity": 16,
            "invite_only": False,
        }
    ]


async def test_naming_yourself_is_fine(tracker, user):
    alice = await user(tracker, "alice")
    reply = await alice.request("CREATE_ROOM", room="mine", username="alice")
    assert reply["status"] == "OK"


async def test_only_the_owner_deletes_a_room(tracker, user):
    bob = await user(tracker, "bob")
    await bob.request("CREATE_ROOM", room="bobs")
    alice = await user(tracker, "alice")
    await alice.request("JOIN_ROOM", room="bobs")
    reply = await alice.request("DELETE_ROOM", room="bobs")
    assert reply["code"] == "not_owner"
    assert [r["room"] for r in (await alice.request("LIST_ROOMS"))["rooms"]] == ["bobs"]


async def test_room_update_reaches_members_and_no_one_else(tracker, user):
    alice = await user(tracker, "alice", port=4001)
    bob = await user(tracker, "bob", port=4002)
    outsider = await user(tracker, "carol")
    await alice.request("CREATE_ROOM", room="lobby")
    first = await alice.push("ROOM_UPDATE")
    assert [m["username"] for m in first["members"]] == ["alice"]
    await bob.request("JOIN_ROOM", room="lobby")
    update = await alice.push("ROOM_UPDATE")
    assert update["room"] == "lobby"
    assert update["owner"] == "alice"
    assert update["capacity"] == 16
    assert update["members"] == [
        {
            "username": "alice",
            "online": True,
            "host": "127.0.0.1",
            "port": 4001,
            "identity_key": alice.identity_key,
        },
        {
            "username": "bob",
            "online": True,
            "host": "127.0.0.1",
            "port": 4002,
            "identity_key": bob.identity_key,
        },
    ]
    assert (await bob.push("ROOM_UPDATE"))["members"] == update["members"]
    await bob.request("LEAVE_ROOM")
    after_leave = await alice.push("ROOM_UPDATE")
    assert [m["username"] for m in after_leave["members"]] == ["alice"]
    # A round trip on each client orders everything the tracker sent before it.
    await outsider.request("PING")
    await bob.request("PING")
    assert outsider.pending_pushes() == []
    assert [p["event"] for p in bob.pending_pushes()] == []


async def test_delete_pushes_room_deleted_to_members(tracker, user):
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    carol = await user(tracker, "carol")
    await alice.request("CREATE_ROOM", room="lobby")
    await bob.request("JOIN_ROOM", room="lobby")
    assert (await alice.request("DELETE_ROOM", room="lobby"))["status"] == "OK"
    assert await bob.push("ROOM_DELETED") == {"event": "ROOM_DELETED", "room": "lobby"}
    await carol.request("PING")
    assert carol.pending_pushes() == []
    peers = {p["username"]: p["room"] for p in (await bob.request("LIST_PEERS"))["peers"]}
    assert peers == {"alice": None, "bob": None, "carol": None}


async def test_disconnect_keeps_the_member_and_tells_presence(tracker, user):
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    await alice.request("CREATE_ROOM", room="lobby")
    await bob.request("JOIN_ROOM", room="lobby")
    await alice.push("ROOM_UPDATE")
    await alice.push("ROOM_UPDATE")
    await bob.close()
    presence = await alice.push("PRESENCE")
    assert presence == {
        "event": "PRESENCE",
        "username": "bob",
        "online": False,
        "rooms": ["lobby"],
        "member": {"username": "bob", "online": False},
    }
    rooms = (await alice.request("LIST_ROOMS"))["rooms"]
    assert (rooms[0]["members"], rooms[0]["online"]) == (["alice", "bob"], ["alice"])
    peers = [p["username"] for p in (await alice.request("LIST_PEERS"))["peers"]]
    assert peers == ["alice"]


async def test_new_login_replaces_old_session(tracker, user, connect):
    old = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    await old.request("CREATE_ROOM", room="lobby")
    await bob.request("JOIN_ROOM", room="lobby")
    new = await connect(tracker)
    new.identity_key = old.identity_key
    assert (await new.login("alice"))["status"] == "OK"
    assert await old.push("SESSION_REPLACED") == {"event": "SESSION_REPLACED"}
    await old.wait_closed()
    presence = await bob.push("PRESENCE")
    assert (presence["username"], presence["online"]) == ("alice", True)
    await bob.request("PING")
    assert [p["event"] for p in bob.pending_pushes()] == []  # no offline/online flap
    peers = [p["username"] for p in (await new.request("LIST_PEERS"))["peers"]]
    assert sorted(peers) == ["alice", "bob"]


async def test_identity_key_mismatch_and_explicit_replacement(tracker, user, connect):
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    await bob.request("CREATE_ROOM", room="lobby")
    await alice.request("JOIN_ROOM", room="lobby")
    other = await connect(tracker)
    refused = await other.login("alice")
    assert refused["code"] == "key_mismatch"
    assert (await alice.request("PING"))["status"] == "OK"
    replaced = await other.login("alice", replace_key=True)
    assert replaced["status"] == "OK"
    changed = await bob.push("KEY_CHANGED")
    assert changed == {
        "event": "KEY_CHANGED",
        "username": "alice",
        "identity_key": other.identity_key,
    }
    peers = {p["username"]: p for p in (await other.request("LIST_PEERS"))["peers"]}
    assert peers["alice"]["identity_key"] == other.identity_key
    third = await connect(tracker)
    third.identity_key = other.identity_key
    assert (await third.login("alice"))["status"] == "OK"
    assert await other.push("SESSION_REPLACED") == {"event": "SESSION_REPLACED"}
