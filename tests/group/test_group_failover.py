"""Trackers of a group die: the others clean up within the lease; nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import signal

import psycopg

from commons.codec import JsonObject
from tests.group.test_two_trackers import members_update
from tests.tracker_client import TrackerTestClient
from tests.tracker_process import read_banner, start_tracker_process, stop_tracker_process

LEASE = 3.0
#: Expiry comes at most one lease after the last renewal, which is at most the kill;
#: the others look every third of a lease; plus a second for the transaction.
CLEANED_WITHIN = LEASE + LEASE / 3 + 1.0
CHEAP_LOGIN = ("--login-kdf-memory-kib", "8", "--login-kdf-iterations", "1")


async def presence(client: TrackerTestClient, name: str, online: bool) -> JsonObject:
    """The next PRESENCE saying ``name`` is ``online`` (others are skipped)."""
    while True:
        push = await client.push("PRESENCE")
        if (push["username"], push["online"]) == (name, online):
            return push


async def _tracker_process(data_dir, database: str):
    proc = await start_tracker_process(
        data_dir,
        "--database",
        database,
        "--lease-seconds",
        str(LEASE),
        "--trusted-network",
        "127.0.0.1/32",
        *CHEAP_LOGIN,
    )
    port, _ = await read_banner(proc)
    return proc, port


async def test_a_killed_trackers_users_go_offline_in_the_others_rooms_within_the_lease(
    tmp_path, tracker_factory, pg_database, user, connect
):
    proc, port = await _tracker_process(tmp_path / "a", pg_database)
    try:
        b = await tracker_factory(database=pg_database, lease_seconds=LEASE)
        alice = await TrackerTestClient.connect(
            "127.0.0.1", port, tmp_path / "a" / "tracker-cert.pem"
        )
        assert (await alice.register("alice"))["status"] == "OK"
        assert (await alice.login("alice"))["status"] == "OK"
        bob = await user(b, "bob")
        assert (await bob.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
        assert (await alice.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
        await members_update(bob, ["bob", "alice"])

        loop = asyncio.get_running_loop()
        killed = loop.time()
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        update = await asyncio.wait_for(presence(bob, "alice", False), CLEANED_WITHIN + 5)
        elapsed = loop.time() - killed
        assert update["rooms"] == ["lobby"]
        assert elapsed <= CLEANED_WITHIN, f"{elapsed:.1f} s"
        assert b.state.rooms["lobby"].members == ["bob", "alice"]  # still a member
        peers = (await bob.request("LIST_PEERS"))["peers"]
        assert [p["username"] for p in peers] == ["bob"]
        assert b.group is not None and b.group.counters["reaped"] == 1

        # alice comes back on the surviving tracker with her ticket: no argon2 there.
        await alice.close()
        back = await connect(b)
        back.identity_key = alice.identity_key
        resumed = await back.resume("alice", alice.ticket)
        assert resumed["status"] == "OK"
        assert [item["room"]["room"] for item in resumed["rooms"]] == ["lobby"]
        await presence(bob, "alice", True)
        assert b._hashing is not None and b._hashing.verifications == 1  # bob's login only
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_an_acknowledged_registration_survives_kill_9_on_postgresql(tmp_path, pg_database):
    proc, port = await _tracker_process(tmp_path / "a", pg_database)
    client = await TrackerTestClient.connect("127.0.0.1", port, tmp_path / "a" / "tracker-cert.pem")
    try:
        assert (await client.register("alice"))["status"] == "OK"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        await client.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    again, port = await _tracker_process(tmp_path / "b", pg_database)
    try:
        other = await TrackerTestClient.connect(
            "127.0.0.1", port, tmp_path / "b" / "tracker-cert.pem"
        )
        other.identity_key = client.identity_key
        assert (await other.login("alice"))["status"] == "OK"
        assert (await other.register("alice"))["code"] in ("already_authenticated",)
        await other.close()
    finally:
        assert await stop_tracker_process(again) == 0


async def test_a_tracker_that_lost_its_lease_closes_its_sessions_and_rejoins(
    tracker_factory, pg_database, user, connect
):
    """Tracker A stalled long enough for B to reap it (here: its lease is made to expire
    while A still runs). B ends A's sessions at once; A, at its next renewal, finds its
    lease gone, closes its sessions (the group no longer has them) and joins again under
    a new id, after which its users log in there as usual."""
    # A renews every 6 s; B looks for expired leases every second: B reaps first.
    a = await tracker_factory(database=pg_database, lease_seconds=18.0)
    b = await tracker_factory(database=pg_database, lease_seconds=LEASE)
    assert a.group is not None and b.group is not None
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    assert (await bob.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    assert (await alice.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    await members_update(bob, ["bob", "alice"])
    first_id = a.group.me

    async with await psycopg.AsyncConnection.connect(pg_database, autocommit=True) as conn:
        await conn.execute(
            "UPDATE trackers SET lease_until = extract(epoch from clock_timestamp()) - 1"
            " WHERE id = %s",
            (first_id,),
        )
    await asyncio.wait_for(presence(bob, "alice", False), 10)  # B reaped A
    assert b.group.counters["reaped"] == 1

    # A drops alice as soon as it reads B's change, and rejoins at its next renewal.
    await asyncio.wait_for(alice.wait_closed(), 10)

    async def rejoined() -> None:
        while a.group.counters["rejoined"] == 0:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(rejoined(), 20)
    assert a.group.me != first_id
    again = await connect(a)
    again.identity_key = alice.identity_key
    logged_in = await again.login("alice")
    assert [item["room"]["room"] for item in logged_in["rooms"]] == ["lobby"]
    await presence(bob, "alice", True)
    peers = (await bob.request("LIST_PEERS"))["peers"]
    assert [p["username"] for p in peers] == ["alice", "bob"]
