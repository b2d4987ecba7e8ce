"""JSON bodies of tracker frames: one UTF-8 JSON object per frame.

Decoding is strict because every byte comes from the network: invalid UTF-8, invalid
JSON, non-finite numbers (``NaN``, ``Infinity`` and literals such as ``1e999`` that
overflow to infinity), integers outside the signed 64-bit range, strings holding a lone
surrogate (JSON allows ``"\\ud800"``; it is not text), duplicate keys, nesting deeper
than 8 and anything but an object at the top level are refused with a typed
:class:`ProtocolError` carrying a stable code.

The contract that follows: **a value that passed :func:`decode_object` can always be
encoded again** by :func:`encode_object` (``tests/commons/test_codec.py`` checks it as a
property, and the ``codec`` fuzz target for long runs). Replies and pushes built from
decoded fields therefore cannot fail to encode half-way.
"""

from __future__ import annotations

import json
import math
from typing import Any

from commons.errors import ErrorCode, ProtocolError
from commons.framing import DEFAULT_MAX_FRAME_SIZE, encode_frame
from commons.untrusted_text import has_lone_surrogate

JsonObject = dict[str, Any]

_MAX_DEPTH = 8
#: Integers must fit in a signed 64-bit integer: every consumer can hold them.
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1
_MAX_INT_DIGITS = 19


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"non-finite number {name} is not JSON", ErrorCode.BAD_JSON)


def _finite_float(literal: str) -> float:
    # json.loads turns 1e999 into inf without calling parse_constant.
    value = float(literal)
    if not math.isfinite(value):
        raise ProtocolError("number out of range (not finite)", ErrorCode.BAD_JSON)
    return value


def _int64(literal: str) -> int:
    if len(literal.lstrip("-")) > _MAX_INT_DIGITS:
        raise ProtocolError("integer out of the 64-bit range", ErrorCode.BAD_JSON)
    value = int(literal)
    if not MIN_INT <= value <= MAX_INT:
        raise ProtocolError("integer out of the 64-bit range", ErrorCode.BAD_JSON)
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> JsonObject:
    obj: JsonObject = {}
    for key, value in pairs:
        if key in obj:
            raise ProtocolError(f"duplicate key {key!r}", ErrorCode.BAD_JSON)
        obj[key] = value
    return obj


def _check_value(value: Any, level: int = 0) -> None:
    """Refuse nesting deeper than the limit and strings that are not text."""
    if isinstance(value, str):
        if has_lone_surrogate(value):
            raise ProtocolError("a string holds a lone surrogate (not text)", ErrorCode.BAD_JSON)
        return
    if not isinstance(value, dict | list):
        return
    if level >= _MAX_DEPTH:
        raise ProtocolError("JSON nesting is too deep", ErrorCode.BAD_JSON)
    if isinstance(value, dict):
        for key, item in value.items():
            _check_value(key, level + 1)
            _check_value(item, level + 1)
    else:
        for item in value:
            _check_value(item, level + 1)


def decode_object(body: bytes) -> JsonObject:
    """Parse one frame body into a JSON object, or raise :class:`ProtocolError`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("frame is not valid UTF-8", ErrorCode.BAD_JSON) from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_int64,
        )
    except ProtocolError:
        raise
    except (ValueError, RecursionError):
        raise ProtocolError("frame is not valid JSON", ErrorCode.BAD_JSON) from None
    if not isinstance(value, dict):
        raise ProtocolError("frame must hold a JSON object", ErrorCode.BAD_JSON)
    _check_value(value)
    return value


def encode_object(obj: JsonObject) -> bytes:
    """Serialise ``obj`` compactly as UTF-8 JSON (no framing)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def encode_message(obj: JsonObject, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """Serialise ``obj`` and add the length prefix: ready for the socket."""
    return encode_frame(encode_object(obj), max_frame_size)
