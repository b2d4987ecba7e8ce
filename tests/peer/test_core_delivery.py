"""PeerCore, delivery: receipts, resend after a re-dial, held messages, keepalive."""

from __future__ import annotations

from peer import events as ev
from peer.core.actions import CloseReason, Dial
from peer.core.frames import MAX_ACK_IDS, Ack, ChatMessage, LeaveNotice, Ping, Pong
from tests.peer.core_helpers import (
    Wire,
    closes,
    dials,
    events,
    frames,
    in_room,
    make_core,
)


def chat(sender: str, seq: int, room: str | None = "lobby", text: str = "hi") -> ChatMessage:
    return ChatMessage(room, sender, text, 1.0, f"{'0' * 14}{sender[0] * 2}-{seq}")


# ---------------------------------------------------------------- receipts, sending side


def test_each_recipient_acknowledges_separately() -> None:
    alice = in_room("alice", ("alice", "bob", "carol"))
    sent, step = alice.send_room("lobby", "hello", 1.0, 1.0)
    assert sent.recipients == ("bob", "carol") and sent.room == "lobby"
    assert [f.msg_id for f in frames(step, "bob")] == [sent.msg_id]
    assert [f.msg_id for f in frames(step, "carol")] == [sent.msg_id]
    assert alice.frames_received(1, [Ack((sent.msg_id,))], 1.1).events == [
        ev.MessageDelivered(sent.msg_id, "bob")
    ]
    assert alice.frames_received(1, [Ack((sent.msg_id,))], 1.2).events == []  # once only
    assert alice.frames_received(2, [Ack((sent.msg_id,))], 1.3).events == [
        ev.MessageDelivered(sent.msg_id, "carol")
    ]


def test_receipts_for_ids_never_sent_to_that_user_change_nothing() -> None:
    alice = in_room("alice", ("alice", "bob", "carol"))
    to_room, _ = alice.send_room("lobby", "for both", 1.0, 1.0)
    to_bob, _ = alice.send_private("bob", "for bob only", 1.0, 1.0)
    forged = (to_bob.msg_id, "00000000000000aa-999", "ffffffffffffffff-1")
    assert alice.frames_received(2, [Ack(forged)], 1.1).events == []  # carol
    assert alice.frames_received(2, [Ack((to_room.msg_id,))], 1.2).events == [
        ev.MessageDelivered(to_room.msg_id, "carol")
    ]
    assert alice.frames_received(1, [Ack((to_bob.msg_id,))], 1.3).events == [
        ev.MessageDelivered(to_bob.msg_id, "bob")
    ]


def test_a_message_not_acknowledged_goes_again_once_after_the_redial() -> None:
    alice = in_room("alice", ("alice", "bob"))
    first, _ = alice.send_room("lobby", "one", 1.0, 1.0)
    step = alice.channel_closed(1, CloseReason.NETWORK_ERROR, "reset", 2.0)
    assert events(step, ev.MessageFailed) == []
    second, step = alice.send_private("bob", "while down", 2.5, 2.5)
    assert frames(step) == [] and dials(step) == []  # queued; the re-dial is scheduled
    alice.tick(3.0)
    step = alice.channel_opened("bob", 2, initiator=True, now=3.1)
    assert [f.msg_id for f in frames(step, "bob")] == [first.msg_id, second.msg_id]
    # That channel drops too: what was already sent twice fails, the rest goes again.
    step = alice.channel_closed(2, CloseReason.NETWORK_ERROR, "reset", 4.0)
    assert events(step, ev.MessageFailed) == [
        ev.MessageFailed(first.msg_id, "bob", "connection_lost")
    ]
    alice.tick(6.0)
    step = alice.channel_opened("bob", 3, initiator=True, now=6.0)
    assert [f.msg_id for f in frames(step, "bob")] == [second.msg_id]


def test_what_waits_for_a_redial_that_gives_up_fails() -> None:
    alice = in_room("alice", ("alice", "bob"), redial_delays=(1.0,))
    sent, _ = alice.send_room("lobby", "one", 1.0, 1.0)
    alice.channel_closed(1, CloseReason.NETWORK_ERROR, "reset", 2.0)
    alice.tick(3.0)
    from peer.core.actions import DialFailure

    step = alice.dial_failed("bob", DialFailure.TIMEOUT, "no answer", 13.0)
    assert step.events == [ev.MessageFailed(sent.msg_id, "bob", "connection_lost")]


def test_what_waits_for_a_member_who_leaves_fails_as_left() -> None:
    alice = in_room("alice", ("alice", "bob", "carol"))
    room_msg, _ = alice.send_room("lobby", "one", 1.0, 1.0)
    private, _ = alice.send_private("bob", "two", 1.0, 1.0)
    step = alice.frames_received(1, [LeaveNotice("lobby", "bob")], 2.0)
    assert events(step, ev.MessageFailed) == [ev.MessageFailed(room_msg.msg_id, "bob", "left")]
    # The private message is not a room message: it still awaits bob's receipt.
    assert alice.frames_received(1, [Ack((private.msg_id,))], 2.1).events == [
        ev.MessageDelivered(private.msg_id, "bob")
    ]


def test_tracker_removal_fails_pending_room_messages_but_keeps_a_private_channel() -> None:
    alice = in_room("alice", ("alice", "bob"))
    alice.frames_received(1, [chat("bob", 1, room=None)], 0.5)  # the channel is private too
    sent, _ = alice.send_room("lobby", "one", 1.0, 1.0)
    alice.channel_closed(1, CloseReason.NETWORK_ERROR, "reset", 1.5)
    step = alice.room_update("lobby", "alice", ["alice"], 2.0)
    assert step.events == [ev.MessageFailed(sent.msg_id, "bob", "connection_lost")]


def test_room_messages_to_a_detached_member_whose_channel_dies_fail_at_once() -> None:
    """The tracker dropped bob (a frozen peer) and his channel then falls silent: no
    re-dial for the room, so what we wrote to him fails now; a private message waits
    for the re-dial that is still tried for it."""
    alice = in_room("alice", ("alice", "bob"))
    room_msg, _ = alice.send_room("lobby", "to the room", 1.0, 1.0)
    alice.room_update("lobby", "alice", ["alice"], 6.0)
    step = alice.tick(15.0)
    assert events(step, ev.MessageFailed) == [
        ev.MessageFailed(room_msg.msg_id, "bob", "connection_lost")
    ]
    assert alice.next_wakeup() is None  # nothing left to re-dial for
    alice = in_room("alice", ("alice", "bob"))
    alice.send_private("bob", "just you", 1.0, 1.0)
    alice.room_update("lobby", "alice", ["alice"], 6.0)
    assert events(alice.tick(15.0), ev.MessageFailed) == []
    assert dials(alice.tick(16.0)) == [Dial("bob", retry=True)]


def test_leaving_the_room_fails_what_awaits_receipts_in_it() -> None:
    alice = in_room("alice", ("alice", "bob"))
    sent, _ = alice.send_room("lobby", "one", 1.0, 1.0)
    step = alice.room_closed(deleted=False)
    assert step.events == [ev.MessageFailed(sent.msg_id, "bob", "left")]


def test_no_receipt_in_time_fails_as_timed_out() -> None:
    alice = in_room("alice", ("alice", "bob"), delivery_timeout=30.0)
    sent, _ = alice.send_room("lobby", "one", 1.0, 1.0)
    later, _ = alice.send_room("lobby", "two", 2.0, 2.0)
    for now in (5.0, 10.0, 15.0, 20.0, 25.0, 30.0):
        alice.frames_received(1, [Pong()], now)  # bob is alive, but never acknowledges
    assert alice.next_wakeup() == 31.0
    assert events(alice.tick(31.0), ev.MessageFailed) == [
        ev.MessageFailed(sent.msg_id, "bob", "timed_out")
    ]
    assert alice.next_wakeup() == 32.0
    assert events(alice.tick(32.0), ev.MessageFailed) == [
        ev.MessageFailed(later.msg_id, "bob", "timed_out")
    ]


def test_the_backlog_per_recipient_is_bounded() -> None:
    alice = in_room("alice", ("alice", "bob"), max_pending=3)
    ids = [alice.send_room("lobby", f"m{n}", 1.0, 1.0)[0].msg_id for n in range(3)]
    sent, step = alice.send_room("lobby", "one too many", 1.0, 1.0)
    assert step.events == [ev.MessageFailed(sent.msg_id, "bob", "backlog_full")]
    assert frames(step) == []
    alice.frames_received(1, [Ack(tuple(ids))], 1.5)
    _, step = alice.send_room("lobby", "room again", 2.0, 2.0)
    assert step.events == [] and len(frames(step)) == 1


def test_a_member_whose_key_changed_is_skipped_and_reported() -> None:
    alice = in_room("alice", ("alice", "bob", "carol"))
    sent, step = alice.send_room("lobby", "hello", 1.0, 1.0, blocked={"bob"})
    assert sent.recipients == ("bob", "carol")
    assert step.events == [ev.MessageFailed(sent.msg_id, "bob", "key_changed")]
    assert frames(step, "bob") == [] and len(frames(step, "carol")) == 1


def test_a_key_change_fails_everything_waiting_for_that_user() -> None:
    alice = in_room("alice", ("alice", "bob"))
    sent, _ = alice.send_room("lobby", "hello", 1.0, 1.0)
    step = alice.key_changed("bob", 2.0)
    assert events(step, ev.MessageFailed) == [ev.MessageFailed(sent.msg_id, "bob", "key_changed")]


def test_private_message_without_a_channel_dials_and_waits() -> None:
    alice = make_core("alice")
    sent, step = alice.send_private("bob", "hi", 1.0, 1.0)
    assert dials(step) == [Dial("bob")] and frames(step) == []
    step = alice.channel_opened("bob", 4, initiator=True, now=1.5)
    assert [f.msg_id for f in frames(step, "bob")] == [sent.msg_id]
    assert frames(step)[0] == ChatMessage(None, "alice", "hi", 1.0, sent.msg_id)


def test_room_message_to_a_member_without_a_channel_waits_for_it() -> None:
    bob = make_core("bob")
    bob.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)  # alice should dial bob
    sent, step = bob.send_room("lobby", "early", 0.5, 0.5)
    assert frames(step) == [] and dials(step) == []  # bob does not lead: the fallback will
    step = bob.channel_opened("alice", 1, initiator=False, now=1.0)
    assert [f.msg_id for f in frames(step, "alice")] == [sent.msg_id]


# ---------------------------------------------------------------- receipts, receiving side


def test_delivered_messages_are_acknowledged_once_per_read() -> None:
    bob = in_room("bob", ("alice", "bob"))
    step = bob.frames_received(1, [chat("alice", 1), chat("alice", 2)], 1.0)
    assert [e.msg_id for e in events(step, ev.MessageReceived)] == [
        "00000000000000aa-1",
        "00000000000000aa-2",
    ]
    assert frames(step, "alice") == [Ack(("00000000000000aa-1", "00000000000000aa-2"))]


def test_receipts_are_split_at_the_frame_limit() -> None:
    bob = in_room("bob", ("alice", "bob"))
    step = bob.frames_received(1, [chat("alice", n) for n in range(1, 301)], 1.0)
    acks = frames(step, "alice")
    assert [len(a.ids) for a in acks if isinstance(a, Ack)] == [MAX_ACK_IDS, MAX_ACK_IDS, 44]


def test_a_message_sent_again_is_acknowledged_again_but_delivered_once() -> None:
    bob = in_room("bob", ("alice", "bob"))
    bob.frames_received(1, [chat("alice", 1)], 1.0)
    step = bob.frames_received(1, [chat("alice", 1), chat("alice", 2)], 2.0)
    assert [e.msg_id for e in events(step, ev.MessageReceived)] == ["00000000000000aa-2"]
    assert frames(step, "alice") == [Ack(("00000000000000aa-1", "00000000000000aa-2"))]


def test_an_old_message_never_delivered_is_not_acknowledged() -> None:
    """Held messages overtaken by a later private one were never shown: no receipt."""
    bob = in_room("bob", ("bob", "carol"))
    bob.channel_opened("alice", 5, initiator=False, now=0.0)
    bob.frames_received(5, [chat("alice", 1)], 1.0)  # alice not listed yet: held
    step = bob.frames_received(5, [chat("alice", 2, room=None)], 1.1)
    assert frames(step, "alice") == [Ack(("00000000000000aa-2",))]
    step = bob.room_update("lobby", "carol", ["alice", "bob", "carol"], 1.2)
    assert events(step, ev.MessageReceived) == [] and frames(step, "alice") == []


# ---------------------------------------------------------------- held messages


def test_message_that_beats_the_tracker_update_is_held_then_delivered() -> None:
    bob = in_room("bob", ("bob", "carol"))
    bob.channel_opened("alice", 5, initiator=False, now=0.0)
    step = bob.frames_received(5, [chat("alice", 1), chat("alice", 2)], 1.0)
    assert step.events == [] and frames(step) == []  # neither delivered nor acknowledged
    step = bob.room_update("lobby", "carol", ["alice", "bob", "carol"], 1.5)
    assert step.events[0] == ev.MemberJoined("lobby", "alice")
    assert [e.text for e in events(step, ev.MessageReceived)] == ["hi", "hi"]
    assert frames(step, "alice") == [Ack(("00000000000000aa-1", "00000000000000aa-2"))]


def test_held_messages_are_bounded_per_sender() -> None:
    bob = in_room("bob", ("bob", "carol"), held_limit=32)
    bob.channel_opened("alice", 5, initiator=False, now=0.0)
    bob.frames_received(5, [chat("alice", n) for n in range(1, 41)], 1.0)
    step = bob.room_update("lobby", "carol", ["alice", "bob", "carol"], 1.5)
    assert len(events(step, ev.MessageReceived)) == 32


def test_held_messages_of_a_sender_who_leaves_are_dropped() -> None:
    bob = in_room("bob", ("bob", "carol"))
    bob.channel_opened("alice", 5, initiator=False, now=0.0)
    bob.frames_received(5, [chat("alice", 1)], 1.0)
    bob.room_update("lobby", "carol", ["alice", "bob", "carol"], 1.5)  # delivered
    bob.frames_received(5, [LeaveNotice("lobby", "alice")], 2.0)
    assert bob.frames_received(5, [chat("alice", 2)], 2.1).events == []  # gone: dropped


def test_room_message_for_another_room_is_ignored() -> None:
    bob = in_room("bob", ("alice", "bob"))
    step = bob.frames_received(1, [chat("alice", 1, room="elsewhere")], 1.0)
    assert step.events == [] and frames(step) == []


# ---------------------------------------------------------------- keepalive


def test_silent_channel_is_pinged_each_interval_then_expires() -> None:
    alice = in_room("alice", ("alice", "bob"))
    assert alice.next_wakeup() == 5.0
    assert alice.tick(4.9).actions == []
    assert frames(alice.tick(5.0)) == [Ping()]
    assert alice.next_wakeup() == 10.0
    assert frames(alice.tick(7.0)) == []
    assert frames(alice.tick(10.0)) == [Ping()]
    step = alice.tick(15.0)
    assert closes(step) == [("bob", CloseReason.EXPIRED)]
    assert step.events == [
        ev.ChannelClosed("bob", "no traffic for 15 s"),
        ev.MemberLeft("lobby", "bob", "connection_lost"),
    ]
    assert dials(alice.tick(16.0)) == [Dial("bob", retry=True)]  # still listed: re-dial


def test_any_frame_counts_as_proof_of_life() -> None:
    alice = in_room("alice", ("alice", "bob"))
    alice.tick(5.0)
    alice.frames_received(1, [Pong()], 6.0)
    assert alice.next_wakeup() == 11.0
    assert alice.tick(15.0).events == []
    alice.frames_received(1, [Ack(("00000000000000aa-77",))], 16.0)  # unknown id, still life
    assert alice.tick(25.0).events == []


def test_frames_read_after_the_deadline_are_not_delivered() -> None:
    """This process was frozen for longer than the deadline: the sender has given up on
    the channel (and reported its messages failed), so what its kernel buffered is not
    delivered late and not acknowledged; the channel ends as if silent."""
    bob = in_room("bob", ("alice", "bob"))
    step = bob.frames_received(1, [chat("alice", 1), Ping()], 20.0)
    assert events(step, ev.MessageReceived) == [] and frames(step) == []
    assert closes(step) == [("alice", CloseReason.EXPIRED)]
    assert events(step, ev.MemberLeft) == [ev.MemberLeft("lobby", "alice", "connection_lost")]


def test_frames_read_one_interval_before_the_deadline_are_not_delivered() -> None:
    """The sender counts its deadline from the last frame *it* heard, which may be our
    reply to the last frame we heard: it can give up a moment before our own deadline.
    Frames read after two silent intervals are therefore dropped, not delivered late."""
    bob = in_room("bob", ("alice", "bob"))
    step = bob.frames_received(1, [chat("alice", 1)], 10.0)
    assert events(step, ev.MessageReceived) == []
    assert closes(step) == [("alice", CloseReason.EXPIRED)]


def test_frames_read_within_two_intervals_are_delivered() -> None:
    bob = in_room("bob", ("alice", "bob"))
    step = bob.frames_received(1, [chat("alice", 1)], 9.9)
    assert [e.text for e in events(step, ev.MessageReceived)] == ["hi"]
    assert closes(step) == []


def test_pings_are_answered_with_one_pong_per_read() -> None:
    bob = in_room("bob", ("alice", "bob"))
    step = bob.frames_received(1, [Ping()] * 100, 1.0)
    assert frames(step) == [Pong()]


def test_keepalive_settings_are_configurable() -> None:
    from peer.core.liveness import Keepalive

    alice = in_room("alice", ("alice", "bob"), keepalive=Keepalive(1.0, 2))
    assert frames(alice.tick(1.0)) == [Ping()]
    assert closes(alice.tick(2.0)) == [("bob", CloseReason.EXPIRED)]


# ---------------------------------------------------------------- a burst across a cut


def test_burst_across_a_cut_is_delivered_exactly_once_in_order_and_all_acknowledged() -> None:
    alice, bob = make_core("alice"), make_core("bob")
    wire = Wire(alice, bob)
    wire.run(alice, alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0))
    wire.run(bob, bob.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0))
    assert wire.channel is not None
    sent = []
    for n in range(500):
        message, step = alice.send_room("lobby", f"m{n}", 1.0, 1.0)
        sent.append(message.msg_id)
        wire.run(alice, step)
        if n == 250:
            wire.pump(batch=50, limit=180)  # some arrive (and some receipts come back)...
            wire.cut()  # ...the rest is lost on the wire
    wire.tick(2.0)  # alice re-dials bob, the resend follows
    wire.pump()
    received = [e for e in wire.of(bob, ev.MessageReceived)]
    assert [e.text for e in received] == [f"m{n}" for n in range(500)]
    delivered = [e.msg_id for e in wire.of(alice, ev.MessageDelivered)]
    assert sorted(delivered) == sorted(sent) and len(delivered) == 500
    assert wire.of(alice, ev.MessageFailed) == []
    assert [e.username for e in wire.of(bob, ev.MemberJoined)] == ["alice"]
