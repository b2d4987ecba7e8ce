"""Framing: any split or merge of the byte stream yields the same frames."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commons.errors import FrameTooLargeError, ProtocolError
from commons.framing import FrameDecoder, encode_frame

bodies = st.lists(st.binary(max_size=300), max_size=12)


@settings(max_examples=150, deadline=None)
@given(bodies=bodies, cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=20))
def test_any_split_yields_the_same_frames(bodies, cuts):
    stream = b"".join(encode_frame(b) for b in bodies)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    decoder = FrameDecoder(1024)
    out: list[bytes] = []
    start = 0
    for point in [*points, len(stream)]:
        out.extend(decoder.feed(stream[start:point]))
        start = point
    assert out == bodies
    assert decoder.buffered == 0


@settings(max_examples=100, deadline=None)
@given(bodies=bodies)
def test_byte_by_byte_feed(bodies):
    stream = b"".join(encode_frame(b) for b in bodies)
    decoder = FrameDecoder(1024)
    out = [frame for i in range(len(stream)) for frame in decoder.feed(stream[i : i + 1])]
    assert out == bodies


def test_oversized_header_is_refused_before_the_body():
    decoder = FrameDecoder(10)
    with pytest.raises(FrameTooLargeError):
        decoder.feed((11).to_bytes(4, "big"))
    assert decoder.buffered == 0
    assert decoder.failed
    with pytest.raises(ProtocolError):
        decoder.feed(b"x")


def test_encode_refuses_what_the_receiver_would_refuse():
    with pytest.raises(FrameTooLargeError):
        encode_frame(b"x" * 11, 10)
    assert encode_frame(b"x" * 10, 10) == b"\x00\x00\x00\x0a" + b"x" * 10


def test_max_frame_size_bounds():
    with pytest.raises(ValueError):
        FrameDecoder(0)
