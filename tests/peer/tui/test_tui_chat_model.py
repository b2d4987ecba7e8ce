"""ChatModel: client events -> buffer lines, members, trust and the send gate."""

from __future__ import annotations

from crypto.pinning import TrustState
from peer.events import (
    ChannelsRefused,
    ConnectionLost,
    ErrorEvent,
    InvitedToRoom,
    KeyChanged,
    MemberJoined,
    MemberLeft,
    MessageDelivered,
    MessageFailed,
    MessageReceived,
    Reconnected,
    RemovedFromRoom,
    RoomDeleted,
    RoomLost,
    SessionReplaced,
    TrustChanged,
)
from peer.tui.model.buffers import REQUESTS, STATUS, LineKind, private_buffer, room_buffer
from peer.tui.model.chat_model import (
    MAX_CLOCK_AHEAD,
    MAX_DELIVERY_DELAY,
    MAX_KNOWN_NAMES,
    ChatModel,
    shown_time,
)
from peer.tui.model.receipts import MarkKind
from peer.tui.model.status_lines import placeholder

LOBBY = room_buffer("lobby")


NOW = 100_000.0


def model_in_lobby() -> ChatModel:
    model = ChatModel("alice", clock=lambda: NOW)
    model.set_room("lobby", ["bob", "alice", "carol"])
    model.buffers.switch_to(LOBBY)
    return model


def msg(room: str | None, sender: str, text: str, sent_at: float = NOW - 5) -> MessageReceived:
    return MessageReceived(room, sender, text, sent_at, f"{sender}-{text}")


def test_room_message_is_drawn_in_the_room_buffer() -> None:
    model = model_in_lobby()
    assert model.apply(msg("lobby", "bob", "hi")) == [LOBBY]
    line = model.buffers.current.lines[-1]
    assert (line.kind, line.sender, line.text, line.timestamp) == (
        LineKind.MESSAGE,
        "bob",
        "hi",
        NOW - 5,  # the sender's time
    )
    assert model.buffers.current.unread == 0
    assert model.members == ["alice", "bob", "carol"]


def test_private_message_counts_and_highlights_a_hidden_buffer() -> None:
    model = model_in_lobby()
    model.apply(msg(None, "bob", "psst"))
    buffer = model.buffers.get(private_buffer("bob"))
    assert buffer is not None and buffer.unread == 1 and buffer.highlight
    assert not buffer.lines[-1].mention


def test_mentions_mark_the_line_and_the_buffer() -> None:
    model = model_in_lobby()
    model.buffers.switch_to(STATUS)
    model.apply(msg("lobby", "bob", "ALICE: look"))
    model.apply(msg("lobby", "bob", "malice aforethought"))
    lobby = model.buffers.get(LOBBY)
    assert lobby is not None and lobby.unread == 2 and lobby.highlight
    assert [line.mention for line in lobby.lines] == [True, False]


def test_members_follow_joins_and_leaves_with_notices() -> None:
    model = model_in_lobby()
    model.apply(MemberLeft("lobby", "carol", "connection_lost"))
    model.apply(MemberJoined("lobby", "dave"))
    model.apply(MemberJoined("other", "erin"))
    assert model.members == ["alice", "bob", "dave"]
    texts = [line.text for line in model.buffers.current.lines]
    assert texts == ["carol lost their connection in #lobby", "dave joined #lobby"]
    assert all(line.kind is LineKind.NOTICE for line in model.buffers.current.lines)


def test_a_member_the_owner_removed_is_told_apart_from_one_who_left() -> None:
    model = model_in_lobby()
    model.apply(MemberLeft("lobby", "carol", "banned"))
    model.apply(MemberLeft("lobby", "bob", "kicked"))
    texts = [line.text for line in model.buffers.current.lines]
    assert texts == [
        "carol was banned by the owner from #lobby",
        "bob was removed by the owner from #lobby",
    ]
    assert model.members == ["alice"]


def test_the_owner_reads_their_own_kick_once() -> None:
    model = model_in_lobby()
    model.set_room("lobby", model.members, model.username)
    model.apply(MemberLeft("lobby", "bob", "kicked"))
    model.apply(MemberLeft("lobby", "carol", "left"))
    texts = [line.text for line in model.buffers.current.lines]
    assert texts == ["carol left #lobby"]  # the /kick result line names bob
    assert "bob" not in model.members


def test_room_deleted_leaves_the_room_and_marks_the_buffer() -> None:
    model = model_in_lobby()
    model.apply(RoomDeleted("lobby"))
    assert model.room is None and model.members == []
    assert "lobby" in model.deleted_rooms
    lobby = model.buffers.get(LOBBY)
    assert lobby is not None and not lobby.active
    assert lobby.lines[-1].kind is LineKind.WARNING
    model.set_room("lobby", ["alice"])
    assert "lobby" not in model.deleted_rooms and lobby.active


def test_key_change_is_shown_until_decided() -> None:
    model = model_in_lobby()
    model.buffers.ensure(private_buffer("bob"))
    touched = model.apply(KeyChanged("bob", "AAAA BBBB", bytes(32), ("AAAA BBBB",)))
    assert set(touched) == {STATUS, LOBBY, private_buffer("bob")}
    assert model.verification_of("bob") is TrustState.KEY_CHANGED
    assert model.pending_fingerprints["bob"] == ("AAAA BBBB",)
    assert model.key_changed_users == ["bob"]
    # A second new key while the first is undecided: both stay in question, said so.
    model.apply(KeyChanged("bob", "CCCC DDDD", bytes(32), ("AAAA BBBB", "CCCC DDDD")))
    assert model.pending_fingerprints["bob"] == ("AAAA BBBB", "CCCC DDDD")
    warning = model.buffers.current.lines[-1].text
    assert "2 keys are in question" in warning and "AAAA BBBB" in warning
    assert "/trust bob" in warning and "/reject bob" in warning
    model.apply(TrustChanged("bob", "unverified", "AAAA BBBB"))
    assert model.key_changed_users == [] and "bob" not in model.pending_fingerprints
    model.apply(TrustChanged("bob", "verified", "AAAA BBBB"))
    assert model.verification_of("bob") is TrustState.VERIFIED
    model.apply(TrustChanged("carol", "key_changed", "CCCC"))
    assert model.key_changed_users == ["carol"]


def test_own_line_follows_its_receipts() -> None:
    model = model_in_lobby()
    model.own_message(LOBBY, "hello", "aa-1", ("bob", "carol"))
    line = model.buffers.current.lines[-1]
    assert line.msg_id == "aa-1" and line.kind is LineKind.OWN
    receipt = model.receipts.get("aa-1")
    assert receipt is not None and receipt.mark() == ("\u2026", MarkKind.PENDING)
    assert model.apply(MessageDelivered("aa-1", "bob")) == [LOBBY]
    assert LOBBY in model.redraw
    assert receipt.mark() == ("\u27131/2", MarkKind.PARTIAL)
    model.apply(MessageDelivered("aa-1", "carol"))
    assert receipt.mark() == ("\u2713", MarkKind.DONE)
    model.own_message(LOBBY, "second", "aa-2", ("bob", "carol"))
    model.apply(MessageDelivered("aa-2", "carol"))
    model.apply(MessageFailed("aa-2", "bob", "key_changed"))
    second = model.receipts.get("aa-2")
    assert second is not None and second.mark() == ("\u27171", MarkKind.FAILED)
    assert second.describe() == "delivered to carol; NOT delivered to bob (key changed)"
    assert [r.text for r in model.receipts.latest(LOBBY, 5)] == ["hello", "second"]


def test_a_receipt_that_beats_its_line_is_kept() -> None:
    model = model_in_lobby()
    assert model.apply(MessageDelivered("aa-9", "bob")) == []
    model.own_message(LOBBY, "fast", "aa-9", ("bob",))
    receipt = model.receipts.get("aa-9")
    assert receipt is not None and receipt.mark() == ("\u2713", MarkKind.DONE)


def test_private_message_without_recipients_has_no_mark() -> None:
    model = model_in_lobby()
    model.own_message(LOBBY, "alone", "aa-3", ())
    receipt = model.receipts.get("aa-3")
    assert receipt is not None and receipt.mark() is None
    assert receipt.describe() == "nobody else was there"


def test_connection_state_and_session_end() -> None:
    model = model_in_lobby()
    model.apply(ConnectionLost("reset"))
    assert not model.connected
    assert model.buffers.current.lines[-1].kind is LineKind.WARNING
    model.apply(Reconnected())
    assert model.connected
    model.apply(SessionReplaced())
    assert model.session_ended and not model.connected


def test_error_events_go_to_the_status_buffer() -> None:
    model = model_in_lobby()
    assert model.apply(ErrorEvent("handshake_failed", "cannot reach bob")) == [STATUS]
    status = model.buffers.get(STATUS)
    assert status is not None
    assert status.lines[-1].text == "cannot reach bob [handshake_failed]"


def test_shown_time_is_the_senders_unless_implausible() -> None:
    model = model_in_lobby()
    model.apply(msg("lobby", "bob", "delayed", NOW - 600))
    model.apply(msg("lobby", "bob", "from the future", NOW + 86400))
    model.apply(msg("lobby", "bob", "from last year", NOW - 365 * 86400))
    shown = [line.timestamp for line in model.buffers.current.lines][-3:]
    assert shown == [NOW - 600, NOW, NOW]
    assert shown_time(NOW + MAX_CLOCK_AHEAD, NOW) == NOW + MAX_CLOCK_AHEAD
    assert shown_time(NOW + MAX_CLOCK_AHEAD + 1, NOW) == NOW
    assert shown_time(NOW - MAX_DELIVERY_DELAY, NOW) == NOW - MAX_DELIVERY_DELAY
    assert shown_time(NOW - MAX_DELIVERY_DELAY - 1, NOW) == NOW


def test_a_deleted_room_says_who_deleted_it() -> None:
    model = model_in_lobby()
    model.apply(RoomDeleted("lobby", "carol"))
    assert model.buffers.current.lines[-1].text == "room #lobby was deleted by its owner carol"
    model.set_room("other", ["alice"], "alice")
    model.buffers.switch_to(room_buffer("other"))
    model.apply(RoomDeleted("other", "alice"))
    assert model.buffers.current.lines[-1].text == "you deleted room #other"


def test_names_seen_are_remembered_for_completion_with_a_bound() -> None:
    model = model_in_lobby()
    assert {"bob", "carol"} <= model.known_users and "lobby" in model.known_rooms
    model.apply(msg(None, "dave", "psst"))
    assert "dave" in model.known_users
    model.remember(users=[f"user{i}" for i in range(3 * MAX_KNOWN_NAMES)])
    assert len(model.known_users) == MAX_KNOWN_NAMES


def test_being_kicked_leaves_the_room_with_a_warning() -> None:
    model = model_in_lobby()
    touched = model.apply(RemovedFromRoom("lobby", "bob", "banned"))
    assert LOBBY in touched and model.room is None and model.members == []
    line = model.buffers.get(LOBBY).lines[-1]  # type: ignore[union-attr]
    assert line.kind is LineKind.WARNING and line.text == "bob banned you from #lobby"
    assert not model.buffers.get(LOBBY).active  # type: ignore[union-attr]
    assert placeholder(model) == (
        "the owner banned you from #lobby: /close this buffer (/join once unbanned)"
    )
    kicked = model_in_lobby()
    kicked.apply(RemovedFromRoom("lobby", "bob", "kicked"))
    kicked.buffers.switch_to(LOBBY)
    assert placeholder(kicked) == "you left #lobby: /join lobby to come back"


def test_a_room_lost_while_disconnected_is_closed_with_a_warning() -> None:
    model = model_in_lobby()
    touched = model.apply(RoomLost("lobby"))
    assert LOBBY in touched and STATUS in touched and model.room is None
    line = model.buffers.get(LOBBY).lines[-1]  # type: ignore[union-attr]
    assert line.kind is LineKind.WARNING and "no longer in #lobby" in line.text
    assert not model.buffers.get(LOBBY).active  # type: ignore[union-attr]


def test_an_invitation_and_a_refusal_summary_go_to_the_status_buffer() -> None:
    model = model_in_lobby()
    assert model.apply(InvitedToRoom("secret", "carol")) == [STATUS]
    assert "/join secret" in model.buffers.get(STATUS).lines[-1].text  # type: ignore[union-attr]
    assert model.apply(ChannelsRefused("alice", "key_mismatch", 6509, 60.0)) == [STATUS]
    line = model.buffers.get(STATUS).lines[-1]  # type: ignore[union-attr]
    assert line.kind is LineKind.WARNING and "6509 more channels claiming to be alice" in line.text


def test_strangers_messages_collapse_into_one_requests_buffer() -> None:
    """Issue 20: 2,000 one-message strangers grew 2,002 buffers on one line. Now every
    stranger's message goes to the one ``requests`` buffer; contacts (pinned), room-mates
    and open conversations keep their own."""
    model = ChatModel("alice", clock=lambda: NOW, contacts=lambda: frozenset({"dave"}))
    model.set_room("lobby", ["alice", "bob"])
    assert model.apply(msg(None, "sybil0", "buy")) == [REQUESTS]
    first = model.buffers.get(REQUESTS)
    assert first is not None and "/query NAME" in first.lines[0].text  # how to answer one
    for n in range(1, 2000):
        assert model.apply(msg(None, f"sybil{n}", "buy")) == [REQUESTS]
    assert model.apply(msg(None, "bob", "room-mate")) == [private_buffer("bob")]
    assert model.apply(msg(None, "dave", "contact")) == [private_buffer("dave")]
    assert [b.id for b in model.buffers] == [
        STATUS,
        room_buffer("lobby"),
        REQUESTS,
        private_buffer("bob"),
        private_buffer("dave"),
    ]
    requests = model.buffers.get(REQUESTS)
    assert requests is not None and not requests.highlight

    # Opening (or answering) a stranger moves their lines to their own buffer.
    opened = model.open_private("sybil7")
    buffer = model.buffers.get(opened)
    assert buffer is not None and [line.text for line in buffer.lines] == ["buy"]
    assert all(line.sender != "sybil7" for line in requests.lines)
    assert REQUESTS in model.rebuilt
    assert model.apply(msg(None, "sybil7", "thanks")) == [private_buffer("sybil7")]


def test_a_sender_whose_name_looks_like_a_known_one_is_marked_and_spelled() -> None:
    model = ChatModel("alice", clock=lambda: NOW, contacts=lambda: frozenset({"bob"}))
    model.set_room("lobby", ["alice", "mallory"])
    model.apply(msg("lobby", "rnallory", "it is me"))
    model.apply(msg("lobby", "rnallory", "again"))
    lines = list(model.buffers.get(LOBBY).lines)  # type: ignore[union-attr]
    warnings = [line for line in lines if line.kind is LineKind.WARNING]
    assert len(warnings) == 1  # once per name
    assert "rnallory is not mallory" in warnings[0].text
    assert "r, n, a" in warnings[0].text
    assert [line.look_alike for line in lines if line.kind is LineKind.MESSAGE] == [
        "mallory",
        "mallory",
    ]
    model.apply(msg(None, "b0b", "hi"))  # a contact's name with a zero
    assert model.buffers.get(REQUESTS).lines[-1].look_alike == "bob"  # type: ignore[union-attr]
    assert any(
        "0 (digit zero)" in line.text
        for line in model.buffers.get(REQUESTS).lines  # type: ignore[union-attr]
    )
    model.apply(msg("lobby", "mallory", "the real one"))
    assert model.buffers.get(LOBBY).lines[-1].look_alike is None  # type: ignore[union-attr]
