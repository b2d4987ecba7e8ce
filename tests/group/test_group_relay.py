"""Relayed frames between two trackers of one group (tracker/group/relay.py): real
peers chat through the relay across trackers, and every limit of the relay holds there
too (rate, pairs, slow receivers, ``--no-relay``, a receiver's tracker killed)."""

from __future__ import annotations

import asyncio
import base64
import signal
from pathlib import Path

from commons.relay_frames import RelayFrame, relay_request
from peer.events import ChannelOpened, MessageDelivered, MessageReceived
from tests.conftest import TrackerFactory, UserFactory
from tests.group.test_group_failover import LEASE, _tracker_process
from tests.group.test_two_trackers import online
from tests.peers import TIMEOUT, PeerFactory
from tests.tracker_client import TrackerTestClient
from tracker.group.relay import GroupRelay, Outgoing, admit
from tracker.group.replica import RemoteSession
from tracker.server.server import TrackerServer
from tracker.state.tracker_state import Forward

#: Relay budgets no test here reaches (floods that only the queues bound).
UNLIMITED: dict[str, object] = {
    "relay_bytes_per_second": 512 * 1024 * 1024.0,
    "relay_burst_bytes": 1024 * 1024 * 1024.0,
    "relay_frames_per_second": 100_000.0,
    "relay_burst_frames": 100_000.0,
}


def _body_of(message: dict[str, object]) -> bytes:
    return base64.b64decode(str(message["data"]))


def _record_rows(relay: GroupRelay | None) -> list[Outgoing]:
    """What ``relay`` writes to the table (a record; it still writes it)."""
    assert relay is not None
    rows: list[Outgoing] = []
    original = relay._queue

    def queue(item: Outgoing) -> None:
        rows.append(item)
        original(item)

    relay._queue = queue  # type: ignore[method-assign]
    return rows


async def _two(
    tracker_factory: TrackerFactory, pg_database: str, **changes: object
) -> tuple[TrackerServer, TrackerServer]:
    a = await tracker_factory(database=pg_database, **changes)
    b = await tracker_factory(database=pg_database, **changes)
    return a, b


async def test_peers_without_listeners_on_two_trackers_chat_through_the_relay(
    tracker_factory: TrackerFactory, pg_database: str, peer_factory: PeerFactory
) -> None:
    a, b = await _two(tracker_factory, pg_database)
    rows_a, rows_b = _record_rows(a.group_relay), _record_rows(b.group_relay)
    alice = await peer_factory(a, "alice", no_listen=True)
    bob = await peer_factory(b, "bob", no_listen=True)
    await bob.client.create_room("lobby")
    await alice.client.join_room("lobby")
    await asyncio.wait_for(alice.client.wait_channels(["bob"]), TIMEOUT)
    await asyncio.wait_for(bob.client.wait_channels(["alice"]), TIMEOUT)
    assert alice.client.channel_paths == {"bob": "relay"}
    assert bob.client.channel_paths == {"alice": "relay"}
    assert [e.path for e in alice.of(ChannelOpened)] == ["relay"]

    to_room = await alice.client.send_room("lobby", "hello room across trackers")
    to_bob = await alice.client.send_private("bob", "hello bob across trackers")
    from_bob = await bob.client.send_private("alice", "hello alice across trackers")
    received = await bob.wait_for(MessageReceived, count=2)
    assert {e.text for e in received} == {"hello room across trackers", "hello bob across trackers"}
    await alice.wait_for(MessageReceived, lambda e: e.text == "hello alice across trackers")
    delivered = await alice.wait_for(MessageDelivered, count=2)
    assert {e.msg_id for e in delivered} == {to_room.msg_id, to_bob.msg_id}
    await bob.wait_for(MessageDelivered, lambda e: e.msg_id == from_bob.msg_id)

    # Both trackers carried bodies through the table; none holds a plaintext.
    assert a.group_relay is not None and b.group_relay is not None
    assert a.group_relay.counters["delivered"] > 0 and b.group_relay.counters["delivered"] > 0
    written = rows_a + rows_b
    assert rows_a and rows_b
    assert written and all(row.forward is not None for row in written)
    for row in written:
        assert row.forward is not None
        body = _body_of(row.forward.message)
        assert b"across trackers" not in body and b"hello" not in body


async def test_frames_cross_trackers_in_order_and_an_end_follows_them(
    tracker_factory: TrackerFactory, pg_database: str, user: UserFactory
) -> None:
    a, b = await _two(tracker_factory, pg_database)
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    await online(alice, "bob")
    for n in range(50):
        await alice.send(relay_request("bob", 3, False, f"body {n}".encode()))
    await alice.send(relay_request("bob", 3, False, None))
    got = [await bob.push("RELAY") for _ in range(50)]
    assert [_body_of(p) for p in got] == [f"body {n}".encode() for n in range(50)]
    assert {(p["from"], p["link"], p["back"]) for p in got} == {("alice", 3, False)}
    end = await bob.push("RELAY_END")
    assert (end["user"], end["link"], end["back"], end["code"]) == ("alice", 3, False, "closed")

    await bob.send(relay_request("alice", 3, True, b"answer"))
    answer = await alice.push("RELAY")
    assert (answer["from"], answer["link"], answer["back"]) == ("bob", 3, True)
    assert _body_of(answer) == b"answer"
    assert (await alice.request("PING"))["status"] == "OK"
    assert alice.replies.empty()  # RELAY gets no reply, across trackers too


async def test_the_other_end_leaving_ends_the_links_across_trackers(
    tracker_factory: TrackerFactory, pg_database: str, user: UserFactory
) -> None:
    a, b = await _two(tracker_factory, pg_database)
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    await online(alice, "bob")
    await alice.send(relay_request("bob", 5, False, b"hello"))
    await bob.push("RELAY")
    await bob.send(relay_request("alice", 5, True, b"hi"))
    await alice.push("RELAY")
    assert (await bob.request("LOGOUT"))["status"] == "OK"
    end = await alice.push("RELAY_END")
    assert (end["user"], end["link"], end["code"]) == ("bob", None, "user_offline")

    carol = await user(b, "carol")
    await online(alice, "carol")
    await alice.send(relay_request("carol", 9, False, b"to carol"))
    await carol.push("RELAY")
    await alice.close()
    end = await carol.push("RELAY_END")  # carol only received: her tracker noted the pair
    assert (end["user"], end["link"], end["code"]) == ("alice", None, "user_offline")


async def test_a_fast_sender_is_shaped_across_trackers_and_loses_nothing(
    tracker_factory: TrackerFactory, pg_database: str, user: UserFactory
) -> None:
    rate, burst, size = 64 * 1024.0, 45_000.0, 10_000
    a, b = await _two(
        tracker_factory, pg_database, relay_bytes_per_second=rate, relay_burst_bytes=burst
    )
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    await online(alice, "bob")
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(12):
        await alice.send(relay_request("bob", 1, False, bytes([n]) * size))
    received = 0
    for n in range(12):
        push = await bob.push("RELAY", timeout=TIMEOUT)
        assert _body_of(push) == bytes([n]) * size
        received += size
        allowed = burst + rate * (loop.time() - started) + size
        assert received <= allowed, f"{received} bytes after {loop.time() - started:.2f} s"
    assert a.state.relay_stats.shaped > 0
    assert a.state.relay_stats.dropped == 0 and b.state.relay_stats.dropped == 0


async def test_a_flood_to_a_receiver_on_another_tracker_that_does_not_read(
    tracker_factory: TrackerFactory, pg_database: str, user: UserFactory
) -> None:
    """The sender is told at once why its link died; neither tracker stalls; what
    waits in the table for the receiver stays within its share."""
    a, b = await _two(tracker_factory, pg_database, **UNLIMITED)
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    bystander = await user(b, "bystander")
    await online(alice, "bob")
    bob._task.cancel()  # bob stops reading: what is relayed to him piles up at B
    body = b"\xaa" * 40_000
    for _ in range(200):
        await alice.send(relay_request("bob", 1, False, body))
    end = await alice.push("RELAY_END", timeout=TIMEOUT)
    assert (end["user"], end["link"], end["code"]) == ("bob", 1, "receiver_slow")
    assert "does not read fast enough" in str(end["msg"])
    assert (await bystander.request("PING"))["status"] == "OK"
    assert (await alice.request("PING"))["status"] == "OK"
    assert a.group_relay is not None
    assert a.state.relay_stats.dropped + b.state.relay_stats.dropped >= 1
    threshold = a.config.relay_receiver_buffer
    assert await _waiting_bytes(a) <= threshold + 64 * 1024


async def test_a_receiver_on_another_tracker_that_does_not_read_loses_frames_there(
    tracker_factory: TrackerFactory, pg_database: str, user: UserFactory
) -> None:
    """Frames sent no faster than the receiver's tracker takes them from the table:
    that tracker drops them at its own receiver's queue and both ends are told."""
    a, b = await _two(tracker_factory, pg_database, **UNLIMITED)
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    await online(alice, "bob")
    bob._task.cancel()  # bob stops reading
    assert b.group_relay is not None
    body = b"\xcc" * 40_000
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT * 3
    while not b.state.relay_stats.dropped:
        assert loop.time() < deadline, "tracker B never dropped a frame for bob"
        delivered = b.group_relay.counters["delivered"]
        await alice.send(relay_request("bob", 6, False, body))
        while b.group_relay.counters["delivered"] == delivered:  # taken from the table
            assert loop.time() < deadline, "tracker B stopped taking frames"
            await asyncio.sleep(0.005)
    end = await alice.push("RELAY_END", timeout=TIMEOUT)
    assert (end["user"], end["link"], end["back"], end["code"]) == ("bob", 6, True, "receiver_slow")
    assert a.state.relay_stats.dropped == 0  # B dropped it, not the table's bound
    assert "bob" in b.state.online and (await alice.request("PING"))["status"] == "OK"


async def _waiting_bytes(tracker: TrackerServer) -> int:
    """Bytes of relayed frames waiting in the table, all receivers together."""
    async with tracker.storage.pool.connection() as conn:  # type: ignore[attr-defined]
        cur = await conn.execute("SELECT coalesce(sum(size), 0) FROM relay")
        row = await cur.fetchone()
    return int(row[0])


async def test_relay_limits_hold_across_trackers(
    tracker_factory: TrackerFactory, pg_database: str, user: UserFactory
) -> None:
    """The pair cap of the sender's tracker, and ``--no-relay`` of the receiver's."""
    a = await tracker_factory(database=pg_database, relay_max_pairs=1)
    b = await tracker_factory(database=pg_database, relay_enabled=False)
    alice = await user(a, "alice")
    bob = await user(b, "bob")
    carol = await user(a, "carol")
    await online(alice, "bob")
    await alice.send(relay_request("bob", 1, False, b"x"))
    end = await alice.push("RELAY_END")
    assert (end["user"], end["link"], end["code"]) == ("bob", 1, "relay_disabled")
    await bob.request("PING")
    assert bob.pending_pushes() == []

    await alice.send(relay_request("carol", 2, False, b"y"))
    end = await alice.push("RELAY_END")
    assert (end["user"], end["link"], end["code"]) == ("carol", 2, "relay_pairs_full")
    await carol.request("PING")
    assert carol.pending_pushes() == []


async def test_the_receivers_tracker_killed_mid_relay_ends_the_link_clearly(
    tmp_path: Path, tracker_factory: TrackerFactory, pg_database: str, user: UserFactory
) -> None:
    """Bodies for a dead tracker's session pile up only to the receiver's share
    (``receiver_slow`` at once), the lease then ends the link (``user_offline``), and
    the rows left for the dead tracker are deleted."""
    proc, port = await _tracker_process(tmp_path / "b", pg_database)
    try:
        a = await tracker_factory(
            database=pg_database,
            lease_seconds=LEASE,
            **UNLIMITED,
        )
        bob = await TrackerTestClient.connect(
            "127.0.0.1", port, tmp_path / "b" / "tracker-cert.pem"
        )
        assert (await bob.register("bob"))["status"] == "OK"
        assert (await bob.login("bob"))["status"] == "OK"
        alice = await user(a, "alice")
        await online(alice, "bob")
        await alice.send(relay_request("bob", 4, False, b"before"))
        assert _body_of(await bob.push("RELAY")) == b"before"

        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        body = b"\xbb" * 40_000
        for _ in range(40):
            await alice.send(relay_request("bob", 4, False, body))
        end = await alice.push("RELAY_END", timeout=TIMEOUT)
        assert (end["user"], end["link"], end["code"]) == ("bob", 4, "receiver_slow")
        assert await _waiting_bytes(a) <= a.config.relay_receiver_buffer + 64 * 1024

        gone = end
        while gone["code"] == "receiver_slow":  # one per body dropped
            gone = await alice.push("RELAY_END", timeout=LEASE * 3 + TIMEOUT)
        assert (gone["user"], gone["link"], gone["code"]) == ("bob", None, "user_offline")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LEASE * 2 + TIMEOUT
        while await _waiting_bytes(a):
            assert loop.time() < deadline, "rows for the dead tracker were never deleted"
            await asyncio.sleep(0.1)
        await alice.send(relay_request("bob", 4, False, b"after"))
        after = await alice.push("RELAY_END")
        assert (after["user"], after["code"]) == ("bob", "user_offline")
        await bob.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_what_waits_in_the_table_is_bounded_per_receiver_and_in_all() -> None:
    """:func:`tracker.group.relay.admit`, the table's bounds, without a database."""
    bob, carol = RemoteSession("B", 1, "bob"), RemoteSession("B", 2, "carol")
    forward = Forward(7, -1, RelayFrame("bob", 1, False, "eA==", 1), {})

    def body(to: RemoteSession, size: int, end: bool = False) -> Outgoing:
        return Outgoing(to, 7, "x" * size, None if end else forward)

    items = [body(bob, 600), body(bob, 600), body(bob, 100, end=True), body(carol, 600)]
    # bob's share holds one body (and the small end); carol's is hers.
    accepted, dropped = admit(items, {}, 1000, 10_000, 100)
    assert (accepted, dropped) == ([items[0], items[2], items[3]], [items[1]])
    # carol's share is free, but tracker B's sessions together are at the bound.
    accepted, dropped = admit(items, {("B", 3): (1, 900)}, 1000, 1500, 100)
    assert (accepted, dropped) == ([items[0], items[2]], [items[1], items[3]])
    accepted, dropped = admit(items, {("B", 3): (99, 100)}, 1000, 10_000, 100)
    assert (accepted, dropped) == ([items[0]], items[1:])
    # What waits for a dead tracker C takes nothing from B's share.
    accepted, dropped = admit(items, {("C", 3): (99, 9_999)}, 1000, 10_000, 100)
    assert (accepted, dropped) == ([items[0], items[2], items[3]], [items[1]])
    # Once a body for bob is dropped, a smaller one after it in the batch is too: it
    # would arrive after a gap, before the end that reports the gap. His end still goes.
    gap = [body(bob, 600), body(bob, 600), body(bob, 10), body(bob, 100, end=True)]
    accepted, dropped = admit(gap, {}, 1000, 10_000, 100)
    assert (accepted, dropped) == ([gap[0], gap[3]], [gap[1], gap[2]])
