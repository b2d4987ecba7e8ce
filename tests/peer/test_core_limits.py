"""PeerCore's limits: the channel cap, strangers, contacts to pin, refusals, paused reading."""

from __future__ import annotations

from peer import events as ev
from peer.core.actions import Admit, CheckOnline, CloseReason, PinContact, Step
from peer.core.frames import ChatMessage, Ping
from tests.peer.core_helpers import closes, events, frames, in_room, make_core


def private(sender: str, seq: int = 1) -> ChatMessage:
    return ChatMessage(None, sender, "hi", 1.0, f"{sum(map(ord, sender)):016x}-{seq}")


def pins(step: Step) -> list[str]:
    return [a.user for a in step.actions if isinstance(a, PinContact)]


def test_only_contacts_are_pinned() -> None:
    alice = in_room("alice", ("alice", "bob"))  # bob's channel opened as a member
    stranger = alice.channel_opened("mallory", 9, initiator=False, now=0.0)
    assert pins(stranger) == []
    assert pins(alice.frames_received(9, [Ping()], 1.0)) == []  # a ping makes no contact
    assert pins(alice.frames_received(9, [private("mallory")], 2.0)) == []  # nor a message
    _, answer = alice.send_private("mallory", "who are you?", 3.0, 3.0)
    assert pins(answer) == ["mallory"]  # our answer does
    assert pins(alice.frames_received(9, [private("mallory", 2)], 4.0)) == []  # once

    carol = make_core("carol")
    carol.channel_opened("dave", 1, initiator=False, now=0.0)
    _, step = carol.send_private("dave", "hello", 1.0, 1.0)
    assert pins(step) == ["dave"]  # we wrote a message on it

    member = make_core("erin")
    member.channel_opened("frank", 1, initiator=False, now=0.0)
    step = member.room_entered("lobby", "frank", 3, ["frank", "erin"], 1.0)
    assert pins(step) == ["frank"]  # shares our room now


def test_a_room_members_channel_is_pinned_when_it_opens() -> None:
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)
    assert pins(alice.channel_opened("bob", 1, initiator=True, now=0.0)) == ["bob"]


def test_strangers_are_checked_online_and_closed_when_they_are_gone() -> None:
    alice = make_core("alice", stranger_check_interval=10.0)
    alice.channel_opened("mallory", 1, initiator=False, now=0.0)
    alice.channel_opened("bob", 2, initiator=False, now=0.0)
    alice.frames_received(1, [private("mallory")], 1.0)  # a message makes no contact
    alice.send_private("bob", "hi", 1.0, 1.0)  # bob is a contact now
    assert alice.next_wakeup() is not None
    step = alice.tick(10.0)
    assert [a for a in step.actions if isinstance(a, CheckOnline)] == [CheckOnline("mallory")]
    step = alice.user_offline("mallory")
    assert closes(step) == [("mallory", CloseReason.LOGGED_OUT)]
    assert events(step, ev.ChannelClosed) == [
        ev.ChannelClosed("mallory", str(CloseReason.LOGGED_OUT))
    ]
    assert closes(alice.user_offline("bob")) == []  # a contact's channel stays
    assert alice.connected == ["bob"]


def test_the_channel_cap_evicts_strangers_first_and_never_room_members() -> None:
    alice = in_room("alice", ("alice", "bob", "carol"), max_channels=4)
    alice.channel_opened("m1", 10, initiator=False, now=1.0)
    alice.channel_opened("m2", 11, initiator=False, now=2.0)
    assert alice.admit("m3") is Admit.ACCEPT  # a stranger's channel can go
    step = alice.channel_opened("m3", 12, initiator=False, now=3.0)
    assert closes(step) == [("m1", CloseReason.EVICTED)]
    assert alice.connected == ["bob", "carol", "m2", "m3"]
    alice.frames_received(11, [private("m2")], 4.0)
    alice.frames_received(12, [private("m3")], 5.0)
    # Strangers who wrote are still strangers: the one opened longest ago goes.
    assert alice.admit("m4") is Admit.ACCEPT
    step = alice.channel_opened("m4", 13, initiator=False, now=6.0)
    assert closes(step) == [("m2", CloseReason.EVICTED)]


def test_two_thousand_one_message_strangers_pin_nobody() -> None:
    """Issue 20, at full scale on the core (the path the relay and direct channels both
    reach): 2,000 accounts that each open a channel and write one private message were
    each pinned (``PinContact``), filling the 2,000-contact store. Now none is."""
    alice = make_core("alice", max_channels=4000)
    asked = []
    for n in range(2000):
        name = f"sybil{n}"
        asked += pins(alice.channel_opened(name, 100 + n, initiator=False, now=n / 1000))
        asked += pins(alice.frames_received(100 + n, [private(name)], n / 1000))
    assert asked == []
    assert len(alice.connected) == 2000


def test_a_full_table_refuses_strangers_but_not_members() -> None:
    alice = in_room("alice", ("alice", "bob", "carol"), max_channels=2)
    alice.send_private("bob", "pending", 1.0, 1.0)  # awaiting a receipt
    assert alice.admit("mallory") is Admit.FULL
    alice.room_update("lobby", "alice", ["aaron", "alice", "bob", "carol"], 2.0)
    assert alice.admit("aaron") is Admit.ACCEPT  # a member always gets a slot


def test_a_paused_channel_is_neither_pinged_nor_expired() -> None:
    alice = in_room("alice", ("alice", "bob"))
    alice.reading_paused(1)
    step = alice.tick(100.0)
    assert frames(step) == [] and closes(step) == []
    alice.reading_resumed(1, 100.0)
    assert alice.tick(104.0).actions == []
    assert frames(alice.tick(105.0), "bob") == [Ping()]  # the keepalive starts afresh


def test_refused_channels_are_summarised_by_the_core() -> None:
    alice = make_core("alice", refusal_summary_interval=10.0)
    first = alice.channel_refused("bob", "key_mismatch", "refused bob", 0.0)
    assert events(first, ev.ErrorEvent) == [ev.ErrorEvent("key_mismatch", "refused bob")]
    for n in range(99):
        assert alice.channel_refused("bob", "key_mismatch", "again", n / 100).events == []
    assert alice.next_wakeup() == 10.0
    summary = alice.tick(10.0)
    assert events(summary, ev.ChannelsRefused) == [
        ev.ChannelsRefused("bob", "key_mismatch", 99, 10.0)
    ]
