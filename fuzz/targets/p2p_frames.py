"""Target ``p2p_frames``: :func:`peer.core.frames.decode_frame`, a channel's plaintext.

An accepted frame has bounded, well-formed fields (text that is real Unicode of at most
4,000 characters, a finite timestamp, a sender equal to the channel's user, a reject
code of ``[a-z0-9_]``, at most ``MAX_ACK_IDS`` receipts, an offered endpoint's host a
valid address of at most 253 characters and its port 1-65535) and survives an
encode/decode round trip unchanged; its message ids parse. A refused one raises
``ProtocolError``.
"""

from __future__ import annotations

import math

from commons.errors import ProtocolError
from commons.untrusted_text import has_lone_surrogate
from peer.core.frames import (
    MAX_ACK_IDS,
    MAX_EMOJI_BYTES,
    MAX_REJECT_REASON_CHARS,
    MAX_TEXT_CHARS,
    REJECT_CODE_RE,
    Ack,
    ChatMessage,
    Deletion,
    Edit,
    EndpointOffer,
    LeaveNotice,
    Reaction,
    ReadMarker,
    Reject,
    Typing,
    decode_frame,
    encode_chat_frame,
    split_msg_id,
)

MAX_LEN = 20_000
PEER = "alice"


def fuzz_one(data: bytes) -> None:
    try:
        frame = decode_frame(data, PEER)
    except ProtocolError:
        return
    if isinstance(frame, Reject):
        assert REJECT_CODE_RE.fullmatch(frame.code)
        assert len(frame.reason) <= MAX_REJECT_REASON_CHARS
        assert not has_lone_surrogate(frame.reason)
    elif isinstance(frame, ChatMessage):
        assert frame.sender == PEER
        assert 0 < len(frame.text) <= MAX_TEXT_CHARS
        assert not has_lone_surrogate(frame.text)
        assert math.isfinite(frame.ts) and frame.ts >= 0
        split_msg_id(frame.msg_id)
    elif isinstance(frame, Ack):
        assert 1 <= len(frame.ids) <= MAX_ACK_IDS
        for msg_id in frame.ids:
            split_msg_id(msg_id)
    elif isinstance(frame, LeaveNotice):
        assert frame.sender == PEER
    elif isinstance(frame, EndpointOffer):
        assert 0 < len(frame.host) <= 253 and not has_lone_surrogate(frame.host)
        assert 1 <= frame.port <= 65535
    elif isinstance(frame, Reaction | Edit | Deletion | Typing | ReadMarker):
        assert frame.sender == PEER
        if isinstance(frame, Reaction):
            assert 0 < len(frame.emoji.encode("utf-8")) <= MAX_EMOJI_BYTES
        if isinstance(frame, Edit):
            assert 0 < len(frame.text) <= MAX_TEXT_CHARS and not has_lone_surrogate(frame.text)
    assert decode_frame(encode_chat_frame(frame), PEER) == frame


def seeds() -> list[bytes]:
    base = b'"from":"alice","text":"hi \\u202e","ts":1700000000.5,"msg_id":"0123456789abcdef-1"'
    return [
        b'{"type":"accept"}',
        b'{"type":"reject","code":"key_mismatch","reason":"not the key the tracker lists"}',
        b'{"type":"chat","room":"lobby",' + base + b"}",
        b'{"type":"private","room":null,' + base + b"}",
        b'{"type":"leave","room":"lobby","from":"alice"}',
        b'{"type":"ack","ids":["0123456789abcdef-1","0123456789abcdef-2"]}',
        b'{"type":"ping"}',
        b'{"type":"reject","code":"\\ud800","reason":"\\udfff"}',
        b'{"type":"endpoint","host":"192.0.2.7","port":4000}',
        b'{"type":"endpoint","host":"fe80::1%eth0","port":65535}',
        b'{"type":"chat","room":"lobby","reply_to":{"from":"bob","msg_id":"0123456789abcdef-9"},'
        + b'"me":true,'
        + base
        + b"}",
        b'{"type":"react","room":null,"from":"alice","target":{"from":"bob",'
        + rb'"msg_id":"0123456789abcdef-9"},"emoji":"\ud83d\udc69\u200d\ud83d\udcbb",'
        + b'"on":true,"ts":1,"msg_id":"0123456789abcdef-3"}',
        b'{"type":"edit","room":"lobby","from":"alice","target_msg_id":"0123456789abcdef-1",'
        + b'"text":"fixed","ts":2,"msg_id":"0123456789abcdef-4"}',
        b'{"type":"delete","room":"lobby","from":"alice","target_msg_id":"0123456789abcdef-1",'
        + b'"ts":3,"msg_id":"0123456789abcdef-5"}',
        b'{"type":"typing","room":"lobby","from":"alice","active":true}',
        b'{"type":"read","room":null,"from":"alice","up_to":{"from":"bob",'
        + b'"msg_id":"0123456789abcdef-9"}}',
    ]
