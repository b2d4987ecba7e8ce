"""Target ``codec``: :func:`commons.codec.decode_object` on any bytes.

Whatever it accepts must be text all the way down (no lone surrogates), hold only
finite numbers and 64-bit integers, nest at most 8 deep, mean what Python's own JSON
parser reads, and encode again to something that decodes to the same value: the
contract the tracker's replies rely on. Whatever it refuses must be ``bad_json``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from commons.codec import MAX_INT, MIN_INT, decode_object, encode_object
from commons.errors import ErrorCode, ProtocolError
from commons.untrusted_text import has_lone_surrogate

MAX_LEN = 4096


def _check(value: Any, depth: int = 0) -> None:
    assert depth <= 8
    if isinstance(value, str):
        assert not has_lone_surrogate(value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        assert MIN_INT <= value <= MAX_INT
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
    else:
        assert isinstance(value, dict)
        for key, item in value.items():
            _check(key, depth + 1)
            _check(item, depth + 1)


def fuzz_one(data: bytes) -> None:
    try:
        value = decode_object(data)
    except ProtocolError as exc:
        assert exc.code is ErrorCode.BAD_JSON, exc.code
        return
    _check(value)
    assert value == json.loads(data.decode("utf-8"))
    again = encode_object(value)
    assert decode_object(again) == value


def seeds() -> list[bytes]:
    return [
        b'{"cmd":"LOGIN","id":1,"username":"alice","port":4000,"host":"fe80::1%eth0"}',
        b'{"a":[1,2.5,-0.0,true,false,null,"\\u00e9\\ud83d\\ude00"],"b":{"c":{}}}',
        b'{"a":1e308,"b":-9223372036854775808,"c":"\\u0000\\u001f"}',
        b'{"a":"x","a":"y"}',
        b'{"x":' * 8 + b"1" + b"}" * 8,
        b'{"s":"\xc3\xa9\xe2\x80\xae"}',
    ]
