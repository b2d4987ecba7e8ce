"""Chat frames carried inside an established end-to-end channel, sans-I/O.

Each decrypted channel message is one UTF-8 JSON object (``commons.codec``) with a
``type``:

* ``accept`` - the responder's first message: the channel passed its checks (tracker
  directory, pinned key, no duplicate link) and may carry chat. The initiator sends
  nothing before it.
* ``reject`` - the responder refuses the channel (``code``, ``reason``) and closes it.
  ``code`` is an error code (``[a-z0-9_]``, at most 64), ``reason`` at most 200
  characters of text; both are shown to the user, so both are bounded.
* ``chat`` - a room message: ``room``, ``from``, ``text``, ``ts``, ``msg_id``.
* ``private`` - a private message: same fields, ``room`` is ``null``.
* ``leave`` - ``from`` leaves ``room``; sent to every member before leaving.
* ``ack`` - ``ids``: the ``msg_id`` of 1 to :data:`MAX_ACK_IDS` messages this client
  has handed to its user (the end-to-end delivery receipt).
* ``ping`` / ``pong`` - keepalive: a client pings a channel on which it has heard nothing
  for one keepalive interval; the other end answers ``pong``.
* ``endpoint`` - ``host``, ``port``: over a relayed channel, the sender offers the address
  it listens on, so the receiver may open a direct channel to replace the relayed one.
  Only the sender's policy decides to send it (``--direct-private``); the tracker never
  sees it.

``msg_id`` is ``"<sid>-<seq>"``: ``sid`` is 16 hex digits chosen at random per client
session and ``seq`` counts that session's messages from 1. :mod:`peer.core.delivery` uses it
to hand each message to the user exactly once and in send order per sender, even if a
frame is sent again on a second channel. Every field is validated; ``from`` must be the
channel's authenticated remote user, so a peer can never speak for someone else.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from commons.codec import decode_object, encode_object
from commons.errors import ErrorCode, ProtocolError, ValidationError
from commons.models import validate_host, validate_port, validate_room_name, validate_username
from commons.untrusted_text import bounded_string, has_lone_surrogate

MAX_TEXT_CHARS = 4000
MAX_REJECT_CODE_CHARS = 64
MAX_REJECT_REASON_CHARS = 200
#: Receipts carried by one ``ack`` frame (a longer list is a protocol error).
MAX_ACK_IDS = 128
MSG_ID_RE = re.compile(r"([0-9a-f]{16})-([1-9][0-9]{0,18})")
REJECT_CODE_RE = re.compile(r"[a-z0-9_]{1,64}")


class FrameType(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    CHAT = "chat"
    PRIVATE = "private"
    LEAVE = "leave"
    ACK = "ack"
    PING = "ping"
    PONG = "pong"
    ENDPOINT = "endpoint"


class TextTooLongError(ValidationError):
    """Message text exceeds :data:`MAX_TEXT_CHARS`."""

    code = ErrorCode.MESSAGE_TOO_LONG


def validate_text(value: Any) -> str:
    """1 to 4,000 characters of Unicode text (no lone surrogates: they are not text)."""
    if not isinstance(value, str):
        raise ValidationError("field 'text' must be a string")
    if not value:
        raise ValidationError("a message cannot be empty")
    if len(value) > MAX_TEXT_CHARS:
        raise TextTooLongError(
            f"a message is at most {MAX_TEXT_CHARS} characters; this one has {len(value)}"
        )
    if has_lone_surrogate(value):
        raise ValidationError("message text is not valid Unicode")
    return value


def _validate_ts(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("field 'ts' must be a number")
    try:
        ts = float(value)
    except OverflowError:
        raise ValidationError("field 'ts' is out of range") from None
    if not math.isfinite(ts) or ts < 0:
        raise ValidationError("field 'ts' must be a finite non-negative number")
    return ts


def _validate_msg_id(value: Any) -> str:
    if not isinstance(value, str) or not MSG_ID_RE.fullmatch(value):
        raise ValidationError("field 'msg_id' must look like <16 hex>-<sequence>")
    return value


def split_msg_id(msg_id: str) -> tuple[str, int]:
    match = MSG_ID_RE.fullmatch(msg_id)
    if match is None:
        raise ValidationError("malformed msg_id")
    return match.group(1), int(match.group(2))


@dataclass(frozen=True, slots=True)
class Accept:
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A room message (``room`` set) or a private one (``room`` is ``None``)."""

    room: str | None
    sender: str
    text: str
    ts: float
    msg_id: str


@dataclass(frozen=True, slots=True)
class LeaveNotice:
    room: str
    sender: str


@dataclass(frozen=True, slots=True)
class Ack:
    """Receipts: the remote's client handed these messages to its user."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class EndpointOffer:
    """The sender's direct address, offered inside a relayed channel."""

    host: str
    port: int


Frame = Accept | Reject | ChatMessage | LeaveNotice | Ack | Ping | Pong | EndpointOffer


def encode_chat_frame(frame: Frame) -> bytes:
    """The plaintext of one channel message."""
    obj: dict[str, Any]
    if isinstance(frame, Accept):
        obj = {"type": str(FrameType.ACCEPT)}
    elif isinstance(frame, Reject):
        obj = {"type": str(FrameType.REJECT), "code": frame.code, "reason": frame.reason}
    elif isinstance(frame, ChatMessage):
        kind = FrameType.PRIVATE if frame.room is None else FrameType.CHAT
        obj = {
            "type": str(kind),
            "room": frame.room,
            "from": frame.sender,
            "text": frame.text,
            "ts": frame.ts,
            "msg_id": frame.msg_id,
        }
    elif isinstance(frame, LeaveNotice):
        obj = {"type": str(FrameType.LEAVE), "room": frame.room, "from": frame.sender}
    elif isinstance(frame, Ack):
        obj = {"type": str(FrameType.ACK), "ids": list(frame.ids)}
    elif isinstance(frame, EndpointOffer):
        obj = {"type": str(FrameType.ENDPOINT), "host": frame.host, "port": frame.port}
    else:
        obj = {"type": str(FrameType.PING if isinstance(frame, Ping) else FrameType.PONG)}
    return encode_object(obj)


def _reject_code(value: Any) -> str:
    code = bounded_string("code", value, MAX_REJECT_CODE_CHARS, min_chars=1)
    if not REJECT_CODE_RE.fullmatch(code):
        raise ValidationError("field 'code' must be an error code: a-z, 0-9 and '_'")
    return code


def _validate_ack_ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ACK_IDS:
        raise ValidationError(f"field 'ids' must be a list of 1-{MAX_ACK_IDS} message ids")
    return tuple(_validate_msg_id(item) for item in value)


def decode_frame(plaintext: bytes, remote_username: str) -> Frame:
    """Parse and validate one channel message from ``remote_username``.

    Raises :class:`ProtocolError` (a subclass for bad fields); the caller closes the
    channel, since a peer sending malformed frames is broken or hostile.
    """
    obj = decode_object(plaintext)
    kind = obj.get("type")
    if kind == FrameType.ACCEPT:
        return Accept()
    if kind == FrameType.REJECT:
        return Reject(
            code=_reject_code(obj.get("code")),
            reason=bounded_string("reason", obj.get("reason"), MAX_REJECT_REASON_CHARS),
        )
    if kind == FrameType.ACK:
        return Ack(_validate_ack_ids(obj.get("ids")))
    if kind == FrameType.PING:
        return Ping()
    if kind == FrameType.PONG:
        return Pong()
    if kind == FrameType.ENDPOINT:
        return EndpointOffer(validate_host(obj.get("host")), validate_port(obj.get("port")))
    if kind in (FrameType.CHAT, FrameType.PRIVATE, FrameType.LEAVE):
        sender = validate_username(obj.get("from"))
        if sender != remote_username:
            raise ProtocolError(
                "frame claims to come from another user than the channel's peer",
                ErrorCode.FORBIDDEN,
            )
        if kind == FrameType.LEAVE:
            return LeaveNotice(room=validate_room_name(obj.get("room")), sender=sender)
        if kind == FrameType.CHAT:
            room: str | None = validate_room_name(obj.get("room"))
        else:
            if obj.get("room") is not None:
                raise ValidationError("a private message has no room")
            room = None
        return ChatMessage(
            room=room,
            sender=sender,
            text=validate_text(obj.get("text")),
            ts=_validate_ts(obj.get("ts")),
            msg_id=_validate_msg_id(obj.get("msg_id")),
        )
    raise ProtocolError("unknown chat frame type", ErrorCode.UNKNOWN_COMMAND)


class MessageIds:
    """Issues this session's message ids: a random session id and a counter from 1."""

    def __init__(self, session_id: str | None = None) -> None:
        self.session_id = session_id or secrets.token_hex(8)
        self._seq = 0

    def next_id(self) -> str:
        self._seq += 1
        return f"{self.session_id}-{self._seq}"
