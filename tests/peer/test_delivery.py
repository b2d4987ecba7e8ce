"""The delivery bookkeeping on its own: the outbox and the exactly-once filter."""

from __future__ import annotations

from peer.core.delivery import RECENT_DELIVERED, DeliveryFilter, Inbox, Outbox, Verdict
from peer.core.frames import Ack, ChatMessage, MessageIds


def msg(seq: int, room: str | None = "lobby", session: str = "00000000000000aa") -> ChatMessage:
    return ChatMessage(room, "alice", f"m{seq}", 1.0, f"{session}-{seq}")


def test_delivery_filter_exactly_once_in_order() -> None:
    ids = MessageIds("0123456789abcdef")
    first, second, third = ids.next_id(), ids.next_id(), ids.next_id()
    seen = DeliveryFilter()
    assert seen.accept("alice", first)
    assert seen.accept("alice", third)
    assert not seen.accept("alice", second)
    assert not seen.accept("alice", third)
    assert seen.accept("bob", first)
    restarted = MessageIds("fedcba9876543210")
    assert seen.accept("alice", restarted.next_id())


def test_filter_tells_a_repeat_of_a_delivered_message_from_a_stale_one() -> None:
    seen = DeliveryFilter()
    seen.record("alice", msg(2).msg_id)
    assert seen.verdict("alice", msg(2).msg_id) is Verdict.DUPLICATE
    assert seen.verdict("alice", msg(1).msg_id) is Verdict.STALE  # never delivered
    assert seen.verdict("alice", msg(3).msg_id) is Verdict.NEW


def test_filter_remembers_a_bounded_number_of_deliveries_per_sender() -> None:
    seen = DeliveryFilter()
    for seq in range(1, RECENT_DELIVERED + 11):
        seen.record("alice", msg(seq).msg_id)
    assert seen.verdict("alice", msg(10).msg_id) is Verdict.STALE  # forgotten: no receipt
    assert seen.verdict("alice", msg(11).msg_id) is Verdict.DUPLICATE


def test_inbox_acknowledges_new_and_repeated_but_not_stale() -> None:
    inbox = Inbox()
    assert inbox.receive(msg(2))
    assert not inbox.receive(msg(2))
    assert not inbox.receive(msg(1))
    assert inbox.take_acks() == [("alice", Ack((msg(2).msg_id, msg(2).msg_id)))]
    assert inbox.take_acks() == []


def test_outbox_sends_in_order_and_settles_only_what_is_in_flight() -> None:
    box = Outbox(max_pending=10, timeout=30.0)
    for seq in (1, 2, 3):
        assert box.add("bob", msg(seq), 0.0)
    assert box.acked("bob", [msg(1).msg_id]) == []  # not written yet: no receipt possible
    assert [f.msg_id for f in box.take_unsent("bob")] == [msg(n).msg_id for n in (1, 2, 3)]
    assert box.take_unsent("bob") == []
    assert box.acked("bob", [msg(2).msg_id, msg(2).msg_id]) == [msg(2).msg_id]
    assert box.acked("carol", [msg(1).msg_id]) == []
    assert box.pending_count("bob") == 2


def test_outbox_resends_once_after_a_loss_then_fails() -> None:
    box = Outbox(max_pending=10, timeout=30.0)
    box.add("bob", msg(1), 0.0)
    box.take_unsent("bob")
    assert box.channel_lost("bob") == []
    box.add("bob", msg(2), 1.0)
    assert [f.msg_id for f in box.take_unsent("bob")] == [msg(1).msg_id, msg(2).msg_id]
    assert box.channel_lost("bob") == [msg(1).msg_id]  # written twice: given up
    assert [f.msg_id for f in box.take_unsent("bob")] == [msg(2).msg_id]


def test_outbox_queue_stays_bounded_while_nothing_can_be_sent() -> None:
    """No channel for a long time: entries come and expire, the queue does not grow."""
    box = Outbox(max_pending=4, timeout=1.0)
    for seq in range(1, 1001):
        box.add("bob", msg(seq), float(seq))
        box.expired(float(seq) + 0.5)
    assert box.pending_count("bob") <= 4
    assert len(box._unsent["bob"]) <= 4
    assert box.next_deadline() is not None


def test_outbox_has_room_until_the_bound_and_again_after_a_receipt() -> None:
    """What a waiting sender asks before each message: room means ``add`` will queue."""
    box = Outbox(max_pending=2, timeout=30.0)
    assert box.has_room("bob")
    box.add("bob", msg(1), 0.0)
    box.add("bob", msg(2), 0.0)
    assert not box.has_room("bob") and box.has_room("carol")
    assert not box.add("bob", msg(3), 0.0)
    box.take_unsent("bob")
    assert box.acked("bob", [msg(1).msg_id]) == [msg(1).msg_id]
    assert box.has_room("bob") and box.add("bob", msg(3), 0.0)


def test_outbox_drops_a_room_or_everything() -> None:
    box = Outbox(max_pending=10, timeout=30.0)
    box.add("bob", msg(1), 0.0)
    box.add("bob", msg(2, room=None), 0.0)
    box.add("carol", msg(1), 0.0)
    assert sorted(box.drop_room("lobby")) == [("bob", msg(1).msg_id), ("carol", msg(1).msg_id)]
    assert box.has_pending("bob") and not box.has_pending("carol")
    assert box.drop("bob") == [msg(2).msg_id]
    assert box.next_deadline() is None
