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

The conversation frames (issue 21; their rules are :mod:`peer.core.conversation`) name a
message by ``{from, msg_id}`` within its conversation (a ``room``, or ``null`` for the
private conversation of the two ends):

* ``chat`` / ``private`` may carry ``reply_to: {from, msg_id}`` (a quote) and ``me: true``
  (an action, ``/me``).
* ``react`` - ``room``, ``from``, ``target: {from, msg_id}``, ``emoji`` (one grapheme
  cluster, at most :data:`MAX_EMOJI_BYTES` bytes: :func:`validate_emoji`), ``on``, ``ts``,
  ``msg_id``.
* ``edit`` - ``room``, ``from``, ``target_msg_id`` (a message of ``from``), ``text``,
  ``ts``, ``msg_id``.
* ``delete`` - ``room``, ``from``, ``target_msg_id`` (a message of ``from``), ``ts``,
  ``msg_id``.
* ``typing`` - ``room``, ``from``, ``active``; ``read`` - ``room``, ``from``,
  ``up_to: {from, msg_id}``. Neither has a ``msg_id`` or a receipt.

``react``, ``edit`` and ``delete`` carry a ``msg_id`` of their own, from the sender's one
sequence: they are receipted and delivered in order, exactly once, like messages.

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
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, assert_never

from commons.codec import decode_object, encode_object
from commons.errors import ErrorCode, ProtocolError, ValidationError
from commons.models import validate_host, validate_port, validate_room_name, validate_username
from commons.untrusted_text import (
    SKIN_TONES,
    VARIATION_SELECTORS,
    ZWJ,
    bounded_string,
    emoji_joiner_at,
    flag_tags_at,
    has_lone_surrogate,
    is_unsafe_for_display,
    replace_hidden,
)
from peer.events import MessageRef

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
    REACT = "react"
    EDIT = "edit"
    DELETE = "delete"
    TYPING = "typing"
    READ = "read"


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
    """A room message (``room`` set) or a private one (``room`` is ``None``);
    ``reply_to``: the message it quotes; ``me``: an action (``/me``)."""

    room: str | None
    sender: str
    text: str
    ts: float
    msg_id: str
    reply_to: MessageRef | None = None
    me: bool = False


@dataclass(frozen=True, slots=True)
class Reaction:
    """``sender`` puts (``on``) or takes back ``emoji`` on ``target``."""

    room: str | None
    sender: str
    target: MessageRef
    emoji: str
    on: bool
    ts: float
    msg_id: str


@dataclass(frozen=True, slots=True)
class Edit:
    """``sender`` replaces the text of their own message ``target_msg_id``."""

    room: str | None
    sender: str
    target_msg_id: str
    text: str
    ts: float
    msg_id: str


@dataclass(frozen=True, slots=True)
class Deletion:
    """``sender`` asks that their own message ``target_msg_id`` be shown deleted."""

    room: str | None
    sender: str
    target_msg_id: str
    ts: float
    msg_id: str


@dataclass(frozen=True, slots=True)
class Typing:
    """``sender`` is typing (``active``) in the conversation, or stopped."""

    room: str | None
    sender: str
    active: bool


@dataclass(frozen=True, slots=True)
class ReadMarker:
    """``sender`` has read the conversation up to ``up_to``."""

    room: str | None
    sender: str
    up_to: MessageRef


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


#: Frames that are receipted and delivered exactly once, in order (they have a ``msg_id``).
Receipted = ChatMessage | Reaction | Edit | Deletion
#: Frames of a conversation that are neither receipted nor queued (dropped when no channel).
Signal = Typing | ReadMarker
Frame = Accept | Reject | LeaveNotice | Ack | Ping | Pong | EndpointOffer | Receipted | Signal


def encode_chat_frame(frame: Frame) -> bytes:
    """The plaintext of one channel message."""
    obj: dict[str, Any]
    if isinstance(frame, Reaction | Edit | Deletion | Typing | ReadMarker):
        obj = _conversation_object(frame)
    elif isinstance(frame, Accept):
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
        if frame.reply_to is not None:
            obj["reply_to"] = _ref_object(frame.reply_to)
        if frame.me:
            obj["me"] = True
    elif isinstance(frame, LeaveNotice):
        obj = {"type": str(FrameType.LEAVE), "room": frame.room, "from": frame.sender}
    elif isinstance(frame, Ack):
        obj = {"type": str(FrameType.ACK), "ids": list(frame.ids)}
    elif isinstance(frame, EndpointOffer):
        obj = {"type": str(FrameType.ENDPOINT), "host": frame.host, "port": frame.port}
    else:
        obj = {"type": str(FrameType.PING if isinstance(frame, Ping) else FrameType.PONG)}
    return encode_object(obj)


def _ref_object(ref: MessageRef) -> dict[str, Any]:
    return {"from": ref.author, "msg_id": ref.msg_id}


def _conversation_object(frame: Reaction | Edit | Deletion | Typing | ReadMarker) -> dict[str, Any]:
    obj: dict[str, Any] = {"room": frame.room, "from": frame.sender}
    match frame:
        case Reaction():
            obj |= {"type": str(FrameType.REACT), "target": _ref_object(frame.target)}
            obj |= {"emoji": frame.emoji, "on": frame.on, "ts": frame.ts, "msg_id": frame.msg_id}
        case Edit():
            obj |= {"type": str(FrameType.EDIT), "target_msg_id": frame.target_msg_id}
            obj |= {"text": frame.text, "ts": frame.ts, "msg_id": frame.msg_id}
        case Deletion():
            obj |= {"type": str(FrameType.DELETE), "target_msg_id": frame.target_msg_id}
            obj |= {"ts": frame.ts, "msg_id": frame.msg_id}
        case Typing():
            obj |= {"type": str(FrameType.TYPING), "active": frame.active}
        case ReadMarker():
            obj |= {"type": str(FrameType.READ), "up_to": _ref_object(frame.up_to)}
        case _:
            assert_never(frame)
    return obj


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
    if kind in _CONVERSATION_TYPES:
        return _decode_conversation(FrameType(kind), obj, remote_username)
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
        reply_to = obj.get("reply_to")
        return ChatMessage(
            room=room,
            sender=sender,
            text=validate_text(obj.get("text")),
            ts=_validate_ts(obj.get("ts")),
            msg_id=_validate_msg_id(obj.get("msg_id")),
            reply_to=None if reply_to is None else _validate_ref("reply_to", reply_to),
            me=_validate_flag("me", obj.get("me", False)),
        )
    raise ProtocolError("unknown chat frame type", ErrorCode.UNKNOWN_COMMAND)


_CONVERSATION_TYPES = frozenset(
    {FrameType.REACT, FrameType.EDIT, FrameType.DELETE, FrameType.TYPING, FrameType.READ}
)


def _validate_ref(name: str, value: Any) -> MessageRef:
    if not isinstance(value, dict) or set(value) != {"from", "msg_id"}:
        raise ValidationError(f"field '{name}' must be an object {{from, msg_id}}")
    return MessageRef(validate_username(value["from"]), _validate_msg_id(value["msg_id"]))


def _validate_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"field '{name}' must be true or false")
    return value


def _decode_conversation(
    kind: FrameType, obj: dict[str, Any], remote_username: str
) -> Reaction | Edit | Deletion | Typing | ReadMarker:
    """A conversation frame: ``from`` is the channel's peer, ``room`` a room name or null."""
    sender = validate_username(obj.get("from"))
    if sender != remote_username:
        raise ProtocolError(
            "frame claims to come from another user than the channel's peer", ErrorCode.FORBIDDEN
        )
    raw_room = obj.get("room")
    room = None if raw_room is None else validate_room_name(raw_room)
    if kind is FrameType.TYPING:
        return Typing(room, sender, _validate_flag("active", obj.get("active")))
    if kind is FrameType.READ:
        return ReadMarker(room, sender, _validate_ref("up_to", obj.get("up_to")))
    ts = _validate_ts(obj.get("ts"))
    msg_id = _validate_msg_id(obj.get("msg_id"))
    if kind is FrameType.REACT:
        target = _validate_ref("target", obj.get("target"))
        emoji = validate_emoji(obj.get("emoji"))
        return Reaction(
            room, sender, target, emoji, _validate_flag("on", obj.get("on")), ts, msg_id
        )
    target_msg_id = _validate_msg_id(obj.get("target_msg_id"))
    if kind is FrameType.EDIT:
        return Edit(room, sender, target_msg_id, validate_text(obj.get("text")), ts, msg_id)
    return Deletion(room, sender, target_msg_id, ts, msg_id)


#: An emoji reaction is at most this many bytes of UTF-8 (a family ZWJ sequence is 25).
MAX_EMOJI_BYTES = 32
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
_KEYCAP = "\u20e3"


def validate_emoji(value: Any) -> str:
    """One grapheme cluster of at most :data:`MAX_EMOJI_BYTES` bytes, nothing hidden.

    Accepted: a flag (two regional indicators, or a black flag with its RGI tags); or
    printable base characters joined by ZWJs that join two emoji
    (:func:`commons.untrusted_text.emoji_joiner_at`), each followed only by combining
    marks, variation selectors, skin tones or a keycap. Refused: control, format and
    other invisible characters anywhere else, white space, a second base character
    without a joiner (two clusters), and anything the chat would show as a code point
    (:func:`commons.untrusted_text.replace_hidden`: blank-looking or unassigned
    characters, marks stacked past two, a selector not right after its character)."""
    if not isinstance(value, str) or not value:
        raise ValidationError("field 'emoji' must be a non-empty string")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_EMOJI_BYTES:
        raise ValidationError(f"an emoji reaction is at most {MAX_EMOJI_BYTES} bytes")
    if has_lone_surrogate(value):
        raise ValidationError("field 'emoji' is not valid Unicode")
    if len(value) == 2 and all(ord(c) in _REGIONAL_INDICATORS for c in value):
        return value
    if flag_tags_at(value, 0) == len(value):
        return value
    bases = 0
    for index, char in enumerate(value):
        if char == ZWJ:
            if not emoji_joiner_at(value, index):
                raise ValidationError("an emoji reaction holds a joiner that joins no emoji")
            bases -= 1
        elif _is_modifier(char):
            if index == 0 or value[index - 1] == ZWJ:
                raise ValidationError("an emoji reaction cannot start with a modifier")
        elif is_unsafe_for_display(char) or not char.isprintable() or char.isspace():
            raise ValidationError("an emoji reaction holds an invisible or control character")
        else:
            bases += 1
    if bases != 1:
        raise ValidationError("an emoji reaction is one character (one grapheme cluster)")
    if replace_hidden(value, _hidden) != value:  # blank-looking, unassigned, stacked marks
        raise ValidationError("an emoji reaction holds a character the chat would hide")
    return value


def _hidden(char: str) -> str:
    """Any mark at all: :func:`validate_emoji` only asks whether something is hidden."""
    return "\ufffd"


def _is_modifier(char: str) -> bool:
    return (
        char in VARIATION_SELECTORS
        or char in SKIN_TONES
        or char == _KEYCAP
        or unicodedata.category(char) in ("Mn", "Me")
    )


class MessageIds:
    """Issues this session's message ids: a random session id and a counter from 1."""

    def __init__(self, session_id: str | None = None) -> None:
        self.session_id = session_id or secrets.token_hex(8)
        self._seq = 0

    def next_id(self) -> str:
        self._seq += 1
        return f"{self.session_id}-{self._seq}"
