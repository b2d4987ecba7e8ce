"""Many sessions from one address cannot multiply what the relay carries for them.

Issue 20 measured 50 sessions from one IP relaying 13.2 MB/s through one tracker (26 MB/s
on the wire, 23% of its CPU): the budget was per session only. Here six accounts on
127.0.0.2 relay flat out through a real TLS tracker while one account on 127.0.0.3 does
the same; scaled down (50,000 B/s per session and per source instead of 256 KiB/s and
1 MiB/s; the rule is the same), the six together get one source's rate, and the other
source's session gets its whole session rate beside them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from commons.relay_frames import relay_request
from tests.conftest import TrackerFactory, UserFactory
from tests.tracker_client import TrackerTestClient
from tracker.state.relay_budget import BudgetScope, RelayRate

RATE = 50_000.0
BURST = 50_000.0
SIZE = 10_000
WINDOW = 3.0
ATTACKERS = 6


@dataclass
class Received:
    """Relayed body bytes a set of receivers got, with when (loop time)."""

    arrivals: list[tuple[float, int]] = field(default_factory=list)

    def until(self, moment: float) -> int:
        return sum(size for at, size in self.arrivals if at <= moment)


async def count_relayed(client: TrackerTestClient, into: Received) -> None:
    """Count every RELAY body ``client`` receives until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        push = await client.push("RELAY", timeout=60.0)
        into.arrivals.append((loop.time(), SIZE))
        assert isinstance(push["data"], str)


async def flood(client: TrackerTestClient, to: str) -> None:
    """Relay bodies to ``to`` as fast as the tracker reads them, until cancelled."""
    body = b"\x5a" * SIZE
    while True:
        await client.send(relay_request(to, 1, False, body))


async def relay_flat_out(
    pairs: list[tuple[TrackerTestClient, TrackerTestClient, str, Received]], seconds: float
) -> tuple[float, float]:
    """Every sender floods its receiver for ``seconds``; returns (start, end) loop times:
    no budget could have let anything through before ``start``."""
    loop = asyncio.get_running_loop()
    counters = [asyncio.create_task(count_relayed(rx, into)) for _, rx, _, into in pairs]
    start = loop.time()
    floods = [asyncio.create_task(flood(tx, to)) for tx, _, to, _ in pairs]
    await asyncio.sleep(seconds)  # the measuring window itself, not a wait for an event
    end = loop.time()
    for task in floods + counters:
        task.cancel()
    await asyncio.gather(*floods, *counters, return_exceptions=True)
    for sender, *_ in pairs:  # megabytes still queued in their sockets: no goodbye
        sender.writer.transport.abort()
    return start, end


async def test_sessions_from_one_source_together_get_one_sources_rate(
    tracker_factory: TrackerFactory, user: UserFactory
) -> None:
    tracker = await tracker_factory(
        relay_bytes_per_second=RATE,
        relay_burst_bytes=BURST,
        relay_per_source=RelayRate(RATE, BURST, 1_000.0, 1_000.0),
        heartbeat_interval=120.0,
    )
    crowd, honest = Received(), Received()
    pairs = []
    for n in range(ATTACKERS):
        sybil = await user(tracker, f"sybil{n}", source="127.0.0.2")
        receiver = await user(tracker, f"sink{n}")
        pairs.append((sybil, receiver, f"sink{n}", crowd))
    alice = await user(tracker, "alice", source="127.0.0.3")
    bob = await user(tracker, "bob")
    pairs.append((alice, bob, "bob", honest))

    start, end = await relay_flat_out(pairs, WINDOW)

    allowance = BURST + RATE * (end - start)  # one source's, or one session's
    got = crowd.until(end)
    # Before the fix: six sessions' worth, ~1.2 MB in 3 s.
    assert got <= allowance, f"{ATTACKERS} sessions of one source relayed {got} B"
    assert got >= 0.6 * allowance, f"the source was starved: {got} B of {allowance:.0f}"
    assert honest.until(end) >= 0.7 * allowance, f"alice relayed {honest.until(end)} B"
    stats = tracker.state.relay_stats
    # Held, not dropped: shaping holds a sender's input back, it never loses a frame.
    assert stats.shaped_by[BudgetScope.SOURCE] > 0 and stats.dropped == 0
