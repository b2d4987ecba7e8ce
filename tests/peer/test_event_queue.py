"""The event queue's budget: back-pressure on the channel that fills it, nothing dropped."""

from __future__ import annotations

import asyncio

from peer import events as ev
from peer.client.event_queue import EVENT_OVERHEAD, EventBudget, EventQueue, event_cost


def message(text: str = "x", sender: str = "mallory") -> ev.MessageReceived:
    return ev.MessageReceived(None, sender, text, 1.0, "00000000000000aa-1")


def test_cost_counts_the_text_in_utf8() -> None:
    assert event_cost(message("abc")) == EVENT_OVERHEAD + 3
    assert event_cost(message("\u00e9" * 10)) == EVENT_OVERHEAD + 20
    assert event_cost(ev.MemberJoined("lobby", "bob")) == EVENT_OVERHEAD


def test_a_channel_over_its_budget_is_paused_and_resumed_at_half() -> None:
    budget = EventBudget(per_channel=10_000, total=1_000_000)
    cost = 1_000
    paused = [budget.added(7, cost) for _ in range(12)]
    assert paused.index(True) == 9  # the 10th event reaches the budget
    assert paused.count(True) == 1 and budget.paused == {7}
    assert budget.added(8, cost) is False  # another channel reads on
    resumed = [budget.taken(7, cost) for _ in range(12)]
    assert resumed[6] == [7]  # 5,000 left: half the budget
    assert sum(len(r) for r in resumed) == 1 and budget.paused == set()
    assert budget.of(7) == 0 and budget.waiting == cost


def test_the_total_budget_pauses_every_channel_that_adds() -> None:
    budget = EventBudget(per_channel=10_000, total=5_000)
    assert [budget.added(c, 1_000) for c in range(1, 7)] == [False] * 4 + [True, True]
    assert budget.added(None, 1_000) is False  # tracker events are never paused, but count
    assert budget.paused == {5, 6}
    for channel in range(1, 5):
        assert budget.taken(channel, 1_000) == []
    assert budget.taken(None, 1_000) == [5, 6]  # 2,000 waiting: under half


class Flow:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def pause_reading(self, channel: int) -> None:
        self.calls.append(("pause", channel))

    def resume_reading(self, channel: int) -> None:
        self.calls.append(("resume", channel))


async def test_the_queue_keeps_every_event_in_order_and_drives_the_flow() -> None:
    queue = EventQueue(EventBudget(per_channel=EVENT_OVERHEAD * 4, total=10**9))
    flow = queue.flow = Flow()
    sent = [message(f"m{i}") for i in range(20)]
    for event in sent:
        queue.put(event, channel=3)
    queue.put(ev.MemberJoined("lobby", "bob"))
    queue.end()
    assert flow.calls == [("pause", 3)]
    got = []
    while (event := await queue.get()) is not None:
        got.append(event)
    assert got == [*sent, ev.MemberJoined("lobby", "bob")]  # none dropped, in order
    assert flow.calls == [("pause", 3), ("resume", 3)]
    assert queue.budget.waiting == 0


async def test_a_consumer_waits_for_the_next_event() -> None:
    queue = EventQueue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    queue.put(message("late"))
    assert await asyncio.wait_for(waiter, 1) == message("late")
