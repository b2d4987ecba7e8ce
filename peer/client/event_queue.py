"""The client's event queue, bounded by back-pressure on the channels that fill it.

Policy: an event is never dropped. Every event a channel's frames produced (a message,
a receipt, a member who left) is charged to that channel, at :func:`event_cost` (a
fixed overhead plus the UTF-8 size of any text: about what it holds in memory). When
the events one channel has waiting reach ``per_channel`` bytes, or all waiting events
reach ``total`` bytes, the channel that produced the last one stops being read (its
frames stay in the kernel's socket buffer and, beyond that, with its sender); once the
application has taken its events back below half of both marks, it is read again. A
receipt is only ever sent for a message handed to this queue, so a sender that is
paused learns nothing false: its messages wait, then arrive or fail (``timed_out``,
``connection_lost``), never vanish. Events from the tracker session and from commands
are charged to no channel and never paused (the tracker's own limits bound them), but
they count towards ``total``.

Bound: what waits here is at most ``total`` plus one read (256 KiB of ciphertext) per
channel being read at that moment; with one flooding stranger, at most
``per_channel`` plus one read.

:class:`EventBudget` is the accounting (sans-I/O); :class:`EventQueue` the asyncio
queue around it, which tells a :class:`Flow` (the core driver) what to pause and
resume.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from peer import events as ev

#: Bytes charged per event besides its text (the objects and strings around it).
EVENT_OVERHEAD = 512
#: Defaults: what one channel, and all of them together, may have waiting.
PER_CHANNEL_BUDGET = 1024 * 1024
TOTAL_BUDGET = 16 * 1024 * 1024


def event_cost(event: ev.ClientEvent) -> int:
    """About the memory ``event`` holds while it waits."""
    if isinstance(event, ev.MessageReceived):
        return EVENT_OVERHEAD + len(event.text.encode("utf-8", "surrogatepass"))
    return EVENT_OVERHEAD


class EventBudget:
    """What waits, per channel and in all, and which channels are paused."""

    def __init__(self, per_channel: int = PER_CHANNEL_BUDGET, total: int = TOTAL_BUDGET) -> None:
        self.per_channel = per_channel
        self.total = total
        self.waiting = 0
        self._by_channel: dict[int, int] = {}
        self.paused: set[int] = set()

    def of(self, channel: int) -> int:
        return self._by_channel.get(channel, 0)

    def added(self, channel: int | None, cost: int) -> bool:
        """An event of ``cost`` from ``channel`` waits now: True if that channel must
        stop being read (it was not paused before)."""
        self.waiting += cost
        if channel is None:
            return False
        held = self._by_channel[channel] = self._by_channel.get(channel, 0) + cost
        if channel in self.paused:
            return False
        if held >= self.per_channel or self.waiting >= self.total:
            self.paused.add(channel)
            return True
        return False

    def taken(self, channel: int | None, cost: int) -> list[int]:
        """An event of ``cost`` from ``channel`` was handed to the application: the
        channels that may be read again now."""
        self.waiting -= cost
        if channel is not None:
            held = self._by_channel[channel] - cost
            if held > 0:
                self._by_channel[channel] = held
            else:
                del self._by_channel[channel]
        if not self.paused or self.waiting > self.total // 2:
            return []
        ready = sorted(c for c in self.paused if self.of(c) <= self.per_channel // 2)
        self.paused.difference_update(ready)
        return ready


class Flow(Protocol):
    """Who reads the channels: told when to stop and start reading one."""

    def pause_reading(self, channel: int) -> None: ...
    def resume_reading(self, channel: int) -> None: ...


class EventQueue:
    """Events in order, for a single consumer; ``None`` marks the end."""

    def __init__(self, budget: EventBudget | None = None) -> None:
        self.budget = budget or EventBudget()
        self.flow: Flow | None = None
        self._items: deque[tuple[ev.ClientEvent | None, int | None, int]] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, event: ev.ClientEvent, channel: int | None = None) -> None:
        cost = event_cost(event)
        self._items.append((event, channel, cost))
        self._ready.set()
        if self.budget.added(channel, cost) and channel is not None and self.flow is not None:
            self.flow.pause_reading(channel)

    def end(self) -> None:
        """No more events: the consumer's :meth:`get` returns ``None`` after the rest."""
        self._items.append((None, None, 0))
        self._ready.set()

    async def get(self) -> ev.ClientEvent | None:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        event, channel, cost = self._items.popleft()
        if event is not None:
            for ready in self.budget.taken(channel, cost):
                if self.flow is not None:
                    self.flow.resume_reading(ready)
        return event
