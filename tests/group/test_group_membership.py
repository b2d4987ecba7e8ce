"""Durable membership in a group of trackers (issue 21): members are shared and survive a
restart of every tracker; presence and the login ``rooms`` are right whichever tracker
each user is on; a database from before durable members migrates."""

from __future__ import annotations

import signal

import psycopg

from commons.codec import JsonObject
from tests.group.test_group_failover import _tracker_process
from tests.tracker_client import TrackerTestClient
from tests.tracker_process import stop_tracker_process


async def presence(client: TrackerTestClient, name: str, online: bool) -> JsonObject:
    """The next PRESENCE saying ``name`` is ``online`` (others are skipped)."""
    while True:
        push = await client.push("PRESENCE")
        if (push["username"], push["online"]) == (name, online):
            return push


async def test_memberships_cross_trackers_and_survive_restarting_them_all(
    tracker_factory, pg_database, user, connect
):
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    alice = await user(a, "alice", port=40001)
    bob = await user(b, "bob", port=40002)
    carol = await user(a, "carol", port=40003)
    for room in ("zeta", "alpha"):
        assert (await alice.request("CREATE_ROOM", room=room))["status"] == "OK"
    for room in ("alpha", "zeta"):
        assert (await bob.request("JOIN_ROOM", room=room))["status"] == "OK"
    assert (await carol.request("JOIN_ROOM", room="zeta", relay_only=True))["status"] == "OK"

    await bob.close()  # bob (on B) goes offline: one PRESENCE to each room-mate on A
    to_alice = await presence(alice, "bob", False)
    assert to_alice["rooms"] == ["alpha", "zeta"]
    assert (await presence(carol, "bob", False))["rooms"] == ["zeta"]
    back = await connect(a)  # and comes back on the other tracker
    back.identity_key = bob.identity_key
    reply = await back.login("bob", port=40004)
    assert [item["room"]["room"] for item in reply["rooms"]] == ["alpha", "zeta"]
    assert reply["rooms"][1]["room"]["members"] == ["alice", "bob", "carol"]
    assert reply["rooms"][1]["members"][2] == {
        "username": "carol",
        "online": True,
        "identity_key": carol.identity_key,
    }
    online = await presence(alice, "bob", True)
    assert online["member"]["port"] == 40004
    await alice.request("PING")
    assert [p["event"] for p in alice.pending_pushes()] == []  # no ROOM_UPDATE for presence

    # carol (on A) is kicked while offline: B's copy and the database drop her for good.
    await carol.close()
    await presence(alice, "carol", False)
    assert (await alice.request("KICK", room="zeta", user="carol"))["status"] == "OK"

    for tracker in (a, b):
        await tracker.stop()
    c = await tracker_factory(database=pg_database)
    again = await connect(c)
    again.identity_key = alice.identity_key
    reply = await again.login("alice")
    rooms = [(i["room"]["room"], i["room"]["members"]) for i in reply["rooms"]]
    assert rooms == [("zeta", ["alice", "bob"]), ("alpha", ["alice", "bob"])]


async def test_a_database_from_before_durable_members_migrates(tracker_factory, pg_database, user):
    """rooms.members used to hold who was in a room live: such a database starts with its
    rooms as they were and no members (owners not added)."""
    first = await tracker_factory(database=pg_database)
    alice = await user(first, "alice")
    assert (await alice.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    await first.stop()
    async with await psycopg.AsyncConnection.connect(pg_database, autocommit=True) as conn:
        await conn.execute("ALTER TABLE rooms DROP COLUMN member_relay_only")
        await conn.execute("UPDATE rooms SET members = '{ghost}'")  # a live list of old
    second = await tracker_factory(database=pg_database)
    bob = await user(second, "bob")
    listed = (await bob.request("LIST_ROOMS"))["rooms"]
    assert [(r["room"], r["owner"], r["members"]) for r in listed] == [("lobby", "alice", [])]
    assert (await bob.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    await second.stop()
    third = await tracker_factory(database=pg_database)
    carol = await user(third, "carol")
    listed = (await carol.request("LIST_ROOMS"))["rooms"]
    assert listed[0]["members"] == ["bob"]


async def test_memberships_survive_kill_9_of_a_postgresql_tracker(tmp_path, pg_database):
    """The PostgreSQL twin of tracker/test_membership_durable.py: create and join on a
    tracker process, kill -9 it, start another on the same database, log in again."""
    proc, port = await _tracker_process(tmp_path / "a", pg_database)
    clients: list[TrackerTestClient] = []
    try:
        for name in ("alice", "bob"):
            client = await TrackerTestClient.connect(
                "127.0.0.1", port, tmp_path / "a" / "tracker-cert.pem"
            )
            clients.append(client)
            assert (await client.register(name))["status"] == "OK"
            assert (await client.login(name))["status"] == "OK"
        alice, bob = clients
        for room in ("zeta", "alpha"):
            assert (await alice.request("CREATE_ROOM", room=room))["status"] == "OK"
        for room in ("zeta", "alpha"):
            assert (await bob.request("JOIN_ROOM", room=room))["status"] == "OK"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        for client in clients:
            await client.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    again, port = await _tracker_process(tmp_path / "b", pg_database)
    try:
        back = await TrackerTestClient.connect(
            "127.0.0.1", port, tmp_path / "b" / "tracker-cert.pem"
        )
        back.identity_key = bob.identity_key
        reply = await back.login("bob")
        rooms = [(i["room"]["room"], i["room"]["members"]) for i in reply["rooms"]]
        assert rooms == [("zeta", ["alice", "bob"]), ("alpha", ["alice", "bob"])]
        await back.close()
    finally:
        assert await stop_tracker_process(again) == 0
