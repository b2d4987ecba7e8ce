"""The client side of the tracker protocol, sans-I/O.

Turns outgoing requests into frames with fresh ids, and incoming bytes into
:class:`Reply` and :class:`Push` objects. Error replies become the matching typed
:class:`commons.errors.P2PChatError` via :func:`reply_error`, so callers can branch on
``.code``. The asyncio shell (:mod:`peer.session.link`) only moves bytes and resolves
futures by id.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from commons.codec import JsonObject, decode_object, encode_message
from commons.errors import (
    AuthError,
    BusyError,
    ErrorCode,
    ForbiddenError,
    P2PChatError,
    ProtocolError,
    RateLimitedError,
    RoomError,
    ValidationError,
)
from commons.framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder
from commons.tracker_protocol import Command, RequestId, Status, is_push, parse_request_id


@dataclass(frozen=True, slots=True)
class Reply:
    id: RequestId
    ok: bool
    body: JsonObject


@dataclass(frozen=True, slots=True)
class Push:
    event: str
    body: JsonObject


_ERROR_CLASSES: dict[ErrorCode, type[P2PChatError]] = {
    ErrorCode.AUTH_FAILED: AuthError,
    ErrorCode.NOT_AUTHENTICATED: AuthError,
    ErrorCode.FORBIDDEN: ForbiddenError,
    ErrorCode.NOT_OWNER: ForbiddenError,
    ErrorCode.BUSY: BusyError,
    ErrorCode.INVALID_FIELD: ValidationError,
}
_ROOM_CODES = {
    ErrorCode.ROOM_EXISTS,
    ErrorCode.ROOM_NOT_FOUND,
    ErrorCode.ROOM_FULL,
    ErrorCode.NOT_IN_ROOM,
    ErrorCode.BANNED,
    ErrorCode.NOT_INVITED,
    ErrorCode.QUOTA_EXCEEDED,
}


#: Longest wait we repeat from a tracker (a day; a larger or broken value is clipped).
MAX_RETRY_AFTER = 86_400.0


def wait_in_words(seconds: float) -> str:
    """``retry_after`` as a person reads it: "1 second", "40 seconds", "3 minutes",
    "1 hour 5 minutes" (rounded up: never sooner than the tracker said)."""
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        return f"{whole} second{'s' if whole != 1 else ''}"
    minutes = math.ceil(whole / 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    text = f"{hours} hour{'s' if hours != 1 else ''}"
    return text + (f" {minutes} minute{'s' if minutes != 1 else ''}" if minutes else "")


def _retry_after(body: JsonObject) -> float:
    value = body.get("retry_after")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        return 1.0
    return min(float(value), MAX_RETRY_AFTER)


def _rate_limited(code: ErrorCode, body: JsonObject) -> RateLimitedError:
    wait = _retry_after(body)
    if code is ErrorCode.THROTTLED:
        what = "too many failed logins from your address"
    else:
        what = "too many requests of this kind"
    return RateLimitedError(f"{what}: try again in {wait_in_words(wait)}", wait, code)


def reply_error(reply: Reply) -> P2PChatError:
    """The typed error an ``ERROR`` reply stands for (unknown codes -> ``internal_error``).

    ``throttled`` and ``rate_limited`` become :class:`RateLimitedError` with the
    tracker's ``retry_after`` and a message that says the wait in words."""
    raw_code = reply.body.get("code")
    msg = reply.body.get("msg")
    message = msg[:500] if isinstance(msg, str) else "the tracker refused the request"
    try:
        code = ErrorCode(str(raw_code))
    except ValueError:
        return P2PChatError(message, ErrorCode.INTERNAL)
    if code in (ErrorCode.RATE_LIMITED, ErrorCode.THROTTLED):
        return _rate_limited(code, reply.body)
    if code in _ROOM_CODES:
        return RoomError(message, code)
    cls = _ERROR_CLASSES.get(code, P2PChatError)
    return cls(message, code)


class TrackerClientProtocol:
    """Frames requests and parses what the tracker sends back."""

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._decoder = FrameDecoder(max_frame_size)
        self._ids = itertools.count(1)

    def request(self, cmd: Command, **fields: Any) -> tuple[int, bytes]:
        """A new request id and the frame to send; ``None`` fields are omitted."""
        request_id = next(self._ids)
        obj: JsonObject = {"cmd": str(cmd), "id": request_id}
        obj.update({k: v for k, v in fields.items() if v is not None})
        return request_id, encode_message(obj, self.max_frame_size)

    def oneway(self, frame: JsonObject) -> bytes:
        """The bytes of a frame that carries no id (``RELAY``: it gets no reply)."""
        return encode_message(frame, self.max_frame_size)

    def receive(self, data: bytes) -> list[Reply | Push]:
        """Everything ``data`` completed; raises ProtocolError if the stream is broken."""
        out: list[Reply | Push] = []
        for body in self._decoder.feed(data):
            obj = decode_object(body)
            if is_push(obj):
                event = obj.get("event")
                if not isinstance(event, str):
                    raise ProtocolError("push without a string 'event'")
                out.append(Push(event, obj))
                continue
            request_id = parse_request_id(obj)
            status = obj.get("status")
            if status not in (Status.OK, Status.ERROR):
                raise ProtocolError("reply without a valid 'status'")
            if request_id is None:
                continue  # an error about a frame we never sent; nobody awaits it

            out.append(Reply(request_id, status == Status.OK, obj))
        return out
