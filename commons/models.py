"""Validated values and records shared by the tracker and the peer.

Each ``validate_*`` function takes an untrusted value straight from a decoded frame and
either returns it in canonical form or raises :class:`ValidationError` naming the field.
Every string field has a length bound, checked before any parsing (the codec has
already refused strings that are not text, see :mod:`commons.untrusted_text`), so no
field can push a reply or push that repeats it past the frame limit.
The records are what the tracker publishes about users, peers and rooms; their
``to_wire``/``from_wire`` pair is the only place their JSON shape is written down in code.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from commons.errors import ValidationError
from commons.look_alikes import mixes_look_alike_scripts
from commons.untrusted_text import BLANK_LOOKING, MAX_STACKED_MARKS, require_text

NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
PASSWORD_HASH_RE = re.compile(r"[0-9a-f]{64}")
#: Every host, whatever its form (DNS name, IPv4, IPv6 with or without a scope id).
MAX_HOST_LENGTH = 253
#: An IPv6 zone: an interface name (at most 15 characters on Linux) or index.
SCOPE_ID_RE = re.compile(r"[A-Za-z0-9_.\-]{1,15}")
HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*"
)
#: A room name's bounds, after NFC: code points (what a reader counts) and UTF-8 bytes
#: (what a frame carries; 32 CJK letters are 96 bytes).
MAX_ROOM_NAME_CHARS = 32
MAX_ROOM_NAME_BYTES = 96
#: Code points looked at before normalising: NFC never grows a string past three times
#: its length, and a name needing more than four code points per letter is no name.
_MAX_RAW_ROOM_NAME_CHARS = 4 * MAX_ROOM_NAME_CHARS
_ROOM_NAME_PUNCTUATION = frozenset("_.-")
_LETTER_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
_MARK_CATEGORIES = frozenset({"Mn", "Mc"})
IDENTITY_KEY_SIZE = 32
MAX_ROOM_CAPACITY = 64


def _require_str(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"field '{field}' must be a string")
    return value


def validate_name(field: str, value: Any) -> str:
    """Usernames: 1-32 ASCII letters, digits, ``_``, ``.`` or ``-``, not only dots
    (room names have their own, wider rule: :func:`validate_room_name`).

    All-dot names (``.``, ``..``) are refused: a username names a folder in the peer's
    home, and ``..`` would be its parent.
    """
    text = _require_str(field, value)
    if not NAME_RE.fullmatch(text):
        raise ValidationError(
            f"field '{field}' must be 1-32 characters of letters, digits, '_', '.' or '-'"
        )
    if not text.strip("."):
        raise ValidationError(f"field '{field}' must not be only dots")
    return text


def validate_username(value: Any) -> str:
    return validate_name("username", value)


def validate_room_name(value: Any, field: str = "room") -> str:
    """A room name in canonical form: NFC, 1-32 code points and at most 96 UTF-8 bytes
    of Unicode letters and digits (``café``, ``東京``, ``lobby-2``), ``_``, ``.`` or
    ``-``, not only dots.

    A letter may carry up to :data:`~commons.untrusted_text.MAX_STACKED_MARKS` combining
    marks (scripts such as Devanagari need them), never one that draws nothing
    (:data:`~commons.untrusted_text.BLANK_LOOKING`); no space, symbol, emoji or
    invisible character, so a name reads the same on every screen and is one word of a
    command; no mix of Latin, Cyrillic and Greek letters
    (:func:`~commons.look_alikes.mixes_look_alike_scripts`), which only a name made to
    pass for another needs. Both ends normalise (a macOS keyboard types ``cafe`` + U+0301), so names
    stay compared code point by code point, with case, as they always were. Every
    username is a valid room name (a LIST_PEERS cursor is checked with this rule).
    """
    text = _require_str(field, value)
    if len(text) > _MAX_RAW_ROOM_NAME_CHARS:
        raise ValidationError(_room_name_error(field))
    text = unicodedata.normalize("NFC", require_text(text, f"field '{field}'"))
    if not 1 <= len(text) <= MAX_ROOM_NAME_CHARS or len(text.encode()) > MAX_ROOM_NAME_BYTES:
        raise ValidationError(_room_name_error(field))
    marks: int | None = None  # marks on the letter before; None: no letter to carry one
    for char in text:
        category = unicodedata.category(char)
        if char in BLANK_LOOKING:
            raise ValidationError(_room_name_error(field))
        if category in _MARK_CATEGORIES:
            if marks is None or marks == MAX_STACKED_MARKS:
                raise ValidationError(_room_name_error(field))
            marks += 1
        elif category in _LETTER_CATEGORIES:
            marks = 0
        elif char in _ROOM_NAME_PUNCTUATION:
            marks = None
        else:
            raise ValidationError(_room_name_error(field))
    if not text.strip("."):
        raise ValidationError(f"field '{field}' must not be only dots")
    if mixes_look_alike_scripts(text):
        raise ValidationError(
            f"field '{field}' must not mix Latin, Cyrillic and Greek letters (they look alike)"
        )
    return text


def _room_name_error(field: str) -> str:
    return (
        f"field '{field}' must be 1-{MAX_ROOM_NAME_CHARS} letters, digits, '_', '.' or '-'"
        f" (at most {MAX_ROOM_NAME_BYTES} bytes)"
    )


def validate_password_hash(value: Any, field: str = "password") -> str:
    """The client's login secret (:mod:`crypto.login_secret`): 64 hex digits, either case."""
    text = _require_str(field, value).lower()
    if not PASSWORD_HASH_RE.fullmatch(text):
        raise ValidationError(f"field '{field}' must be a SHA-256 hex digest (64 hex digits)")
    return text


def validate_port(value: Any, field: str = "port") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValidationError(f"field '{field}' must be an integer from 1 to 65535")
    return value


def validate_identity_key(value: Any, field: str = "identity_key") -> str:
    """Base64 of a raw 32-byte X25519 public key; returned in canonical base64."""
    text = _require_str(field, value)
    if len(text) > 64:
        raise ValidationError(f"field '{field}' is too long")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"field '{field}' must be base64") from None
    if len(raw) != IDENTITY_KEY_SIZE:
        raise ValidationError(f"field '{field}' must encode exactly 32 bytes")
    if raw == bytes(IDENTITY_KEY_SIZE):
        raise ValidationError(f"field '{field}' must not be the all-zero key")
    return base64.b64encode(raw).decode("ascii")


def validate_host(value: Any, field: str = "host") -> str:
    """An advertised host: an IP address literal or a DNS name, at most 253 characters.

    The bound holds for every form: an IPv6 scope id (after ``%``) is otherwise free
    text to :mod:`ipaddress`, so it is held to an interface name's characters too.
    """
    text = _require_str(field, value)
    if not 0 < len(text) <= MAX_HOST_LENGTH:
        raise ValidationError(f"field '{field}' must be 1-{MAX_HOST_LENGTH} characters")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        scope = address.scope_id if isinstance(address, ipaddress.IPv6Address) else None
        if scope is not None and not SCOPE_ID_RE.fullmatch(scope):
            raise ValidationError(
                f"field '{field}' has an IPv6 scope id that is not an interface name"
            )
        return str(address)
    if not HOSTNAME_RE.fullmatch(text):
        raise ValidationError(f"field '{field}' must be an IP address or a host name")
    return text


def validate_capacity(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_ROOM_CAPACITY:
        raise ValidationError(f"room capacity must be an integer from 2 to {MAX_ROOM_CAPACITY}")
    return value


def encode_identity_key(raw: bytes) -> str:
    if len(raw) != IDENTITY_KEY_SIZE:
        raise ValueError("an identity key is 32 bytes")
    return base64.b64encode(raw).decode("ascii")


def decode_identity_key(text: str) -> bytes:
    return base64.b64decode(validate_identity_key(text), validate=True)


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A room member, as ``ROOM_UPDATE`` and the ``JOIN_ROOM`` reply publish them to the
    other members: how to dial them (``host``/``port``: both ``None`` for a user with no
    listener, or who entered the room relay-only, reached through the relay) and their
    key."""

    username: str
    host: str | None
    port: int | None
    identity_key: str

    def to_wire(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"username": self.username, "identity_key": self.identity_key}
        if self.host is not None and self.port is not None:
            obj["host"] = self.host
            obj["port"] = self.port
        return obj

    @classmethod
    def from_wire(cls, obj: Any) -> MemberInfo:
        if not isinstance(obj, dict):
            raise ValidationError("member entry must be an object")
        host = obj.get("host")
        port = obj.get("port")
        if (host is None) != (port is None):
            raise ValidationError("a member's 'host' and 'port' come together")
        return cls(
            username=validate_username(obj.get("username")),
            host=None if host is None else validate_host(host),
            port=None if port is None else validate_port(port),
            identity_key=validate_identity_key(obj.get("identity_key")),
        )


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """An online user, as ``LIST_PEERS`` and ``LOOKUP`` return it: no address (only
    room-mates learn that), no timing."""

    username: str
    identity_key: str
    room: str | None

    def to_wire(self) -> dict[str, Any]:
        return {"username": self.username, "identity_key": self.identity_key, "room": self.room}

    @classmethod
    def from_wire(cls, obj: Any) -> PeerInfo:
        if not isinstance(obj, dict):
            raise ValidationError("peer entry must be an object")
        room = obj.get("room")
        return cls(
            username=validate_username(obj.get("username")),
            identity_key=validate_identity_key(obj.get("identity_key")),
            room=None if room is None else validate_room_name(room),
        )


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A room, as ``LIST_ROOMS`` and ``ROOM_UPDATE`` describe it.

    ``invite_only`` is absent from the replies of older trackers, hence its default.
    """

    name: str
    owner: str
    members: tuple[str, ...]
    capacity: int
    invite_only: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "room": self.name,
            "owner": self.owner,
            "members": list(self.members),
            "capacity": self.capacity,
            "invite_only": self.invite_only,
        }

    @classmethod
    def from_wire(cls, obj: Any) -> RoomInfo:
        if not isinstance(obj, dict):
            raise ValidationError("room entry must be an object")
        members = obj.get("members")
        if not isinstance(members, list):
            raise ValidationError("field 'members' must be a list")
        invite_only = obj.get("invite_only", False)
        if not isinstance(invite_only, bool):
            raise ValidationError("field 'invite_only' must be a boolean")
        return cls(
            name=validate_room_name(obj.get("room")),
            owner=validate_username(obj.get("owner")),
            members=tuple(validate_username(m) for m in members),
            capacity=validate_capacity(obj.get("capacity")),
            invite_only=invite_only,
        )
