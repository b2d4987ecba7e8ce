"""PeerCore in several rooms at once, sans-I/O: rosters with presence, delivery per room,
one channel per peer shared by the rooms, restore after login (spec21, "Peer: several
rooms at once")."""

from __future__ import annotations

import pytest

from commons.room_control import Departure, Kicked, KickReason
from peer import events as ev
from peer.core.actions import CloseReason, Dial
from peer.core.frames import ChatMessage, LeaveNotice
from peer.core.peer_core import PeerCore
from peer.core.room import MAX_HELD_SENDERS, RoomState
from peer.core.rooms import MAX_ROOMS, RoomEntry
from tests.peer.core_helpers import closes, dials, events, frames, make_core


def chat(sender: str, seq: int, room: str | None, text: str = "hi") -> ChatMessage:
    return ChatMessage(room, sender, text, 1.0, f"{'0' * 14}{sender[0] * 2}-{seq}")


def two_rooms() -> PeerCore:
    """alice in ``lobby`` (alice, bob, carol) and ``den`` (alice, bob; dave offline),
    with channels to bob (1) and carol (2)."""
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 16, ["alice", "bob", "carol"], 0.0)
    alice.room_entered("den", "bob", 16, ["bob", "alice"], 0.0, roster=["bob", "dave", "alice"])
    alice.channel_opened("bob", 1, initiator=True, now=0.0)
    alice.channel_opened("carol", 2, initiator=True, now=0.0)
    return alice


def test_rooms_are_kept_in_join_order_with_their_rosters() -> None:
    alice = two_rooms()
    assert alice.rooms.names() == ["lobby", "den"]
    den = alice.rooms.get("den")
    assert den is not None and den.roster == ["bob", "dave", "alice"]
    assert [den.online(u) for u in den.roster] == [True, False, True]


def test_only_online_members_are_dialled() -> None:
    alice = make_core("alice")
    step = alice.room_entered(
        "den", "bob", 16, ["alice", "bob"], 0.0, roster=["bob", "carl", "alice"]
    )
    assert dials(step) == [Dial("bob")]  # never carl, who is offline


def test_a_room_message_goes_only_to_that_rooms_present_members() -> None:
    alice = two_rooms()
    sent, step = alice.send_room("den", "den only", 1.0, 1.0)
    assert sent.room == "den" and sent.recipients == ("bob",)
    assert [f.room for f in frames(step) if isinstance(f, ChatMessage)] == ["den"]
    sent, step = alice.send_room("lobby", "lobby", 1.0, 1.0)
    assert sent.recipients == ("bob", "carol")
    with pytest.raises(ValueError):
        alice.send_room("nowhere", "x", 1.0, 1.0)


def test_a_room_message_is_accepted_only_from_a_present_member_of_that_room() -> None:
    alice = two_rooms()
    step = alice.frames_received(1, [chat("bob", 1, "den")], 1.0)
    assert events(step, ev.MessageReceived)[0].room == "den"
    # carol shares lobby with us but is no member of den: not delivered.
    step = alice.frames_received(2, [chat("carol", 1, "den")], 1.0)
    assert events(step, ev.MessageReceived) == []
    # A room we are not in: dropped.
    step = alice.frames_received(1, [chat("bob", 2, "attic")], 1.0)
    assert events(step, ev.MessageReceived) == []


def test_presence_gives_one_event_per_shared_room_and_online_ones_are_dialled() -> None:
    alice = two_rooms()
    step = alice.presence("dave", True, ["den"], 1.0)
    assert step.events == [ev.MemberOnline("den", "dave")]
    assert dials(step) == [Dial("dave")]
    step = alice.presence("bob", False, ["den", "lobby"], 2.0)
    # bob's channel is alive: he stays reachable for the grace, reported offline at once.
    assert step.events == [ev.MemberOffline("den", "bob"), ev.MemberOffline("lobby", "bob")]
    assert closes(step) == []
    step = alice.presence("bob", True, ["den", "lobby"], 3.0)
    assert step.events == [ev.MemberOnline("den", "bob"), ev.MemberOnline("lobby", "bob")]


def test_presence_offline_without_a_channel_is_not_leaving() -> None:
    alice = two_rooms()
    alice.presence("dave", True, ["den"], 1.0)
    step = alice.presence("dave", False, ["den"], 2.0)
    assert step.events == [ev.MemberOffline("den", "dave")]
    den = alice.rooms.get("den")
    assert den is not None and "dave" in den.roster and den.offline("dave")


def test_presence_for_a_room_not_ours_or_a_stranger_is_ignored() -> None:
    alice = two_rooms()
    assert alice.presence("zoe", True, ["den"], 1.0).events == []
    assert alice.presence("dave", True, ["attic"], 1.0).events == []


def test_an_offline_member_leaving_the_roster_is_reported_left() -> None:
    alice = two_rooms()
    step = alice.room_update(
        "den", "bob", ["bob", "alice"], 1.0, ("dave", Departure.KICKED), roster=["bob", "alice"]
    )
    assert step.events == [ev.MemberLeft("den", "dave", "kicked")]


def test_a_new_offline_member_is_a_join_not_a_presence() -> None:
    alice = two_rooms()
    step = alice.room_update(
        "den", "bob", ["bob", "alice"], 1.0, roster=["bob", "dave", "alice", "eve"]
    )
    assert step.events == [ev.MemberJoined("den", "eve")]
    assert dials(step) == []


def test_leaving_one_room_keeps_the_channel_of_a_member_we_still_share_a_room_with() -> None:
    alice = two_rooms()
    alice.send_room("den", "pending in den", 1.0, 1.0)
    step = alice.leave_notices("den")
    assert frames(step) == [LeaveNotice("den", "alice")]
    step = alice.room_closed("den", deleted=False)
    assert closes(step) == []  # bob is still in lobby with us
    assert [e.reason for e in events(step, ev.MessageFailed)] == ["left"]
    assert alice.rooms.names() == ["lobby"] and alice.connected == ["bob", "carol"]


def test_a_member_leaving_one_room_stays_reachable_in_the_other() -> None:
    alice = two_rooms()
    alice.send_room("lobby", "to lobby", 1.0, 1.0)
    in_den, _ = alice.send_room("den", "to den", 1.0, 1.0)
    step = alice.frames_received(1, [LeaveNotice("den", "bob")], 2.0)
    assert step.events == [
        ev.MemberLeft("den", "bob", "left"),
        ev.MessageFailed(in_den.msg_id, "bob", "left"),
    ]
    assert closes(step) == []
    assert alice.outbox.pending_count("bob") == 1  # the lobby one still awaits its receipt


def test_a_kick_from_one_room_keeps_the_others() -> None:
    alice = two_rooms()
    step = alice.kicked(Kicked("den", "bob", KickReason.KICKED))
    assert step.events[-1] == ev.RemovedFromRoom("den", "bob", "kicked")
    assert closes(step) == [] and alice.rooms.names() == ["lobby"]


def test_a_lost_channel_is_reported_in_every_room_shared() -> None:
    alice = two_rooms()
    step = alice.channel_closed(1, CloseReason.NETWORK_ERROR, "cut", 1.0)
    assert events(step, ev.MemberLeft) == [
        ev.MemberLeft("lobby", "bob", "connection_lost"),
        ev.MemberLeft("den", "bob", "connection_lost"),
    ]


def test_restore_rebuilds_the_rooms_in_the_trackers_order_and_drops_the_rest() -> None:
    alice = two_rooms()
    step = alice.rooms_restored(
        [
            RoomEntry("den", "bob", 16, ["bob", "dave", "alice"], ["bob", "dave"]),
            RoomEntry("attic", "eve", 16, ["eve", "alice"], ["alice"]),
        ],
        5.0,
    )
    assert alice.rooms.names() == ["den", "attic"]
    assert step.events[-1] == ev.RoomsRestored(("den", "attic"))
    assert ev.MemberOnline("den", "dave") in step.events
    assert ("carol", CloseReason.LEFT_ROOM) in closes(step)  # lobby is gone, so is carol's


def test_restore_keeps_at_most_max_rooms() -> None:
    alice = make_core("alice")
    entries = [RoomEntry(f"r{n}", "alice", 16, ["alice"], ["alice"]) for n in range(MAX_ROOMS + 5)]
    step = alice.rooms_restored(entries, 0.0)
    assert len(alice.rooms.names()) == MAX_ROOMS
    assert len(step.events[-1].rooms) == MAX_ROOMS  # type: ignore[union-attr]


def test_entering_beyond_max_rooms_is_refused() -> None:
    alice = make_core("alice")
    for n in range(MAX_ROOMS):
        alice.room_entered(f"r{n}", "alice", 16, ["alice"], 0.0)
    step = alice.room_entered("one_more", "alice", 16, ["alice"], 0.0)
    assert [e.code for e in events(step, ev.ErrorEvent)] == ["quota_exceeded"]
    assert "one_more" not in alice.rooms.names()


def test_relay_only_in_any_shared_room_means_relay_only_with_that_member() -> None:
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 16, ["alice", "bob"], 0.0)
    alice.room_entered("den", "bob", 16, ["alice", "bob"], 0.0, relay_only=True)
    assert alice.rooms.relay_only_with("bob")
    alice.room_closed("den", deleted=False)
    assert not alice.rooms.relay_only_with("bob")


def test_presence_offline_after_the_channel_was_lost_still_says_offline() -> None:
    alice = two_rooms()
    alice.channel_closed(1, CloseReason.NETWORK_ERROR, "killed", 1.0)
    step = alice.presence("bob", False, ["den", "lobby"], 2.0)
    assert step.events == [ev.MemberOffline("den", "bob"), ev.MemberOffline("lobby", "bob")]
    step = alice.presence("bob", True, ["den", "lobby"], 3.0)
    assert step.events == [ev.MemberOnline("den", "bob"), ev.MemberOnline("lobby", "bob")]
    assert dials(step) == [Dial("bob")]


def test_a_channel_dying_is_reported_only_where_the_member_was_still_online() -> None:
    alice = two_rooms()
    assert alice.presence("bob", False, ["den"], 1.0).events == [ev.MemberOffline("den", "bob")]
    step = alice.channel_closed(1, CloseReason.EXPIRED, "silent", 16.0)
    # In den the tracker already said bob's session ended: his channel closing adds nothing.
    assert events(step, ev.MemberLeft) == [ev.MemberLeft("lobby", "bob", "connection_lost")]


def test_a_room_holds_the_messages_of_a_bounded_number_of_unlisted_senders() -> None:
    """Anyone with a channel can name our room: what waits for the tracker to list a
    sender is bounded per sender and in the number of senders."""
    room = RoomState("lobby", "alice", 16, "alice", {"alice"})
    for n in range(MAX_HELD_SENDERS):
        assert room.hold(chat(f"s{n}", 1, "lobby"), 32)
    assert not room.hold(chat("stranger", 1, "lobby"), 32)
    assert room.hold(chat("s0", 2, "lobby"), 32)  # a sender already waiting may add more
    assert "stranger" not in room.held and len(room.held) == MAX_HELD_SENDERS
