"""Strict JSON bodies: one object per frame, nothing lenient, and always re-encodable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commons.codec import MAX_INT, MIN_INT, decode_object, encode_message, encode_object
from commons.errors import ErrorCode, ProtocolError
from commons.framing import FrameDecoder

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(MIN_INT, MAX_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
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


# JSON text as a hostile client writes it: \\u escapes anywhere in the surrogate range,
# number literals that overflow a double or a 64-bit integer, NaN and Infinity.
_escape = st.integers(0, 0xFFFF).map(lambda n: f"\\u{n:04x}") | st.sampled_from(
    ["\\ud800", "\\udfff", "\\ud83d\\ude00", "\\ude00\\ud83d", "\\udbff", "\\\\", '\\"']
)
_json_string = st.lists(
    _escape | st.characters(exclude_characters='"\\', max_codepoint=0x2FFF), max_size=6
).map(lambda parts: '"' + "".join(parts) + '"')
_json_number = st.from_regex(
    r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,4})?([eE][+-]?[0-9]{1,4})?", fullmatch=True
)
_json_text = st.recursive(
    _json_string | _json_number | st.sampled_from(["true", "false", "null", "NaN", "-Infinity"]),
    lambda children: (
        st.lists(children, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
        | st.lists(st.tuples(_json_string, children), max_size=3).map(
            lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"
        )
    ),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None)
@given(value=_json_text)
def test_whatever_decodes_encodes_again(value):
    """The codec's contract: a decoded value can always be encoded again, and means the
    same after the round trip (the tracker builds replies from decoded fields)."""
    try:
        decoded = decode_object(('{"v":' + value + "}").encode())
    except ProtocolError as exc:
        assert exc.code is ErrorCode.BAD_JSON
        return
    assert decode_object(encode_object(decoded)) == decoded


@pytest.mark.parametrize(
    "body",
    [
        b'{"id":"\\ud800"}',
        b'{"id":"a\\udfffb"}',
        b'{"id":"\\ude00\\ud83d"}',
        b'{"\\ud800":1}',
        b'{"a":["x",{"b":"\\udc80"}]}',
        b'{"host":"fe80::1%\\ud800"}',
    ],
)
def test_lone_surrogates_are_refused_at_decoding(body):
    with pytest.raises(ProtocolError) as info:
        decode_object(body)
    assert info.value.code is ErrorCode.BAD_JSON


def test_a_surrogate_pair_is_one_character():
    assert decode_object(b'{"e":"\\ud83d\\ude00"}') == {"e": "\U0001f600"}


@pytest.mark.parametrize(
    "body",
    [b'{"a":1e999}', b'{"a":-1e999}', b'{"a":[1E400]}', b'{"a":NaN}', b'{"a":-Infinity}'],
)
def test_non_finite_numbers_are_refused(body):
    with pytest.raises(ProtocolError) as info:
        decode_object(body)
    assert info.value.code is ErrorCode.BAD_JSON


def test_integers_are_bounded_to_64_bits():
    assert decode_object(b'{"a":9223372036854775807,"b":-9223372036854775808}') == {
        "a": MAX_INT,
        "b": MIN_INT,
    }
    for body in (
        b'{"a":9223372036854775808}',
        b'{"a":-9223372036854775809}',
        b'{"a":1' + b"0" * 5000 + b"}",
    ):
        with pytest.raises(ProtocolError):
            decode_object(body)


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
