"""The relay on a real TLS tracker, driven by raw clients: forwarding, refusals,
shaping, slow receivers, ``--no-relay`` and the counters in the log."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest

from commons.relay_frames import relay_request
from tests.conftest import TrackerFactory, UserFactory
from tests.tracker_client import TrackerTestClient
from tracker.server.server import TrackerServer

TIMEOUT = 10.0


async def relayed(client: TrackerTestClient, count: int) -> list[dict[str, object]]:
    """The next ``count`` RELAY pushes (other pushes are skipped)."""
    got: list[dict[str, object]] = []
    while len(got) < count:
        got.append(await client.push("RELAY"))
    return got


async def test_frames_reach_the_recipient_in_order_and_get_no_reply(
    tracker: TrackerServer, user: UserFactory
) -> None:
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    for n in range(20):
        await alice.send(relay_request("bob", 4, False, f"body {n}".encode()))
    pushes = await relayed(bob, 20)
    assert [base64.b64decode(str(p["data"])) for p in pushes] == [
        f"body {n}".encode() for n in range(20)
    ]
    assert {(p["from"], p["link"], p["back"]) for p in pushes} == {("alice", 4, False)}
    await bob.send(relay_request("alice", 4, True, b"answer"))
    answer = await alice.push("RELAY")
    assert (answer["from"], answer["link"], answer["back"]) == ("bob", 4, True)
    # A round trip orders everything before it: no reply came for any RELAY.
    assert (await alice.request("PING"))["status"] == "OK"
    assert alice.replies.empty()


async def test_malformed_and_unauthenticated_frames_are_answered_and_harmless(
    tracker: TrackerServer, user: UserFactory, connect
) -> None:
    stranger = await connect(tracker)
    await stranger.send(relay_request("bob", 1, False, b"x"))
    assert (await stranger.reply())["code"] == "not_authenticated"
    alice = await user(tracker, "alice")
    await alice.send({"cmd": "RELAY", "to": "bob", "back": False, "data": "eA=="})
    refused = await alice.reply()
    assert (refused["id"], refused["code"]) == (None, "invalid_field")
    assert (await alice.request("PING"))["status"] == "OK"


async def test_a_frame_for_someone_offline_ends_that_link_at_the_sender(
    tracker: TrackerServer, user: UserFactory
) -> None:
    alice = await user(tracker, "alice")
    await alice.send(relay_request("ghost", 8, False, b"hello?"))
    end = await alice.push("RELAY_END")
    assert (end["user"], end["link"], end["back"]) == ("ghost", 8, True)
    assert end["code"] == "user_offline"


async def test_a_tracker_run_with_no_relay_says_so_and_relays_nothing(
    tracker_factory: TrackerFactory, connect
) -> None:
    tracker = await tracker_factory(relay_enabled=False)
    alice, bob = await connect(tracker), await connect(tracker)
    for client, name in ((alice, "alice"), (bob, "bob")):
        await client.register(name)
        assert (await client.login(name))["relay"] is False
    await alice.send(relay_request("bob", 1, False, b"x"))
    assert (await alice.push("RELAY_END"))["code"] == "relay_disabled"
    await bob.request("PING")
    assert bob.pending_pushes() == []


async def test_a_fast_sender_is_shaped_to_its_rate_and_loses_nothing(
    tracker_factory: TrackerFactory, user: UserFactory
) -> None:
    """64 KiB/s with a 45,000-byte burst: 12 frames of 10 kB arrive, all of them, in
    order, no faster than the budget allows; the tracker meanwhile serves others."""
    rate, burst, size = 64 * 1024.0, 45_000.0, 10_000
    tracker = await tracker_factory(relay_bytes_per_second=rate, relay_burst_bytes=burst)
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    bystander = await user(tracker, "bystander")
    loop = asyncio.get_running_loop()
    for n in range(12):
        await alice.send(relay_request("bob", 1, False, bytes([n]) * size))
    started = loop.time()
    answered: list[float] = []

    async def bystander_pings() -> None:
        await bystander.request("PING")
        answered.append(loop.time())

    pinger = asyncio.create_task(bystander_pings())
    received = 0
    for n, push in enumerate(await _each_relayed(bob, 12)):
        assert base64.b64decode(str(push["data"])) == bytes([n]) * size
        received += size
        allowed = burst + rate * (loop.time() - started) + size
        assert received <= allowed, f"{received} bytes after {loop.time() - started:.2f} s"
    await pinger
    assert answered[0] < loop.time()  # not held behind alice's traffic
    assert tracker.state.relay_stats.shaped > 0
    assert tracker.state.relay_stats.dropped == 0


async def _each_relayed(client: TrackerTestClient, count: int) -> list[dict[str, object]]:
    return [await client.push("RELAY", timeout=TIMEOUT) for _ in range(count)]


async def test_a_receiver_that_does_not_read_loses_frames_never_stalls_the_tracker(
    tracker_factory: TrackerFactory, user: UserFactory
) -> None:
    """The sender is told at once why its link died; the tracker's queue to the slow
    receiver stays near the drop threshold; a bystander is served all along."""
    tracker = await tracker_factory(
        relay_bytes_per_second=512 * 1024 * 1024.0,
        relay_burst_bytes=1024 * 1024 * 1024.0,
        relay_frames_per_second=100_000.0,
        relay_burst_frames=100_000.0,
    )
    threshold = tracker.config.relay_receiver_buffer
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    bystander = await user(tracker, "bystander")
    bob._task.cancel()  # bob stops reading: what is relayed to him piles up
    bob_conn = tracker.connections[tracker.state.online["bob"].session]
    body = b"\xaa" * 40_000
    peak = 0
    for _ in range(1000):
        await alice.send(relay_request("bob", 1, False, body))
        peak = max(peak, bob_conn.unsent)
        if tracker.state.relay_stats.dropped:
            break
    end = await alice.push("RELAY_END")
    assert (end["user"], end["code"]) == ("bob", "receiver_slow")
    assert "does not read fast enough" in str(end["msg"])
    assert peak <= threshold + 64 * 1024  # one frame and its TLS record over, at most
    assert (await bystander.request("PING"))["status"] == "OK"
    assert tracker.state.relay_stats.dropped >= 1


async def test_relay_counters_go_to_the_log(
    tracker_factory: TrackerFactory, user: UserFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tracker.server")
    tracker = await tracker_factory(stats_interval=0.1)
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    await alice.send(relay_request("bob", 1, False, b"z" * 100))
    await bob.push("RELAY")

    async def logged() -> str:
        while True:
            lines = [r.getMessage() for r in caplog.records if "relay:" in r.getMessage()]
            if lines:
                return lines[0]
            await asyncio.sleep(0.05)

    line = await asyncio.wait_for(logged(), TIMEOUT)
    # the first line is the first change: a tracker that relayed nothing logs nothing
    assert "1 frames (100 bytes) forwarded" in line and "1 pairs now" in line
    assert "alice" not in line and "bob" not in line  # counters, never names
