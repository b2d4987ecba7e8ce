"""Conversation frames and their rules, sans-I/O: parsing field by field, the caps on
edits and reactions, who may edit or delete what, typing and read markers (buckets,
expiry, coalescing, strangers, switches), and the core handing them over."""

from __future__ import annotations

import json
from typing import Any

import pytest

from commons.errors import ProtocolError, ValidationError
from peer import events as ev
from peer.core import conversation as conv
from peer.core.conversation import ConversationId, Conversations, SignalSwitches
from peer.core.frames import (
    Ack,
    ChatMessage,
    Deletion,
    Edit,
    Reaction,
    ReadMarker,
    Typing,
    decode_frame,
    encode_chat_frame,
    validate_emoji,
)
from peer.events import MessageRef
from tests.peer.core_helpers import events, frames, in_room

BOB_MSG = "00000000000000bb-1"
ALICE_MSG = "00000000000000aa-1"
LOBBY = ConversationId("lobby", None)


def _raw(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


def _ids() -> Any:
    return (f"00000000000000bb-{n}" for n in range(100, 10_000))


# ---------------------------------------------------------------- frames


@pytest.mark.parametrize(
    "frame",
    [
        ChatMessage("lobby", "bob", "hi", 1.0, BOB_MSG, reply_to=MessageRef("alice", ALICE_MSG)),
        ChatMessage(None, "bob", "waves", 1.0, BOB_MSG, me=True),
        Reaction(
            "lobby", "bob", MessageRef("alice", ALICE_MSG), "👩‍💻", True, 2.0, "00000000000000bb-2"
        ),
        Reaction(None, "bob", MessageRef("bob", BOB_MSG), "🇫🇷", False, 2.0, "00000000000000bb-2"),
        Edit("lobby", "bob", BOB_MSG, "fixed", 3.0, "00000000000000bb-3"),
        Deletion(None, "bob", BOB_MSG, 3.0, "00000000000000bb-4"),
        Typing("lobby", "bob", True),
        ReadMarker(None, "bob", MessageRef("alice", ALICE_MSG)),
    ],
)
def test_every_conversation_frame_round_trips(frame: Any) -> None:
    assert decode_frame(encode_chat_frame(frame), "bob") == frame


def test_a_plain_message_carries_no_new_fields() -> None:
    obj = json.loads(encode_chat_frame(ChatMessage("lobby", "bob", "hi", 1.0, BOB_MSG)))
    assert "reply_to" not in obj and "me" not in obj


@pytest.mark.parametrize(
    "obj",
    [
        {
            "type": "edit",
            "room": "lobby",
            "from": "carol",
            "target_msg_id": BOB_MSG,
            "text": "x",
            "ts": 1,
            "msg_id": BOB_MSG,
        },
        {"type": "typing", "room": None, "from": "carol", "active": True},
    ],
)
def test_a_frame_cannot_speak_for_someone_else(obj: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(_raw(obj), "bob")


@pytest.mark.parametrize(
    "obj",
    [
        {
            "type": "react",
            "room": "lobby",
            "from": "bob",
            "target": {"from": "alice"},
            "emoji": "👍",
            "on": True,
            "ts": 1,
            "msg_id": BOB_MSG,
        },
        {
            "type": "react",
            "room": "lobby",
            "from": "bob",
            "target": {"from": "alice", "msg_id": ALICE_MSG, "x": 1},
            "emoji": "👍",
            "on": True,
            "ts": 1,
            "msg_id": BOB_MSG,
        },
        {
            "type": "react",
            "room": "lobby",
            "from": "bob",
            "target": {"from": "alice", "msg_id": ALICE_MSG},
            "emoji": "👍",
            "on": 1,
            "ts": 1,
            "msg_id": BOB_MSG,
        },
        {
            "type": "edit",
            "room": "lobby",
            "from": "bob",
            "target_msg_id": "nope",
            "text": "x",
            "ts": 1,
            "msg_id": BOB_MSG,
        },
        {
            "type": "edit",
            "room": "lobby",
            "from": "bob",
            "target_msg_id": BOB_MSG,
            "text": "x" * 4001,
            "ts": 1,
            "msg_id": BOB_MSG,
        },
        {
            "type": "edit",
            "room": "lobby",
            "from": "bob",
            "target_msg_id": BOB_MSG,
            "text": "",
            "ts": 1,
            "msg_id": BOB_MSG,
        },
        {
            "type": "delete",
            "room": "lobby",
            "from": "bob",
            "target_msg_id": BOB_MSG,
            "ts": -1,
            "msg_id": BOB_MSG,
        },
        {"type": "typing", "room": "lobby", "from": "bob", "active": "yes"},
        {
            "type": "read",
            "room": "no such!",
            "from": "bob",
            "up_to": {"from": "alice", "msg_id": ALICE_MSG},
        },
        {
            "type": "chat",
            "room": "lobby",
            "from": "bob",
            "text": "x",
            "ts": 1,
            "msg_id": BOB_MSG,
            "reply_to": "alice",
        },
        {
            "type": "chat",
            "room": "lobby",
            "from": "bob",
            "text": "x",
            "ts": 1,
            "msg_id": BOB_MSG,
            "me": "true",
        },
    ],
)
def test_malformed_conversation_frames_are_refused_field_by_field(obj: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        decode_frame(_raw(obj), "bob")


@pytest.mark.parametrize(
    "emoji", ["👍", "👩‍💻", "🧑🏽‍💻", "🏳️‍🌈", "🇫🇷", "1️⃣", "👍🏿", "❤️", "é", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"]
)
def test_one_grapheme_cluster_is_an_emoji(emoji: str) -> None:
    assert validate_emoji(emoji) == emoji


@pytest.mark.parametrize(
    "emoji",
    [
        "",
        "👍👍",  # two clusters
        "ab",
        " ",
        "\u200b",  # zero-width space
        "👍\u200b",
        "\u200d👍",  # a lone joiner
        "👍\u200d",
        "👍\u202e",  # a bidi override
        "\u0007",
        "\ufe0f",  # a selector alone
        "👨‍👩‍👧‍👦" + "\u200d👦" * 2,  # 40 bytes: over the limit
        "a\u200db",  # a joiner between letters joins no emoji
        "\u115f",  # a blank-looking letter
        "e\u0301\u0301\u0301",  # marks stacked past two
        "\u0378",  # unassigned
        "🏴\U000e0061\U000e007f",  # tags that are no RGI flag
        7,
    ],
)
def test_invisible_characters_and_oversized_emoji_are_refused(emoji: Any) -> None:
    with pytest.raises(ValidationError):
        validate_emoji(emoji)


# ---------------------------------------------------------------- rules


def _edit(n: int, target: str = BOB_MSG) -> Edit:
    return Edit("lobby", "bob", target, f"v{n}", float(n), f"00000000000000bb-{n + 1}")


def test_an_edit_storm_keeps_at_most_20_edits_per_message() -> None:
    rules = Conversations("alice")
    shown = [e for n in range(1, 101) for e in rules.received(_edit(n), 0.0)]
    assert len(shown) == conv.MAX_EDITS == 20
    assert shown[-1] == ev.MessageEdited("lobby", "bob", BOB_MSG, "v20", 20.0)
    assert rules.refused["edit_cap"] == 80


def test_a_forged_edit_names_a_message_of_its_own_sender_only() -> None:
    """bob names alice's msg_id: the edit is bob's, of a message of bob's that does not
    exist; nothing about alice's message changes."""
    rules = Conversations("carol")
    forged = Edit("lobby", "bob", ALICE_MSG, "alice says I owe bob 100", 1.0, BOB_MSG)
    (event,) = rules.received(forged, 0.0)
    assert isinstance(event, ev.MessageEdited)
    assert (event.username, event.msg_id) == ("bob", ALICE_MSG)  # keyed by (bob, id)
    for n in range(1, 21):  # alice's own count is untouched: she may still edit 20 times
        edit = Edit("lobby", "alice", ALICE_MSG, f"v{n}", 1.0, f"00000000000000aa-{n + 1}")
        assert rules.received(edit, 0.0)


def test_a_delete_of_someone_elses_message_is_impossible_and_a_delete_is_final() -> None:
    rules = Conversations("carol")
    (gone,) = rules.received(Deletion("lobby", "bob", ALICE_MSG, 1.0, BOB_MSG), 0.0)
    assert gone == ev.MessageDeleted("lobby", "bob", ALICE_MSG, 1.0)  # bob's "message"
    own = Deletion("lobby", "bob", "00000000000000bb-7", 1.0, "00000000000000bb-8")
    assert rules.received(own, 0.0)
    assert rules.received(_edit(9, "00000000000000bb-7"), 0.0) == []  # no edit after
    react = Reaction(
        "lobby", "dave", MessageRef("bob", "00000000000000bb-7"), "👍", True, 1.0, BOB_MSG
    )
    assert rules.received(react, 0.0) == []
    assert rules.refused["edit_deleted"] == rules.refused["reaction_deleted"] == 1


def test_a_reaction_flood_keeps_at_most_8_emoji_per_user_per_message() -> None:
    rules = Conversations("alice")
    target = MessageRef("alice", ALICE_MSG)
    emoji = "😀😁😂🤣😃😄😅😆😉😊"
    ids = _ids()
    shown = [
        e
        for char in emoji * 5
        for e in rules.received(Reaction("lobby", "bob", target, char, True, 1.0, next(ids)), 0.0)
    ]
    assert len({e.emoji for e in shown if isinstance(e, ev.ReactionChanged)}) == 8
    assert rules.refused["reaction_cap"] == 2 * 5
    off = Reaction("lobby", "bob", target, "😀", False, 1.0, next(ids))
    assert rules.received(off, 0.0)  # taking one back frees its place
    assert rules.received(Reaction("lobby", "bob", target, "😊", True, 1.0, next(ids)), 0.0)
    carol = Reaction("lobby", "carol", target, "😊", True, 1.0, "00000000000000cc-1")
    assert rules.received(carol, 0.0)  # the cap is per user


def test_counts_are_kept_for_a_bounded_number_of_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conv, "REMEMBERED_MESSAGES", 16)
    rules = Conversations("alice")
    for n in range(1, 200):
        rules.received(_edit(1, f"00000000000000bb-{n}"), 0.0)
        rules.remember(LOBBY, MessageRef("bob", f"00000000000000bb-{n}"))
    assert len(rules._targets) == 16 and len(rules._located) == 16


def test_typing_spam_is_dropped_beyond_a_small_per_peer_bucket() -> None:
    rules = Conversations("alice")
    shown = []
    for n in range(200):  # 200 on/off in one second
        shown += rules.received(Typing("lobby", "bob", n % 2 == 0), 0.5)
    assert len(shown) == conv.SIGNAL_BURST
    assert rules.refused["typing_rate"] == 200 - conv.SIGNAL_BURST
    assert rules.received(Typing("lobby", "carol", True), 0.5)  # another peer's bucket


def test_typing_expires_after_6_s_unless_refreshed() -> None:
    rules = Conversations("alice")
    assert rules.received(Typing("lobby", "bob", True), 0.0) == [
        ev.TypingChanged("lobby", "bob", True)
    ]
    assert rules.received(Typing("lobby", "bob", True), 3.0) == []  # a refresh
    assert rules.next_expiry() == 3.0 + conv.TYPING_EXPIRY
    assert rules.expired(8.9) == []
    assert rules.typing_now(LOBBY) == ["bob"]
    assert rules.expired(9.0) == [ev.TypingChanged("lobby", "bob", False)]
    assert rules.typing_now(LOBBY) == [] and rules.next_expiry() is None


def test_a_message_ends_its_senders_typing() -> None:
    rules = Conversations("alice")
    rules.received(Typing(None, "bob", True), 0.0)
    got = rules.received(ChatMessage(None, "bob", "hi", 1.0, BOB_MSG), 1.0)
    assert got[0] == ev.TypingChanged(None, "bob", False)
    assert isinstance(got[1], ev.MessageReceived)


def test_read_spam_is_dropped_beyond_a_small_per_peer_bucket() -> None:
    rules = Conversations("alice")
    marker = ReadMarker("lobby", "bob", MessageRef("alice", ALICE_MSG))
    shown = [e for _ in range(500) for e in rules.received(marker, 0.0)]
    assert len(shown) == conv.SIGNAL_BURST
    assert rules.received(marker, 1.0)  # the bucket refills, one a second


def test_strangers_get_no_typing_or_read_and_the_switches_turn_both_off() -> None:
    rules = Conversations("alice")
    assert rules.received(Typing(None, "mallory", True), 0.0, contact=False) == []
    marker = ReadMarker(None, "mallory", MessageRef("alice", ALICE_MSG))
    assert rules.received(marker, 0.0, contact=False) == []
    assert rules.refused["typing_stranger"] == rules.refused["read_stranger"] == 1
    off = Conversations("alice", SignalSwitches(typing_indicators=False, read_receipts=False))
    assert off.received(Typing("lobby", "bob", True), 0.0) == []
    assert off.received(ReadMarker("lobby", "bob", MessageRef("a", ALICE_MSG)), 0.0) == []
    assert not off.typing_due(LOBBY, True, 0.0)
    assert off.read_due(LOBBY, MessageRef("bob", BOB_MSG), 0.0) is None


def test_a_sender_types_once_per_3_s_and_stops_only_after_a_start() -> None:
    rules = Conversations("alice")
    assert not rules.typing_due(LOBBY, False, 0.0)
    assert rules.typing_due(LOBBY, True, 0.0)
    assert not rules.typing_due(LOBBY, True, 2.9)
    assert rules.typing_due(ConversationId(None, "bob"), True, 2.9)  # per conversation
    assert rules.typing_due(LOBBY, True, 3.0)
    assert rules.typing_due(LOBBY, False, 3.1)
    assert not rules.typing_due(LOBBY, False, 3.2)


def test_our_own_message_ends_our_typing_so_the_next_start_goes_at_once() -> None:
    rules = Conversations("alice")
    assert rules.typing_due(LOBBY, True, 0.0)
    rules.remember(LOBBY, MessageRef("alice", ALICE_MSG))  # we sent a message
    assert rules.typing_due(LOBBY, True, 0.5)
    assert not rules.typing_due(ConversationId(None, "bob"), False, 0.6)


def test_a_sender_coalesces_read_markers_to_one_per_2_s_the_latest_winning() -> None:
    rules = Conversations("alice")
    first, second, third = (MessageRef("bob", f"00000000000000bb-{n}") for n in (1, 2, 3))
    assert rules.read_due(LOBBY, first, 0.0) == 0.0
    assert rules.read_due(LOBBY, second, 0.5) == pytest.approx(1.5)
    assert rules.read_due(LOBBY, third, 1.0) == pytest.approx(1.0)
    assert rules.read_flush(LOBBY, 1.9) is None
    assert rules.read_flush(LOBBY, 2.0) == third
    assert rules.read_flush(LOBBY, 9.0) is None


def test_our_own_caps_refuse_before_sending() -> None:
    rules = Conversations("alice")
    for n in range(conv.MAX_EDITS):
        rules.check_outgoing(
            LOBBY, Edit("lobby", "alice", ALICE_MSG, "x", 1.0, f"00000000000000aa-{n + 2}")
        )
    with pytest.raises(ValidationError):
        rules.check_outgoing(
            LOBBY, Edit("lobby", "alice", ALICE_MSG, "x", 1.0, "00000000000000aa-99")
        )
    with pytest.raises(ValidationError):
        rules.locate("00000000000000aa-5")


# ---------------------------------------------------------------- through the core


def test_the_core_hands_conversation_frames_over_once_and_acknowledges_the_receipted() -> None:
    core = in_room("alice", ("alice", "bob"))
    edit = Edit("lobby", "bob", BOB_MSG, "fixed", 1.0, "00000000000000bb-2")
    typing = Typing("lobby", "bob", True)
    step = core.frames_received(1, [edit, edit, typing], 0.0)
    assert events(step, ev.MessageEdited) == [
        ev.MessageEdited("lobby", "bob", BOB_MSG, "fixed", 1.0)
    ]
    assert events(step, ev.TypingChanged) == [ev.TypingChanged("lobby", "bob", True)]
    (ack,) = frames(step, "bob")
    assert isinstance(ack, Ack)
    assert ack.ids == ("00000000000000bb-2", "00000000000000bb-2")
    assert core.conversation.next_expiry() == conv.TYPING_EXPIRY
    assert (core.next_wakeup() or 99.0) <= conv.TYPING_EXPIRY
    assert events(core.tick(conv.TYPING_EXPIRY), ev.TypingChanged) == [
        ev.TypingChanged("lobby", "bob", False)
    ]


def test_the_core_sends_receipted_frames_like_messages_and_settles_them() -> None:
    core = in_room("alice", ("alice", "bob"))

    def react(room: str | None, me: str, ts: float, msg_id: str) -> Reaction:
        return Reaction(room, me, MessageRef("bob", BOB_MSG), "👍", True, ts, msg_id)

    sent, step = core.send_room("lobby", react, 1.0, 0.0)
    (frame,) = frames(step, "bob")
    assert isinstance(frame, Reaction) and frame.msg_id == sent.msg_id
    done = core.frames_received(1, [Ack((sent.msg_id,))], 0.1)
    assert events(done, ev.MessageDelivered) == [ev.MessageDelivered(sent.msg_id, "bob")]


def test_a_stranger_in_private_gets_no_typing_shown_but_a_room_mate_does() -> None:
    core = in_room("alice", ("alice", "bob"))
    core.channel_opened("mallory", 9, initiator=False, now=0.0)
    step = core.frames_received(9, [Typing(None, "mallory", True)], 0.0)
    assert events(step, ev.TypingChanged) == []
    step = core.frames_received(1, [Typing(None, "bob", True)], 0.0)  # a room-mate: contact
    assert events(step, ev.TypingChanged) == [ev.TypingChanged(None, "bob", True)]


def test_a_room_frame_from_someone_not_in_that_room_is_not_shown() -> None:
    core = in_room("alice", ("alice", "bob"))
    other_room = Edit("elsewhere", "bob", BOB_MSG, "x", 1.0, "00000000000000bb-2")
    assert core.frames_received(1, [other_room, Typing("elsewhere", "bob", True)], 0.0).events == []
