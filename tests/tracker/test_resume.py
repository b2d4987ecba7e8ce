"""Resumption tickets: back after a restart without argon2, single use, revocable."""

from __future__ import annotations

import asyncio

from tests.tracker_client import TrackerTestClient

#: Cheap server-side argon2 so that 500 accounts are set up in seconds (tests only).
WEAK_ARGON2 = {
    "allow_weak_argon2": True,
    "argon2_memory_kib": 8,
    "argon2_time_cost": 1,
    "hash_workers": 2,
}
SESSIONS = 500
PAIR = 2


async def _in_chunks(coros, size: int = 100) -> list:
    results = []
    for start in range(0, len(coros), size):
        results += await asyncio.gather(*coros[start : start + size])
    return results


async def test_500_sessions_come_back_after_a_restart_without_argon2(tracker_factory, tmp_path):
    data_dir = tmp_path / "restart"
    first = await tracker_factory(data_dir=data_dir, **WEAK_ARGON2)
    port = first.port
    names = [f"user{i:03d}" for i in range(SESSIONS)]

    async def log_in(name: str) -> TrackerTestClient:
        client = await TrackerTestClient.connect("127.0.0.1", port, first.cert_path)
        assert (await client.register(name))["status"] == "OK"
        assert (await client.login(name, port=41000))["status"] == "OK"
        return client

    clients = await _in_chunks([log_in(name) for name in names])
    rooms = {name: f"room{i // PAIR:03d}" for i, name in enumerate(names)}
    for i, client in enumerate(clients):
        cmd = "CREATE_ROOM" if i % PAIR == 0 else "JOIN_ROOM"
        assert (await client.request(cmd, room=rooms[names[i]]))["status"] == "OK"
    tickets = [client.ticket for client in clients]
    assert all(tickets) and len(set(tickets)) == SESSIONS

    await first.stop()
    await asyncio.gather(*(client.wait_closed() for client in clients))
    for client in clients:
        await client.close()

    second = await tracker_factory(data_dir=data_dir, port=port, **WEAK_ARGON2)
    assert second._hashing is not None
    before = second._hashing.verifications

    async def come_back(i: int) -> TrackerTestClient:
        client = await TrackerTestClient.connect("127.0.0.1", port, second.cert_path)
        client.identity_key = clients[i].identity_key
        reply = await client.resume(names[i], tickets[i], port=41000)
        assert reply["status"] == "OK", reply
        joined = await client.request("JOIN_ROOM", room=rooms[names[i]])
        assert joined["status"] == "OK", joined
        return client

    back = await _in_chunks([come_back(i) for i in range(SESSIONS)])
    try:
        assert second._hashing.verifications == before == 0
        assert second.counters["resumed"] == SESSIONS
        assert sorted(second.state.online) == names
        for i in range(0, SESSIONS, PAIR):
            room = second.state.rooms[rooms[names[i]]]
            assert sorted(room.members) == sorted(names[i : i + PAIR])
        assert all(client.ticket not in tickets for client in back)
    finally:
        for client in back:
            await client.close()


async def test_a_replayed_ticket_ends_both_sessions(tracker, connect):
    alice = await connect(tracker)
    await alice.register("alice")
    await alice.login("alice")
    stolen = alice.ticket

    thief = await connect(tracker)
    thief.identity_key = alice.identity_key  # public: the tracker publishes it
    assert (await thief.resume("alice", stolen))["status"] == "OK"
    await alice.push("SESSION_REPLACED")
    await alice.wait_closed()
    next_ticket = thief.ticket

    again = await connect(tracker)
    again.identity_key = alice.identity_key
    refused = await again.resume("alice", stolen)
    assert refused["code"] == "ticket_reused"
    ended = await thief.push("SESSION_ENDED")
    assert ended["reason"] == "ticket_reused"
    await thief.wait_closed()
    assert "alice" not in tracker.state.online

    other = await connect(tracker)
    other.identity_key = alice.identity_key
    assert (await other.resume("alice", next_ticket))["code"] == "ticket_invalid"
    assert (await other.login("alice"))["status"] == "OK"


async def test_a_replayed_ticket_is_answered_even_if_ending_the_sessions_fails(
    tracker, connect, monkeypatch
):
    """Ending the holder's sessions can fail (a group's database down): the presenter
    of the reused ticket is still answered, not left waiting."""
    alice = await connect(tracker)
    await alice.register("alice")
    await alice.login("alice")
    stolen = alice.ticket
    thief = await connect(tracker)
    thief.identity_key = alice.identity_key
    assert (await thief.resume("alice", stolen))["status"] == "OK"

    async def database_down(username: str, reason: str) -> None:
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(tracker.account_commands, "end_sessions_of", database_down)
    again = await connect(tracker)
    again.identity_key = alice.identity_key
    assert (await again.resume("alice", stolen))["code"] == "ticket_reused"


async def test_a_ticket_is_single_use_and_the_next_one_works(tracker, connect):
    alice = await connect(tracker)
    await alice.register("alice")
    await alice.login("alice")
    first = alice.ticket
    await alice.close()
    second = await connect(tracker)
    second.identity_key = alice.identity_key
    assert (await second.resume("alice", first))["status"] == "OK"
    assert second.ticket != first
    await second.close()
    third = await connect(tracker)
    third.identity_key = alice.identity_key
    assert (await third.resume("alice", second.ticket))["status"] == "OK"


async def test_logout_revokes_the_ticket(tracker, connect):
    alice = await connect(tracker)
    await alice.register("alice")
    await alice.login("alice")
    ticket = alice.ticket
    assert (await alice.request("LOGOUT"))["status"] == "OK"
    back = await connect(tracker)
    back.identity_key = alice.identity_key
    assert (await back.resume("alice", ticket))["code"] == "ticket_invalid"


async def test_a_stolen_ticket_dies_at_the_owners_next_login(tracker, connect):
    """The attack: a thief copies alice's live ticket and keeps it; alice restarts her
    client and logs in with her password. One live ticket per user: her login revoked
    the stolen one, which would otherwise resume (and renew itself) for a week."""
    alice = await connect(tracker)
    await alice.register("alice")
    await alice.login("alice")
    stolen = alice.ticket
    await alice.close()
    restarted = await connect(tracker)
    restarted.identity_key = alice.identity_key
    assert (await restarted.login("alice"))["status"] == "OK"

    thief = await connect(tracker)
    thief.identity_key = alice.identity_key  # public: the tracker publishes it
    assert (await thief.resume("alice", stolen))["code"] == "ticket_invalid"
    assert "alice" in tracker.state.online  # the owner's session is untouched
    # Her own ticket still brings her back.
    await restarted.close()
    back = await connect(tracker)
    back.identity_key = alice.identity_key
    assert (await back.resume("alice", restarted.ticket))["status"] == "OK"


async def test_a_renewed_stolen_ticket_dies_at_the_owners_next_login(tracker, connect):
    """The thief resumes first and renews the ticket (alice sees her session replaced);
    alice logs in again with her password: the thief's renewed ticket is dead."""
    alice = await connect(tracker)
    await alice.register("alice")
    await alice.login("alice")
    thief = await connect(tracker)
    thief.identity_key = alice.identity_key
    assert (await thief.resume("alice", alice.ticket))["status"] == "OK"
    renewed = thief.ticket
    await alice.push("SESSION_REPLACED")
    again = await connect(tracker)
    again.identity_key = alice.identity_key
    assert (await again.login("alice"))["status"] == "OK"
    await thief.wait_closed()

    later = await connect(tracker)
    later.identity_key = alice.identity_key
    assert (await later.resume("alice", renewed))["code"] == "ticket_invalid"
    assert "alice" in tracker.state.online


async def test_replace_key_revokes_the_tickets(tracker, connect):
    alice = await connect(tracker)
    await alice.register("alice")
    await alice.login("alice")
    ticket = alice.ticket
    await alice.close()
    moved = await connect(tracker)  # a new machine: a new identity key
    reply = await moved.login("alice", replace_key=True)
    assert reply["status"] == "OK"
    old = await connect(tracker)
    old.identity_key = alice.identity_key
    assert (await old.resume("alice", ticket))["code"] == "ticket_invalid"
    new = await connect(tracker)
    new.identity_key = moved.identity_key
    assert (await new.resume("alice", ticket))["code"] == "ticket_invalid"


async def test_a_ticket_is_bound_to_its_user_key_and_lifetime(tracker_factory, connect):
    tracker = await tracker_factory(ticket_lifetime=1.0)
    alice = await connect(tracker)
    await alice.register("alice")
    await alice.login("alice")
    bob = await connect(tracker)
    await bob.register("bob")
    assert (await bob.resume("bob", alice.ticket))["code"] == "ticket_invalid"
    other_key = await connect(tracker)
    assert (await other_key.resume("alice", alice.ticket))["code"] == "ticket_invalid"
    await asyncio.sleep(1.2)  # the lifetime under test, not a wait for an event
    late = await connect(tracker)
    late.identity_key = alice.identity_key
    assert (await late.resume("alice", alice.ticket))["code"] == "ticket_invalid"


async def test_bad_tickets_are_rate_limited_per_source(tracker_factory, connect):
    tracker = await tracker_factory(trusted_networks=(), resume_failures_burst=5)
    client = await connect(tracker, "127.0.0.2")
    codes = []
    for i in range(8):
        reply = await client.resume("alice", f"{i:02d}" + "x" * 30)
        codes.append(reply["code"])
    assert codes[:5] == ["ticket_invalid"] * 5
    assert codes[5:] == ["rate_limited"] * 3
    elsewhere = await connect(tracker, "127.0.0.3")
    assert (await elsewhere.resume("alice", "y" * 32))["code"] == "ticket_invalid"


async def test_a_full_login_queue_makes_newcomers_wait_not_fail(tracker_factory, connect):
    """After a restart every client reconnects at once: while the connections logging in
    fill their cap, new ones wait in the kernel's queue instead of being refused."""
    tracker = await tracker_factory(max_unauthenticated=3)
    first, *_others = [await connect(tracker) for _ in range(3)]
    waiting = asyncio.create_task(connect(tracker))
    listener = tracker._listener
    assert listener is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while listener.errors["paused_full"] == 0:
        assert loop.time() < deadline, "the listener never paused"
        await asyncio.sleep(0.01)
    assert not waiting.done()
    await first.register("alice")
    assert (await first.login("alice"))["status"] == "OK"  # a slot frees up
    newcomer = await asyncio.wait_for(waiting, 5)
    await newcomer.register("bob")
    assert (await newcomer.login("bob"))["status"] == "OK"
    assert tracker.counters["rejected"] == tracker.counters["dropped"] == 0
