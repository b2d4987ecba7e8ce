"""Benchmark of the client's bounded event queue against a plain ``asyncio.Queue``.

The client's events now go through :class:`peer.client.event_queue.EventQueue`, which charges
each event to the channel that produced it (its cost is the UTF-8 size of its text) and
pauses and resumes reading; before, they went through an unbounded ``asyncio.Queue``.
This measures, side by side in one run (variants alternating), events per second put
and then taken for 200-character messages from 8 channels, in batches of 256 (a
consumer that keeps up) and all at once (one that fell behind, so that channels are
paused and resumed). Run from the repository root: ``python3 bench/event_queue.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peer import events as ev
from peer.client.event_queue import EventQueue

TEXT = "x" * 200


class _Flow:
    def __init__(self) -> None:
        self.pauses = 0

    def pause_reading(self, channel: int) -> None:
        self.pauses += 1

    def resume_reading(self, channel: int) -> None:
        pass


async def _bounded(events: list[ev.ClientEvent], batch: int) -> tuple[float, int]:
    queue = EventQueue()
    flow = queue.flow = _Flow()
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        for index, event in enumerate(events[start : start + batch]):
            queue.put(event, channel=index % 8)
        for _ in range(min(batch, len(events) - start)):
            await queue.get()
    return time.perf_counter() - started, flow.pauses


async def _plain(events: list[ev.ClientEvent], batch: int) -> float:
    queue: asyncio.Queue[ev.ClientEvent | None] = asyncio.Queue()
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        for event in events[start : start + batch]:
            queue.put_nowait(event)
        for _ in range(min(batch, len(events) - start)):
            await queue.get()
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    events: list[ev.ClientEvent] = [
        ev.MessageReceived(None, f"user{n % 8}", TEXT, 1.0, f"{n:016x}-{n}")
        for n in range(args.events)
    ]
    print(f"python {platform.python_version()} on {platform.machine()}")
    print(f"{args.events} MessageReceived events of 200 characters, {args.repeat} runs each")
    for label, batch in (("consumer keeps up (batches of 256)", 256), ("all at once", 0)):
        size = batch or args.events
        bounded, plain, pauses = [], [], 0
        for _ in range(args.repeat):
            seconds, pauses = await _bounded(events, size)
            bounded.append(args.events / seconds)
            plain.append(args.events / await _plain(events, size))
        b, p = statistics.median(bounded), statistics.median(plain)
        print(
            f"{label}: EventQueue {b:,.0f}/s, asyncio.Queue {p:,.0f}/s,"
            f" ratio {b / p:.2f}x (pauses per run: {pauses})"
        )


if __name__ == "__main__":
    asyncio.run(main())
