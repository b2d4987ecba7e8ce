"""Strict JSON bodies: one object per frame, nothing lenient."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commons.codec import decode_object, encode_message, encode_object
from commons.errors import ErrorCode, ProtocolError
from commons.framing import FrameDecoder

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(obj=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_round_trip(obj):
    assert decode_object(encode_object(obj)) == obj
    assert FrameDecoder().feed(encode_message(obj)) == [encode_object(obj)]


@pytest.mark.parametrize(
    "body",
    [b"\xc3\x28", b"{", b"[]", b"1", b'"s"', b"null", b'{"a":1,"a":2}', b'{"a":Infinity}', b""],
)
def test_bad_bodies(body):
    with pytest.raises(ProtocolError) as info:
        decode_object(body)
    assert info.value.code is ErrorCode.BAD_JSON


def test_nesting_limit():
    deep = b'{"a":' * 20 + b"1" + b"}" * 20
    with pytest.raises(ProtocolError):
        decode_object(deep)


def test_encoding_is_compact_utf8():
    assert encode_object({"a": "é"}) == '{"a":"é"}'.encode()
