"""PeerCore, membership and channels: inputs in, events and actions out, no sockets."""

from __future__ import annotations

from commons.room_control import Departure, Kicked, KickReason
from peer import events as ev
from peer.core.actions import Admit, CloseChannel, CloseReason, Dial, DialFailure, SendFrame
from peer.core.frames import ChatMessage, LeaveNotice, Ping
from tests.peer.core_helpers import closes, dials, events, frames, in_room, make_core


def chat(sender: str, seq: int, room: str | None = "lobby", text: str = "hi") -> ChatMessage:
    return ChatMessage(room, sender, text, 1.0, f"{'0' * 14}{sender[0] * 2}-{seq}")


# ---------------------------------------------------------------- joining


def test_the_smaller_name_dials_at_once_the_larger_after_the_fallback_delay() -> None:
    alice = make_core("alice")
    step = alice.room_entered("lobby", "bob", 3, ["bob", "alice"], 0.0)
    assert dials(step) == [Dial("bob")]
    assert step.events == []  # the members already there are not news

    bob = make_core("bob")
    assert dials(bob.room_entered("lobby", "bob", 3, ["bob", "alice"], 0.0)) == []
    assert bob.next_wakeup() == 2.0
    assert dials(bob.tick(1.9)) == []
    assert dials(bob.tick(2.0)) == [Dial("alice")]
    assert bob.members == ["alice", "bob"]


def test_no_fallback_dial_once_the_channel_came() -> None:
    bob = make_core("bob")
    bob.room_entered("lobby", "bob", 3, ["bob", "alice"], 0.0)
    step = bob.channel_opened("alice", 1, initiator=False, now=1.0)
    assert step.events == [ev.ChannelOpened("alice")]
    assert dials(bob.tick(2.0)) == []
    assert bob.connected == ["alice"]


def test_member_joins_and_is_dialled() -> None:
    alice = in_room("alice", ("alice", "bob"))
    step = alice.room_update("lobby", "alice", ["alice", "bob", "carol"], 1.0)
    assert step.events == [ev.MemberJoined("lobby", "carol")]
    assert dials(step) == [Dial("carol")]


def test_update_for_another_room_is_ignored() -> None:
    alice = in_room("alice", ("alice", "bob"))
    assert alice.room_update("elsewhere", "x", ["x", "y"], 1.0).events == []
    assert alice.members == ["alice", "bob"]


def test_joining_another_room_keeps_the_first() -> None:
    alice = in_room("alice", ("alice", "bob"))
    step = alice.room_entered("second", "carol", 3, ["carol", "alice"], 1.0)
    assert closes(step) == [] and step.events == []
    assert alice.rooms.names() == ["lobby", "second"]
    assert alice.members == ["alice", "bob"]  # the first room's


def test_rejoining_the_same_room_applies_the_list() -> None:
    alice = in_room("alice", ("alice", "bob"))
    step = alice.room_entered("lobby", "alice", 3, ["alice", "bob", "carol"], 1.0)
    assert step.events == [ev.MemberJoined("lobby", "carol")]


# ---------------------------------------------------------------- leaving


def test_leave_notice_reports_at_once_and_the_tracker_update_is_silent() -> None:
    alice = in_room("alice", ("alice", "bob", "carol"))
    step = alice.frames_received(1, [LeaveNotice("lobby", "bob")], 1.0)
    assert step.events == [ev.MemberLeft("lobby", "bob", "left")]
    assert alice.members == ["alice", "carol"]
    step = alice.room_update("lobby", "alice", ["alice", "carol"], 2.0)
    assert step.events == []
    assert closes(step) == [("bob", CloseReason.LEFT_ROOM)]


def test_leave_notice_for_another_room_or_from_a_stranger_is_ignored() -> None:
    alice = in_room("alice", ("alice", "bob"))
    assert alice.frames_received(1, [LeaveNotice("other", "bob")], 1.0).events == []
    alice.channel_opened("mallory", 9, initiator=False, now=1.0)
    assert alice.frames_received(9, [LeaveNotice("lobby", "mallory")], 1.0).events == []
    assert alice.members == ["alice", "bob"]


def test_tracker_drops_a_member_without_a_channel() -> None:
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)  # dial under way
    step = alice.room_update("lobby", "alice", ["alice"], 1.0)
    assert step.events == [ev.MemberLeft("lobby", "bob", "left")]


def test_our_leave_sends_notices_then_closes_room_channels_but_not_private_ones() -> None:
    alice = in_room("alice", ("alice", "bob", "carol"))
    alice.frames_received(2, [chat("carol", 1, room=None)], 0.5)  # carol's is private too
    notices = alice.leave_notices()
    assert frames(notices) == [LeaveNotice("lobby", "alice")] * 2
    step = alice.room_closed(deleted=False)
    assert closes(step) == [("bob", CloseReason.LEFT_ROOM)]
    assert step.events == []
    assert alice.connected == ["carol"] and alice.members == []


def test_a_kick_from_our_room_says_goodbye_then_closes_it_and_tells_the_user() -> None:
    alice = in_room("alice", ("bob", "alice", "carol"))  # bob owns the room
    alice.frames_received(2, [chat("carol", 1, room=None)], 0.5)  # carol's is private too
    alice.send_room("lobby", "pending", 1.0, 1.0)
    step = alice.kicked(Kicked("lobby", "bob", KickReason.BANNED))
    # The notices go out before any channel closes, on both channels.
    assert [type(a) for a in step.actions] == [SendFrame, SendFrame, CloseChannel]
    assert frames(step) == [LeaveNotice("lobby", "alice")] * 2
    assert closes(step) == [("bob", CloseReason.LEFT_ROOM)]
    assert events(step, ev.MessageFailed) != []  # what was pending for the room is given up
    assert step.events[-1] == ev.RemovedFromRoom("lobby", "bob", "banned")
    assert events(step, ev.RoomDeleted) == []
    assert alice.members == [] and alice.connected == ["carol"]


def test_a_kick_from_another_room_is_only_reported() -> None:
    alice = in_room("alice", ("alice", "bob"))
    step = alice.kicked(Kicked("elsewhere", "zoe", KickReason.KICKED))
    assert step.actions == []
    assert step.events == [ev.RemovedFromRoom("elsewhere", "zoe", "kicked")]
    assert alice.members == ["alice", "bob"] and alice.connected == ["bob"]
    assert make_core("alice").kicked(Kicked("lobby", "bob", KickReason.KICKED)).actions == []


def test_room_deleted_is_reported_with_who_deleted_it() -> None:
    alice = in_room("alice", ("bob", "alice"))  # bob owns the room: only he can delete it
    assert alice.room_closed(deleted=True).events == [ev.RoomDeleted("lobby", "bob")]
    assert alice.room_closed(deleted=True).events == []  # only once


# ---------------------------------------------------------------- channel loss and re-dial


def test_channel_loss_reports_the_member_gone_and_redials() -> None:
    alice = in_room("alice", ("alice", "bob"))
    step = alice.channel_closed(1, CloseReason.REMOTE_CLOSED, "eof", 10.0)
    assert step.events == [
        ev.ChannelClosed("bob", "eof"),
        ev.MemberLeft("lobby", "bob", "connection_lost"),
    ]
    assert alice.members == ["alice"]
    assert alice.next_wakeup() == 11.0
    assert dials(alice.tick(11.0)) == [Dial("bob", retry=True)]
    step = alice.channel_opened("bob", 2, initiator=True, now=11.5)
    assert step.events == [ev.MemberJoined("lobby", "bob"), ev.ChannelOpened("bob")]
    assert alice.members == ["alice", "bob"]
    # The tracker never stopped listing bob: its next update is not news.
    assert alice.room_update("lobby", "alice", ["alice", "bob"], 12.0).events == []


def test_the_larger_name_waits_longer_before_redialling() -> None:
    bob = in_room("bob", ("alice", "bob"))
    bob.channel_closed(1, CloseReason.REMOTE_CLOSED, "eof", 10.0)
    assert dials(bob.tick(11.0)) == []
    assert dials(bob.tick(13.0)) == [Dial("alice", retry=True)]


def test_redial_backs_off_then_gives_up_quietly() -> None:
    alice = in_room("alice", ("alice", "bob"), redial_delays=(1.0, 2.0, 4.0))
    alice.channel_closed(1, CloseReason.NETWORK_ERROR, "reset", 0.0)
    now = 0.0
    for delay in (1.0, 2.0, 4.0):
        now += delay
        assert dials(alice.tick(now)) == [Dial("bob", retry=True)]
        step = alice.dial_failed("bob", DialFailure.UNREACHABLE, "refused", now)
        assert step.events == []  # a retry nobody asked for is not an error to show
    assert alice.next_wakeup() is None
    assert dials(alice.tick(100.0)) == []


def test_redial_stops_when_the_tracker_drops_the_member() -> None:
    alice = in_room("alice", ("alice", "bob"))
    alice.channel_closed(1, CloseReason.NETWORK_ERROR, "reset", 0.0)
    step = alice.room_update("lobby", "alice", ["alice"], 0.5)
    assert step.events == []  # already reported gone
    assert dials(alice.tick(1.0)) == []
    assert alice.next_wakeup() is None


def test_a_stale_close_or_frame_of_a_replaced_channel_changes_nothing() -> None:
    bob = in_room("bob", ("alice", "bob"))
    step = bob.channel_opened("alice", 7, initiator=False, now=1.0)  # alice restarted
    assert closes(step) == [("alice", CloseReason.REPLACED)]
    assert bob.channel_closed(1, CloseReason.REMOTE_CLOSED, "old one", 2.0).events == []
    assert bob.frames_received(1, [chat("alice", 1)], 2.0).events == []
    assert bob.connected == ["alice"] and bob.channel_of("alice") == 7


def test_a_close_we_decided_is_not_reported_again() -> None:
    alice = in_room("alice", ("alice", "bob"))
    alice.room_closed(deleted=False)
    assert alice.channel_closed(1, CloseReason.LEFT_ROOM, "", 1.0).events == []
    alice = in_room("alice", ("alice", "bob"))
    alice.channel_closed(1, CloseReason.SHUTDOWN, "", 1.0)
    assert alice.connected == []


def test_a_silent_close_reason_from_the_shell_is_not_a_loss() -> None:
    alice = in_room("alice", ("alice", "bob"))
    assert alice.channel_closed(1, CloseReason.SHUTDOWN, "", 1.0).events == []
    assert alice.connected == [] and alice.members == ["alice", "bob"]


# ---------------------------------------------------------------- tracker drop vs channel alive


def test_member_the_tracker_drops_stays_while_the_channel_lives() -> None:
    alice = in_room("alice", ("alice", "bob"))
    step = alice.room_update("lobby", "alice", ["alice"], 1.0)  # tracker restarted
    assert step.events == [] and closes(step) == []
    assert alice.members == ["alice", "bob"]
    alice.frames_received(1, [Ping()], 9.0)
    assert alice.tick(20.0).events == []  # heard at 9: alive until 24
    assert alice.room_update("lobby", "alice", ["alice", "bob"], 21.0).events == []  # back


def test_member_the_tracker_dropped_whose_channel_falls_silent_is_dropped() -> None:
    alice = in_room("alice", ("alice", "bob"))
    alice.room_update("lobby", "alice", ["alice"], 1.0)
    step = alice.tick(15.0)
    assert closes(step) == [("bob", CloseReason.EXPIRED)]
    assert events(step, ev.MemberLeft) == [ev.MemberLeft("lobby", "bob", "connection_lost")]
    assert dials(alice.tick(20.0)) == []  # nobody lists bob: no re-dial
    assert alice.members == ["alice"]
    # bob comes back later: that is news again.
    step = alice.room_update("lobby", "alice", ["alice", "bob"], 30.0)
    assert step.events == [ev.MemberJoined("lobby", "bob")]


def test_detached_member_whose_channel_closes_is_reported_gone_once() -> None:
    alice = in_room("alice", ("alice", "bob"))
    alice.room_update("lobby", "alice", ["alice"], 1.0)
    step = alice.channel_closed(1, CloseReason.REMOTE_CLOSED, "eof", 2.0)
    assert events(step, ev.MemberLeft) == [ev.MemberLeft("lobby", "bob", "connection_lost")]
    assert alice.room_update("lobby", "alice", ["alice"], 3.0).events == []


def test_a_kicked_member_is_gone_at_once_even_with_a_live_private_channel() -> None:
    """The owner kicked carol: every member drops her now, channel or not. Keeping her
    detached would let a kicked (or banned) user whose client ignores the kick go on
    reading the room over the private channel they keep alive."""
    alice = in_room("alice", ("alice", "bob", "carol"))
    alice.frames_received(2, [chat("carol", 1, room=None)], 0.5)  # a private chat too
    step = alice.room_update(
        "lobby", "alice", ["alice", "bob"], 1.0, departed=("carol", Departure.KICKED)
    )
    assert events(step, ev.MemberLeft) == [ev.MemberLeft("lobby", "carol", "kicked")]
    assert closes(step) == []  # the private conversation goes on
    assert alice.members == ["alice", "bob"]
    sent, step = alice.send_room("lobby", "members only", 2.0, 2.0)
    assert sent.recipients == ("bob",)
    assert frames(step, "carol") == []


def test_two_departures_in_one_batch_come_as_two_updates_and_both_are_dropped() -> None:
    """A tracker of a group names one departure per update: carol, unlisted by the
    first update (which names dave), is dropped at once when the second names her."""
    alice = in_room("alice", ("alice", "bob", "carol", "dave"))
    first = alice.room_update(
        "lobby", "alice", ["alice", "bob"], 1.0, departed=("dave", Departure.LEFT)
    )
    assert events(first, ev.MemberLeft) == [ev.MemberLeft("lobby", "dave", "left")]
    second = alice.room_update(
        "lobby", "alice", ["alice", "bob"], 1.0, departed=("carol", Departure.KICKED)
    )
    assert events(second, ev.MemberLeft) == [ev.MemberLeft("lobby", "carol", "kicked")]
    assert ("carol", CloseReason.LEFT_ROOM) in closes(second)
    sent, step = alice.send_room("lobby", "members only", 2.0, 2.0)
    assert sent.recipients == ("bob",)
    assert frames(step, "carol") == []


def test_a_banned_member_without_a_private_channel_is_closed_and_reported_banned() -> None:
    alice = in_room("alice", ("alice", "bob", "carol"))
    step = alice.room_update(
        "lobby", "alice", ["alice", "bob"], 1.0, departed=("carol", Departure.BANNED)
    )
    assert events(step, ev.MemberLeft) == [ev.MemberLeft("lobby", "carol", "banned")]
    assert closes(step) == [("carol", CloseReason.LEFT_ROOM)]


def test_a_detached_member_not_listed_again_within_the_grace_is_dropped() -> None:
    """The tracker dropped bob (no departure) while our channel lives: he stays for the
    grace, however alive the channel, then is gone."""
    alice = in_room("alice", ("alice", "bob", "carol"), detach_grace=30.0)
    alice.frames_received(2, [chat("carol", 1, room=None)], 0.5)  # carol's is private too
    alice.room_update("lobby", "alice", ["alice", "bob"], 1.0)  # carol's session dropped
    assert alice.members == ["alice", "bob", "carol"]
    for now in (5.0, 10.0, 15.0, 20.0, 25.0, 30.0):
        alice.frames_received(1, [Ping()], now)  # both channels stay alive
        alice.frames_received(2, [Ping()], now)
        assert events(alice.tick(now), ev.MemberLeft) == []
    assert alice.next_wakeup() is not None and alice.next_wakeup() <= 31.0
    step = alice.tick(31.0)
    assert events(step, ev.MemberLeft) == [ev.MemberLeft("lobby", "carol", "connection_lost")]
    assert closes(step) == []  # private: kept
    assert alice.members == ["alice", "bob"]
    sent, _ = alice.send_room("lobby", "after", 32.0, 32.0)
    assert sent.recipients == ("bob",)


def test_a_detached_member_listed_again_within_the_grace_stays_silently() -> None:
    alice = in_room("alice", ("alice", "bob"), detach_grace=30.0)
    alice.room_update("lobby", "alice", ["alice"], 1.0)
    alice.frames_received(1, [Ping()], 5.0)
    assert alice.room_update("lobby", "alice", ["alice", "bob"], 6.0).events == []
    for now in (10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0):
        alice.frames_received(1, [Ping()], now)
        assert events(alice.tick(now), ev.MemberLeft) == []
    assert alice.members == ["alice", "bob"]


# ---------------------------------------------------------------- duplicate dials


def test_duplicate_dial_tie_break() -> None:
    """The channel dialled by the smaller name wins on both ends."""
    alice = make_core("alice")
    alice.room_entered("lobby", "bob", 3, ["alice", "bob"], 0.0)  # alice dials bob
    assert alice.admit("bob") is Admit.DUPLICATE  # bob's crossing dial is refused as a duplicate
    bob = make_core("bob")
    bob.room_entered("lobby", "bob", 3, ["alice", "bob"], 0.0)
    assert dials(bob.tick(2.0)) == [Dial("alice", retry=False)]
    assert (
        bob.admit("alice") is Admit.ACCEPT
    )  # the larger name always takes the smaller one's channel
    assert bob.channel_opened("alice", 5, initiator=False, now=2.0).events == [
        ev.ChannelOpened("alice")
    ]
    assert bob.dial_failed("alice", DialFailure.DUPLICATE, "duplicate", 2.1).events == []
    assert bob.connected == ["alice"]


def test_smaller_name_refuses_a_second_channel_while_it_holds_its_own() -> None:
    alice = in_room("alice", ("alice", "bob"))
    assert alice.admit("bob") is Admit.DUPLICATE
    bob = in_room("bob", ("alice", "bob"))
    assert bob.admit("alice") is Admit.ACCEPT  # alice restarted and dials again: replace
    alice_inbound = make_core("alice")
    alice_inbound.channel_opened("bob", 3, initiator=False, now=0.0)
    assert (
        alice_inbound.admit("bob") is Admit.ACCEPT
    )  # the old channel was bob's: a new one replaces it


def test_replacing_channel_resends_what_the_old_one_carried() -> None:
    bob = in_room("bob", ("alice", "bob"))
    sent, step = bob.send_room("lobby", "hello", 1.0, 1.0)
    assert frames(step, "alice")[0].msg_id == sent.msg_id
    step = bob.channel_opened("alice", 9, initiator=False, now=2.0)
    assert [f.msg_id for f in frames(step, "alice")] == [sent.msg_id]


# ---------------------------------------------------------------- dial failures


def test_a_failed_dial_the_user_asked_for_is_reported() -> None:
    alice = make_core("alice")
    alice.want_channel("bob")
    assert alice.want_channel("bob").actions == []  # already under way
    step = alice.dial_failed("bob", DialFailure.REFUSED, "bob refused", 1.0)
    assert step.events == [ev.ErrorEvent("handshake_failed", "bob refused")]


def test_a_dial_refused_for_a_changed_key_fails_what_waits_for_them() -> None:
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)
    sent, _ = alice.send_room("lobby", "hi", 1.0, 1.0)
    step = alice.dial_failed("bob", DialFailure.KEY_CHANGED, "key changed", 1.0)
    assert step.events == [
        ev.ErrorEvent("key_changed", "key changed"),
        ev.MessageFailed(sent.msg_id, "bob", "key_changed"),
    ]


# ---------------------------------------------------------------- trust and session


def test_key_change_closes_the_channel_and_trust_dials_again() -> None:
    alice = in_room("alice", ("alice", "bob"))
    step = alice.key_changed("bob", 1.0)
    assert closes(step) == [("bob", CloseReason.KEY_CHANGED)]
    assert events(step, ev.MemberLeft) == [ev.MemberLeft("lobby", "bob", "connection_lost")]
    assert dials(alice.tick(5.0)) == []  # no re-dial to a key we refuse
    step = alice.trust_restored("bob")
    assert dials(step) == [Dial("bob")]
    assert alice.channel_opened("bob", 2, initiator=True, now=6.0).events == [
        ev.MemberJoined("lobby", "bob"),
        ev.ChannelOpened("bob"),
    ]


def test_session_end_and_shutdown_close_everything_silently() -> None:
    alice = in_room("alice", ("alice", "bob", "carol"))
    step = alice.session_ended()
    assert sorted(closes(step)) == [
        ("bob", CloseReason.LEFT_ROOM),
        ("carol", CloseReason.LEFT_ROOM),
    ]
    assert alice.members == [] and step.events == []
    alice = make_core("alice")
    alice.channel_opened("bob", 1, initiator=True, now=0.0)
    assert closes(alice.shutdown()) == [("bob", CloseReason.SHUTDOWN)]
    assert alice.next_wakeup() is None
