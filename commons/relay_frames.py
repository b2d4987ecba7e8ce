"""The tracker relay's frames, sans-I/O: what a peer sends and what the tracker pushes.

When two peers cannot open a TCP connection to each other, their end-to-end channel runs
over their TLS sessions to the tracker instead: each Noise message of the channel (an
opaque *body*) travels as one ``RELAY`` frame to the tracker, which pushes it to the
recipient. The tracker sees the two usernames, sizes and timing, never a key or a
plaintext: the bodies are the same ciphertexts a direct TCP connection would carry.

A channel over the relay is a *link*, named by the user who opened it and a number that
user chose. ``back`` tells the direction: ``false`` on frames from the link's opener to
the other end, ``true`` on frames going back to the opener. So in every push, ``back``
true means "a link you opened" and false "a link the other user opened".

Frames (docs/PROTOCOL.md, *Relay*)::

    peer -> tracker  {"cmd": "RELAY", "to": U, "link": N, "back": B, "data": BASE64}
    peer -> tracker  {"cmd": "RELAY", "to": U, "link": N, "back": B, "end": true}
    tracker -> peer  {"event": "RELAY", "from": U, "link": N, "back": B, "data": BASE64}
    tracker -> peer  {"event": "RELAY_END", "user": U, "link": N | null, "back": B,
                      "code": CODE, "msg": TEXT}

``RELAY`` carries no ``id`` and gets no reply (a reply per frame would double the
tracker's work); whatever goes wrong comes back as a ``RELAY_END`` for that link, and a
link with ``link: null`` means every link with that user (their session ended).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from commons.codec import JsonObject
from commons.errors import ValidationError
from commons.models import validate_username

RELAY_COMMAND = "RELAY"
RELAY_EVENT = "RELAY"
RELAY_END_EVENT = "RELAY_END"

#: Largest channel body the relay carries: its base64 (60,000 characters) and the
#: envelope fit in one 64 KiB tracker frame. A chat frame's body is at most ~24 KB.
MAX_RELAY_BODY = 45_000
MAX_RELAY_DATA_CHARS = 4 * ((MAX_RELAY_BODY + 2) // 3)
MAX_LINK_ID = 2**31 - 1
MAX_END_MESSAGE = 200


class RelayEndCode(StrEnum):
    """Why a relayed link ended (the ``code`` of ``RELAY_END``)."""

    CLOSED = "closed"  # the other end closed it
    USER_OFFLINE = "user_offline"  # the other user is not (or no longer) online
    RELAY_DISABLED = "relay_disabled"  # this tracker does not relay
    TOO_MANY_PAIRS = "relay_pairs_full"  # the sender relays to too many users already
    RECEIVER_SLOW = "receiver_slow"  # the recipient does not read: frames were dropped


def validate_link(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LINK_ID:
        raise ValidationError(f"field 'link' must be an integer from 1 to {MAX_LINK_ID}")
    return value


def _validate_back(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("field 'back' must be a boolean")
    return value


def decode_body(data: Any) -> bytes:
    """Validate a body's base64 text (strict, bounded) and return the body."""
    if not isinstance(data, str) or not 0 < len(data) <= MAX_RELAY_DATA_CHARS:
        raise ValidationError(
            f"field 'data' must be base64 of 1-{MAX_RELAY_BODY} bytes (a channel body)"
        )
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValidationError("field 'data' must be strict base64") from None


@dataclass(frozen=True, slots=True)
class RelayFrame:
    """One validated ``RELAY`` frame from a peer: a body (``data``), or the link's end.

    ``data`` stays the sender's base64 text: the tracker forwards it as it came.
    ``size`` is the body's size in bytes (0 for an end), for the relay's byte budget.
    """

    to: str
    link: int
    back: bool
    data: str | None
    size: int

    @property
    def end(self) -> bool:
        return self.data is None


def parse_relay(obj: JsonObject) -> RelayFrame:
    """Validate a ``RELAY`` object field by field (ValidationError names the field)."""
    if "id" in obj:
        raise ValidationError("a RELAY frame has no 'id' (it gets no reply)")
    to = validate_username(obj.get("to"))
    link = validate_link(obj.get("link"))
    back = _validate_back(obj.get("back"))
    if obj.get("end") is True:
        if "data" in obj:
            raise ValidationError("an end of link carries no 'data'")
        return RelayFrame(to, link, back, None, 0)
    if "end" in obj:
        raise ValidationError("field 'end' must be true when present")
    data = obj.get("data")
    return RelayFrame(to, link, back, data, len(decode_body(data)))


def relay_request(to: str, link: int, back: bool, body: bytes | None) -> JsonObject:
    """A peer's ``RELAY`` frame carrying ``body``, or the end of the link (``None``)."""
    obj: JsonObject = {"cmd": RELAY_COMMAND, "to": to, "link": link, "back": back}
    if body is None:
        obj["end"] = True
    else:
        obj["data"] = base64.b64encode(body).decode("ascii")
    return obj


def relay_push(sender: str, frame: RelayFrame) -> JsonObject:
    """What the recipient of ``frame`` gets (the tracker's forward)."""
    assert frame.data is not None
    return {
        "event": RELAY_EVENT,
        "from": sender,
        "link": frame.link,
        "back": frame.back,
        "data": frame.data,
    }


def relay_end_push(
    user: str, link: int | None, back: bool, code: RelayEndCode, msg: str
) -> JsonObject:
    """``RELAY_END``: the link (``user``, ``link``, ``back`` as the recipient sees it)
    is over; ``link`` ``None``: every link with ``user``."""
    return {
        "event": RELAY_END_EVENT,
        "user": user,
        "link": link,
        "back": back,
        "code": str(code),
        "msg": msg[:MAX_END_MESSAGE],
    }


@dataclass(frozen=True, slots=True)
class RelayedBody:
    """A ``RELAY`` push, decoded: ``body`` from ``sender`` on link (``link``, ``back``)."""

    sender: str
    link: int
    back: bool
    body: bytes


@dataclass(frozen=True, slots=True)
class RelayEnded:
    """A ``RELAY_END`` push: ``link`` ``None`` means every link with ``user``."""

    user: str
    link: int | None
    back: bool
    code: str
    msg: str


def parse_relay_push(body: JsonObject) -> RelayedBody:
    return RelayedBody(
        validate_username(body.get("from")),
        validate_link(body.get("link")),
        _validate_back(body.get("back")),
        decode_body(body.get("data")),
    )


def parse_relay_end(body: JsonObject) -> RelayEnded:
    raw_link = body.get("link")
    code = body.get("code")
    msg = body.get("msg")
    if not isinstance(code, str) or not 0 < len(code) <= 64:
        raise ValidationError("field 'code' must be a short string")
    if not isinstance(msg, str) or len(msg) > MAX_END_MESSAGE:
        raise ValidationError(f"field 'msg' must be a string of at most {MAX_END_MESSAGE}")
    return RelayEnded(
        validate_username(body.get("user")),
        None if raw_link is None else validate_link(raw_link),
        _validate_back(body.get("back")),
        code,
        msg,
    )
