"""Chat frames inside the channel: round trips, validation, exactly-once filter."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commons.errors import ErrorCode, ProtocolError, ValidationError
from peer.core.frames import (
    MAX_ACK_IDS,
    MAX_TEXT_CHARS,
    Accept,
    Ack,
    ChatMessage,
    LeaveNotice,
    MessageIds,
    Ping,
    Pong,
    Reject,
    TextTooLongError,
    decode_frame,
    encode_chat_frame,
    validate_text,
)

unicode_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=MAX_TEXT_CHARS
)


@settings(max_examples=60)
@given(text=unicode_text, room=st.one_of(st.none(), st.just("lobby")))
def test_chat_round_trip_any_unicode(text: str, room: str | None) -> None:
    msg = ChatMessage(room=room, sender="alice", text=text, ts=1.5, msg_id="0123456789abcdef-7")
    assert decode_frame(encode_chat_frame(msg), "alice") == msg


def test_longest_text_of_four_byte_chars_fits_one_channel_message() -> None:
    text = "\U0001f600" * MAX_TEXT_CHARS
    body = encode_chat_frame(ChatMessage("r", "alice", text, 0.0, "0123456789abcdef-1"))
    assert len(body) < 65535 - 64


def test_control_frames_round_trip() -> None:
    assert decode_frame(encode_chat_frame(Accept()), "bob") == Accept()
    reject = Reject("duplicate", "a channel already exists")
    assert decode_frame(encode_chat_frame(reject), "bob") == reject
    leave = LeaveNotice("lobby", "bob")
    assert decode_frame(encode_chat_frame(leave), "bob") == leave


def test_receipt_and_keepalive_frames_round_trip() -> None:
    ack = Ack(("0123456789abcdef-1", "0123456789abcdef-9"))
    for frame in (ack, Ping(), Pong()):
        assert decode_frame(encode_chat_frame(frame), "bob") == frame


@pytest.mark.parametrize(
    "ids",
    [[], ["0123456789abcdef-1"] * (MAX_ACK_IDS + 1), ["nope"], "0123456789abcdef-1", None],
    ids=["empty", "too_many", "bad_id", "not_a_list", "missing"],
)
def test_malformed_receipts_refused(ids: object) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(json.dumps({"type": "ack", "ids": ids}).encode(), "bob")


def test_text_too_long_is_a_clear_error() -> None:
    with pytest.raises(TextTooLongError, match="at most 4000"):
        validate_text("x" * (MAX_TEXT_CHARS + 1))
    assert validate_text("x" * MAX_TEXT_CHARS)


@pytest.mark.parametrize("bad", ["", 5, None, "\ud800"])
def test_bad_text_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        validate_text(bad)


def test_sender_must_be_the_channel_peer() -> None:
    body = encode_chat_frame(ChatMessage("r", "mallory", "hi", 0.0, "0123456789abcdef-1"))
    with pytest.raises(ProtocolError) as info:
        decode_frame(body, "alice")
    assert info.value.code is ErrorCode.FORBIDDEN


def _raw(**fields: object) -> bytes:
    base: dict[str, object] = {
        "type": "chat",
        "room": "r",
        "from": "alice",
        "text": "hi",
        "ts": 1.0,
        "msg_id": "0123456789abcdef-1",
    }
    base.update(fields)
    return json.dumps(base).encode()


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "nope"},
        {"room": "bad room"},
        {"room": None},
        {"type": "private", "room": "r"},
        {"ts": "now"},
        {"ts": True},
        {"ts": -1},
        {"msg_id": "1"},
        {"msg_id": "0123456789abcdef-0"},
        {"msg_id": "0123456789ABCDEF-1"},
        {"from": 3},
    ],
)
def test_malformed_frames_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(_raw(**fields), "alice")


def test_not_json_refused() -> None:
    with pytest.raises(ProtocolError):
        decode_frame(b"\xff\x00", "alice")


def test_session_ids_are_random() -> None:
    assert MessageIds().session_id != MessageIds().session_id


@pytest.mark.parametrize(
    "ts", ["1" + "0" * 400, "-" + "9" * 400, "1e400"], ids=["huge", "huge_negative", "inf"]
)
def test_out_of_range_timestamp_is_a_protocol_error(ts: str) -> None:
    """A huge JSON integer made float() raise OverflowError, which escaped the channel's
    error handling (the read loop died without reporting the channel closed). The codec
    now refuses such numbers before any field is read."""
    body = _raw().replace(b'"ts": 1.0', b'"ts": ' + ts.encode())
    assert ts.encode() in body
    with pytest.raises(ProtocolError):
        decode_frame(body, "alice")


def _reject(code: object, reason: object) -> bytes:
    return json.dumps({"type": "reject", "code": code, "reason": reason}).encode()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("\ud800", "x"),
        ("key_mismatch", "\udfff"),
        ("", "x"),
        ("k" * 65, "x"),
        ("key_mismatch", "r" * 201),
        ("Key Mismatch", "x"),
        ("key_mismatch\u202e", "x"),
        (5, "x"),
        ("key_mismatch", None),
    ],
)
def test_reject_fields_are_bounded_text(code: object, reason: object) -> None:
    """A peer's reject once carried a lone surrogate into batch mode, which crashed
    writing it out: both fields are now checked like every other string."""
    with pytest.raises(ProtocolError):
        decode_frame(_reject(code, reason), "alice")


def test_a_reject_reason_may_be_any_short_text() -> None:
    reason = "refusé \u202e\x1b[2J " + "r" * 180
    assert decode_frame(_reject("key_changed", reason), "bob") == Reject("key_changed", reason)
