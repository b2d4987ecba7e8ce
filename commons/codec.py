"""JSON bodies of tracker frames: one UTF-8 JSON object per frame.

Decoding is strict because every byte comes from the network: invalid UTF-8, invalid
JSON, non-finite numbers, duplicate keys and anything but an object at the top level are
refused with a typed :class:`ProtocolError` carrying a stable code.
"""

from __future__ import annotations

import json
from typing import Any

from commons.errors import ErrorCode, ProtocolError
from commons.framing import DEFAULT_MAX_FRAME_SIZE, encode_frame

JsonObject = dict[str, Any]

_MAX_DEPTH = 8


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"non-finite number {name} is not JSON", ErrorCode.BAD_JSON)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> JsonObject:
    obj: JsonObject = {}
    for key, value in pairs:
        if key in obj:
            raise ProtocolError(f"duplicate key {key!r}", ErrorCode.BAD_JSON)
        obj[key] = value
    return obj


def _depth(value: Any, level: int = 0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def decode_object(body: bytes) -> JsonObject:
    """Parse one frame body into a JSON object, or raise :class:`ProtocolError`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("frame is not valid UTF-8", ErrorCode.BAD_JSON) from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except ProtocolError:
        raise
    except (ValueError, RecursionError):
        raise ProtocolError("frame is not valid JSON", ErrorCode.BAD_JSON) from None
    if not isinstance(value, dict):
        raise ProtocolError("frame must hold a JSON object", ErrorCode.BAD_JSON)
    if _depth(value) > _MAX_DEPTH:
        raise ProtocolError("JSON nesting is too deep", ErrorCode.BAD_JSON)
    return value


def encode_object(obj: JsonObject) -> bytes:
    """Serialise ``obj`` compactly as UTF-8 JSON (no framing)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def encode_message(obj: JsonObject, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """Serialise ``obj`` and add the length prefix: ready for the socket."""
    return encode_frame(encode_object(obj), max_frame_size)
