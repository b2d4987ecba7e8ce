"""Two trackers on one PostgreSQL database serve one community."""

from __future__ import annotations

import asyncio
import time

from peer.events import MessageReceived
from tests.peers import TIMEOUT
from tests.tracker_client import TrackerTestClient


async def online(client: TrackerTestClient, name: str) -> None:
    """Wait until ``client``'s tracker lists ``name`` (changes reach it in milliseconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (await client.request("LOOKUP", user=name))["status"] != "OK":
        assert loop.time() < deadline, f"{name} never showed up"
        await asyncio.sleep(0.02)


async def members_update(client: TrackerTestClient, expected: list[str]) -> dict:
    """The next ROOM_UPDATE listing exactly ``expected`` (earlier ones are skipped)."""
    while True:
        update = await client.push("ROOM_UPDATE")
        if [m["username"] for m in update["members"]] == expected:
            return update


async def test_a_room_is_shared_and_pushes_cross_trackers(tracker_factory, pg_database, user):
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    alice = await user(a, "alice", port=40001)
    bob = await user(b, "bob", port=40002)

    assert (await alice.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    joined = await bob.request("JOIN_ROOM", room="lobby")
    assert joined["status"] == "OK", joined
    assert [m["username"] for m in joined["members"]] == ["alice", "bob"]
    update = await members_update(alice, ["alice", "bob"])
    assert update["members"][1]["port"] == 40002

    rooms = (await bob.request("LIST_ROOMS"))["rooms"]
    assert rooms[0]["members"] == ["alice", "bob"]
    peers = (await alice.request("LIST_PEERS"))["peers"]
    assert [p["username"] for p in peers] == ["alice", "bob"]

    assert (await bob.request("LEAVE_ROOM"))["status"] == "OK"
    await members_update(alice, ["alice"])


async def test_one_login_replaces_a_session_held_on_another_tracker(
    tracker_factory, pg_database, user, connect
):
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    first = await user(a, "alice")
    second = await connect(b)
    second.identity_key = first.identity_key
    assert (await second.login("alice", port=40009))["status"] == "OK"
    await first.push("SESSION_REPLACED")
    await first.wait_closed()
    peers = (await second.request("LIST_PEERS"))["peers"]
    assert [p["username"] for p in peers] == ["alice"]
    seen_from_a = a.state.online["alice"]
    assert seen_from_a.tracker is not None and seen_from_a.port == 40009


async def test_owner_control_crosses_trackers(tracker_factory, pg_database, user):
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    assert (await alice.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    assert (await bob.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    assert (await alice.request("BAN", room="lobby", user="bob"))["status"] == "OK"
    kicked = await bob.push("KICKED")
    assert (kicked["room"], kicked["by"], kicked["reason"]) == ("lobby", "alice", "banned")
    assert (await bob.request("JOIN_ROOM", room="lobby"))["code"] == "banned"
    assert (await alice.request("SET_ROOM", room="lobby", invite_only=True))["status"] == "OK"
    assert (await alice.request("UNBAN", room="lobby", user="bob"))["status"] == "OK"
    assert (await alice.request("INVITE", room="lobby", user="bob"))["status"] == "OK"
    invited = await bob.push("INVITED")
    assert invited["room"] == "lobby"
    assert (await bob.request("JOIN_ROOM", room="lobby"))["status"] == "OK"


async def test_a_kick_on_one_tracker_says_removed_on_the_other(tracker_factory, pg_database, user):
    """Members on B learn that a member was taken out on purpose, not merely dropped,
    so they close their channel to them at once (see peer/core/room.py)."""
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    carol = await user(a, "carol")
    assert (await alice.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    assert (await bob.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    assert (await carol.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    await members_update(bob, ["alice", "bob", "carol"])
    await members_update(alice, ["alice", "bob", "carol"])
    assert (await alice.request("KICK", room="lobby", user="carol"))["status"] == "OK"
    update = await members_update(bob, ["alice", "bob"])
    assert update["removed"] == {"username": "carol", "reason": "kicked"}
    await members_update(alice, ["alice", "bob"])
    assert (await bob.request("LEAVE_ROOM"))["status"] == "OK"
    update = await members_update(alice, ["alice"])
    assert update["removed"] == {"username": "bob", "reason": "left"}
    assert (await bob.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    await members_update(alice, ["alice", "bob"])
    await bob.close()  # a connection that ends is presence, not a membership change
    presence = await alice.push("PRESENCE")
    assert (presence["username"], presence["online"], presence["rooms"]) == (
        "bob",
        False,
        ["lobby"],
    )
    rooms = (await alice.request("LIST_ROOMS"))["rooms"]
    assert (rooms[0]["members"], rooms[0]["online"]) == (["alice", "bob"], ["alice"])


async def test_a_ticket_from_one_tracker_resumes_on_another(
    tracker_factory, pg_database, user, connect
):
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    alice = await user(a, "alice")
    ticket = alice.ticket
    await alice.close()
    back = await connect(b)
    back.identity_key = alice.identity_key
    assert (await back.resume("alice", ticket))["status"] == "OK"
    assert b._hashing is not None and b._hashing.verifications == 0
    assert (await back.resume("alice", ticket))["code"] == "already_authenticated"
    again = await connect(a)
    again.identity_key = alice.identity_key
    assert (await again.resume("alice", ticket))["code"] == "ticket_reused"
    await back.push("SESSION_ENDED")


async def test_a_stolen_ticket_dies_when_its_owner_logs_in_on_another_tracker(
    tracker_factory, pg_database, user, connect
):
    """PostgreSQL store: alice's ticket, copied by a thief, is revoked by her password
    login on the other tracker of the group (one live ticket per user)."""
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    alice = await user(a, "alice")
    stolen = alice.ticket
    await alice.close()
    again = await connect(b)
    again.identity_key = alice.identity_key
    assert (await again.login("alice"))["status"] == "OK"
    thief = await connect(a)
    thief.identity_key = alice.identity_key
    assert (await thief.resume("alice", stolen))["code"] == "ticket_invalid"
    await again.close()
    back = await connect(a)
    back.identity_key = alice.identity_key
    assert (await back.resume("alice", again.ticket))["status"] == "OK"


async def test_a_stopped_tracker_takes_its_users_offline_at_once_members_stay(
    tracker_factory, pg_database, user
):
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    assert (await bob.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    assert (await alice.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    await members_update(bob, ["bob", "alice"])
    await a.stop()
    presence = await bob.push("PRESENCE")
    assert (presence["username"], presence["online"]) == ("alice", False)
    assert "alice" not in b.state.online
    assert b.state.rooms["lobby"].members == ["bob", "alice"]


async def test_peers_on_two_trackers_chat(tracker_factory, pg_database, peer_factory):
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    alice = await peer_factory(a, "alice")
    bob = await peer_factory(b, "bob")
    await alice.client.create_room("lobby")
    await bob.client.join_room("lobby")
    await asyncio.wait_for(alice.client.wait_channels(["bob"]), TIMEOUT)
    await alice.client.send_room("lobby", "hello across trackers")
    received = await bob.wait_for(MessageReceived)
    assert received[0].text == "hello across trackers" and received[0].sender == "alice"
    await bob.client.send_private("alice", "and back")
    assert (await alice.wait_for(MessageReceived))[0].text == "and back"


async def test_a_login_backoff_follows_the_guesser_to_another_tracker(
    tracker_factory, pg_database, connect
):
    limits = {"throttle_address_failures": 3, "throttle_base_delay": 30.0}
    a = await tracker_factory(database=pg_database, **limits)
    b = await tracker_factory(database=pg_database, **limits)
    guesser = await connect(a, "127.0.0.2")
    codes = [(await guesser.login(f"user{i}"))["code"] for i in range(4)]
    assert codes == ["auth_failed"] * 3 + ["throttled"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10  # the trackers exchange throttles every 2 s
    while b.accounts._throttle.retry_after("anyone", "127.0.0.2", time.time()) == 0:
        assert loop.time() < deadline, "tracker B never learnt of the failures on A"
        await asyncio.sleep(0.1)
    elsewhere = await connect(b, "127.0.0.2")
    assert (await elsewhere.login("anyone"))["code"] == "throttled"


async def test_two_departures_in_one_group_batch_are_both_named_on_the_other_tracker(
    tracker_factory, pg_database, user
):
    """A kick and a leave from two connections land in one batch of tracker A; the room
    rows then say only who is left, so B must still name both members who went, or a
    kicked member with a live channel would stay detached at B's members."""
    a = await tracker_factory(database=pg_database, room_capacity=8)
    b = await tracker_factory(database=pg_database, room_capacity=8)
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    kicked = await user(a, "xkicked")
    leaver = await user(a, "yleaver")
    busy = await user(a, "zbusy")
    assert (await alice.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    for member in (bob, kicked, leaver):
        assert (await member.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    await members_update(bob, ["alice", "bob", "xkicked", "yleaver"])
    # zbusy's command starts a batch; the kick and the leave queue behind it, together.
    await busy.send({"cmd": "CREATE_ROOM", "id": 800, "room": "other"})
    await asyncio.gather(
        alice.send({"cmd": "KICK", "id": 900, "room": "lobby", "user": "xkicked"}),
        leaver.send({"cmd": "LEAVE_ROOM", "id": 901}),
    )
    named: dict[str, str] = {}
    while len(named) < 2:
        update = await bob.push("ROOM_UPDATE")
        if "removed" in update:
            named[update["removed"]["username"]] = update["removed"]["reason"]
    assert named == {"xkicked": "kicked", "yleaver": "left"}
    assert [m["username"] for m in update["members"]] == ["alice", "bob"]


async def test_a_relay_only_member_has_no_address_on_another_tracker(
    tracker_factory, pg_database, user
):
    """alice (tracker A) creates a room relay-only; bob joins it on tracker B: B lists her
    without an address too. Her choice changed while in the room reaches B's members."""
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    alice = await user(a, "alice", port=40001)
    bob = await user(b, "bob", port=40002)
    hidden = {"username": "alice", "online": True, "identity_key": alice.identity_key}
    created = await alice.request("CREATE_ROOM", room="lobby", relay_only=True)
    assert created["status"] == "OK", created
    joined = await bob.request("JOIN_ROOM", room="lobby")
    assert joined["status"] == "OK", joined
    assert joined["members"][0] == hidden
    update = await members_update(alice, ["alice", "bob"])
    assert update["members"][0] == hidden and update["members"][1]["port"] == 40002
    assert (await alice.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    while (update := await members_update(bob, ["alice", "bob"]))["members"][0] == hidden:
        pass
    assert update["members"][0]["port"] == 40001
    assert (await alice.request("JOIN_ROOM", room="lobby", relay_only=True))["status"] == "OK"
    while (update := await members_update(bob, ["alice", "bob"]))["members"][0] != hidden:
        pass
