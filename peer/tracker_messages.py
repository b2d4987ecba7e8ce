"""The tracker's replies and pushes as typed values, sans-I/O (the client side of
:mod:`commons.tracker_protocol`).

Every field the client uses is validated here, once; the rest of the peer never digs in
a reply's dictionary. A push of an unknown kind parses to ``None`` (a newer tracker may
send events this client does not know), a known one with a bad field raises
:class:`commons.errors.ValidationError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from commons.codec import JsonObject
from commons.errors import ProtocolError, ValidationError
from commons.models import (
    MemberInfo,
    PeerInfo,
    RoomInfo,
    decode_identity_key,
    validate_capacity,
    validate_host,
    validate_room_name,
    validate_username,
)
from commons.tracker_protocol import Event, validate_ticket
from crypto.login_secret import ACCOUNT_SALT_SIZE, LoginKdf, validate_realm

DEFAULT_HEARTBEAT = 10.0


def _list(reply: JsonObject, name: str) -> list[object]:
    value = reply.get(name)
    if not isinstance(value, list):
        raise ProtocolError(f"tracker reply without a '{name}' list")
    return value


@dataclass(frozen=True, slots=True)
class LoginReply:
    """A LOGIN or RESUME reply; ``ticket`` resumes the session once (``None`` from a
    tracker without tickets)."""

    username: str
    heartbeat_interval: float
    host: str | None
    ticket: str | None = None

    @classmethod
    def parse(cls, reply: JsonObject) -> LoginReply:
        interval = reply.get("heartbeat_interval")
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            interval = DEFAULT_HEARTBEAT
        host = reply.get("host")
        ticket = reply.get("ticket")
        return cls(
            validate_username(reply.get("username")),
            float(interval),
            None if host is None else validate_host(host),
            None if ticket is None else validate_ticket(ticket),
        )

    def __repr__(self) -> str:
        return f"LoginReply({self.username!r}, ticket=<hidden>)"


@dataclass(frozen=True, slots=True)
class SaltReply:
    """``SALT``: the account's salt, the client's Argon2id cost, the group's realm, and
    whether the account still has a legacy verifier."""

    salt: bytes
    kdf: LoginKdf
    realm: str
    legacy: bool

    @classmethod
    def parse(cls, reply: JsonObject) -> SaltReply:
        raw = reply.get("salt")
        if not isinstance(raw, str) or len(raw) != 2 * ACCOUNT_SALT_SIZE:
            raise ValidationError(f"field 'salt' must be {ACCOUNT_SALT_SIZE} bytes in hex")
        try:
            salt = bytes.fromhex(raw)
        except ValueError:
            raise ValidationError("field 'salt' must be hex") from None
        legacy = reply.get("legacy", False)
        if not isinstance(legacy, bool):
            raise ValidationError("field 'legacy' must be a boolean")
        return cls(
            salt, LoginKdf.from_wire(reply.get("kdf")), validate_realm(reply.get("realm")), legacy
        )


@dataclass(frozen=True, slots=True)
class PeerList:
    peers: list[PeerInfo]
    truncated: bool

    @classmethod
    def parse(cls, reply: JsonObject) -> PeerList:
        peers = [PeerInfo.from_wire(item) for item in _list(reply, "peers")]
        return cls(peers, reply.get("truncated") is True)


def parse_rooms(reply: JsonObject) -> list[RoomInfo]:
    return [RoomInfo.from_wire(item) for item in _list(reply, "rooms")]


def parse_created(reply: JsonObject) -> RoomInfo:
    return RoomInfo.from_wire(reply.get("room"))


@dataclass(frozen=True, slots=True)
class JoinReply:
    room: RoomInfo
    members: list[MemberInfo]

    @classmethod
    def parse(cls, reply: JsonObject) -> JoinReply:
        members = [MemberInfo.from_wire(m) for m in _list(reply, "members")]
        return cls(RoomInfo.from_wire(reply.get("room")), members)


@dataclass(frozen=True, slots=True)
class RoomUpdate:
    room: str
    owner: str
    capacity: int
    members: list[MemberInfo]


@dataclass(frozen=True, slots=True)
class RoomDeletedPush:
    room: str


@dataclass(frozen=True, slots=True)
class SessionReplacedPush:
    pass


@dataclass(frozen=True, slots=True)
class SessionEndedPush:
    """The tracker ended the session (``ticket_reused``: a spent ticket came back)."""

    reason: str


@dataclass(frozen=True, slots=True)
class KeyChangedPush:
    username: str
    identity_key: bytes


TrackerPush = RoomUpdate | RoomDeletedPush | SessionReplacedPush | KeyChangedPush | SessionEndedPush


def parse_push(event: str, body: JsonObject) -> TrackerPush | None:
    """The typed push, ``None`` for an event this client does not know."""
    if event == Event.ROOM_UPDATE:
        return RoomUpdate(
            validate_room_name(body.get("room")),
            validate_username(body.get("owner")),
            validate_capacity(body.get("capacity")),
            [MemberInfo.from_wire(m) for m in _list(body, "members")],
        )
    if event == Event.ROOM_DELETED:
        return RoomDeletedPush(validate_room_name(body.get("room")))
    if event == Event.SESSION_REPLACED:
        return SessionReplacedPush()
    if event == Event.SESSION_ENDED:
        reason = body.get("reason")
        if not isinstance(reason, str) or not 1 <= len(reason) <= 64:
            raise ValidationError("SESSION_ENDED without a reason")
        return SessionEndedPush(reason)
    if event == Event.KEY_CHANGED:
        raw_key = body.get("identity_key")
        if not isinstance(raw_key, str):
            raise ValidationError("KEY_CHANGED without an identity_key")
        return KeyChangedPush(validate_username(body.get("username")), decode_identity_key(raw_key))
    return None
