"""A script that writes faster than its peer acknowledges is slowed down, never failed.

Two real batch processes: carol writes 2,000 room messages to bob in one burst while bob is
frozen (SIGSTOP), so carol's backlog to him fills (512 messages await a receipt,
``CoreSettings.max_pending``). Carol must then stop taking input (the pipe to her fills,
the test's writes back up) instead of answering ``failed backlog_full``; once bob is
thawed every message arrives, in order, with a receipt, and carol's memory stayed bounded.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psutil

from peer.core.settings import CoreSettings
from tests.e2e.batch_process import TIMEOUT, BatchProcess
from tracker.server.server import TrackerServer

BURST = 2000
#: Each line is long enough that the whole burst (about 400 KB) cannot hide in the pipe
#: (64 KiB) plus what carol may read ahead: a carol that stops reading leaves most of
#: the burst in this test's write buffer.
PADDING = "." * 180
#: What carol's resident memory may grow by over the burst (Python's own churn included).
RSS_GROWTH_LIMIT = 48 * 1024 * 1024


async def _read_until(
    proc: BatchProcess, done: Any, timeout: float, on_object: Any = None
) -> list[dict[str, Any]]:
    """Read ``proc``'s lines until ``done(objects)`` holds; every object read is returned."""
    assert proc.proc.stdout is not None
    objects: list[dict[str, Any]] = list(proc.seen)
    proc.seen.clear()
    try:
        async with asyncio.timeout(timeout):
            while not done(objects):
                line = await proc.proc.stdout.readline()
                assert line, f"the process ended; last objects {objects[-5:]}"
                obj = json.loads(line)
                objects.append(obj)
                if on_object is not None:
                    on_object(obj)
    except TimeoutError:
        counts = {e: _count(objects, e) for e in {o["event"] for o in objects}}
        raise AssertionError(f"timed out: {counts}; last {objects[-3:]}") from None
    return objects


def _count(objects: list[dict[str, Any]], event: str) -> int:
    return sum(1 for o in objects if o["event"] == event)


async def test_a_burst_of_2000_to_a_frozen_peer_waits_then_arrives_whole_and_in_order(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    max_pending = CoreSettings().max_pending
    carol = await BatchProcess.logged_in(tracker, tmp_path / "carol", "carol")
    bob = await BatchProcess.logged_in(tracker, tmp_path / "bob", "bob")
    try:
        carol.send("/create lab")
        await carol.expect("room_created", room="lab")
        bob.send("/join lab")
        await bob.expect("joined", room="lab")
        await carol.expect("channel_opened", user="bob")
        await bob.expect("channel_opened", user="carol")
        carol.send("warm-up")
        await carol.expect("delivered", user="bob")
        await bob.expect("message", text="warm-up")
        carol.seen.clear()  # from here on, every object counted is the burst's
        bob.seen.clear()
        memory = psutil.Process(carol.proc.pid)
        rss_before = memory.memory_info().rss

        bob.freeze()
        assert carol.proc.stdin is not None
        carol.proc.stdin.write(
            "".join(f"m{i:04d} {PADDING}\n" for i in range(BURST)).encode()
        )  # one burst, not drained: the test's own buffer holds what carol does not take
        sent = await _read_until(carol, lambda objs: _count(objs, "sent") >= max_pending, TIMEOUT)
        # Carol's backlog to bob is full: she takes no more lines, so most of the burst
        # still waits on this side of the pipe, and nothing failed.
        backed_up = carol.proc.stdin.transport.get_write_buffer_size()
        assert backed_up > BURST * len(PADDING) // 2
        assert _count(sent, "failed") == 0
        peak = [memory.memory_info().rss]

        bob.thaw()

        def sample(obj: dict[str, Any]) -> None:
            if obj["event"] == "sent" and len(peak) < 64:
                peak.append(memory.memory_info().rss)

        # Both read at once: a reader that falls behind would stall bob's output, then him.
        bob_reads = asyncio.create_task(
            _read_until(bob, lambda objs: _count(objs, "message") >= BURST, 60.0)
        )
        try:
            everything = await _read_until(
                carol,
                lambda objs: _count(objs, "delivered") >= BURST or _count(objs, "failed") > 0,
                60.0,
                sample,
            )
            everything = sent + everything
            assert [o for o in everything if o["event"] in ("failed", "error")] == []
            got = await bob_reads
        finally:
            bob_reads.cancel()
        assert _count(everything, "sent") == BURST
        assert {o["user"] for o in everything if o["event"] == "delivered"} == {"bob"}
        assert max(peak) - rss_before < RSS_GROWTH_LIMIT
        texts = [o["text"].split(" ")[0] for o in got if o["event"] == "message"]
        assert texts == [f"m{i:04d}" for i in range(BURST)]
    finally:
        await bob.stop()
        await carol.stop()
