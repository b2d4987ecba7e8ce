"""The tracker protocol's messages, sans-I/O: parse requests, build replies and pushes.

Requests are JSON objects with ``cmd`` and a client-chosen ``id``. Every reply carries
``status`` (``OK``/``ERROR``) and that same ``id``; errors add a stable ``code`` and a
human ``msg``. Pushes from the tracker carry ``event`` and never an ``id``, so a client
can never take a push for a reply. ``docs/PROTOCOL.md`` documents every frame; this
module is the single place that turns untrusted objects into typed requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from commons.codec import JsonObject
from commons.errors import (
    ErrorCode,
    P2PChatError,
    ProtocolError,
    RateLimitedError,
    ValidationError,
)
from commons.mailbox_fields import (
    validate_body,
    validate_deposit_id,
    validate_digest,
    validate_digest_list,
    validate_fetch_limit,
)
from commons.models import (
    validate_host,
    validate_identity_key,
    validate_name,
    validate_password_hash,
    validate_port,
    validate_room_name,
    validate_username,
)
from commons.untrusted_text import has_lone_surrogate

PROTOCOL_VERSION = 1
MAX_ID_LENGTH = 64


class Command(StrEnum):
    REGISTER = "REGISTER"
    LOGIN = "LOGIN"
    LOGOUT = "LOGOUT"
    LIST_PEERS = "LIST_PEERS"
    LIST_ROOMS = "LIST_ROOMS"
    CREATE_ROOM = "CREATE_ROOM"
    JOIN_ROOM = "JOIN_ROOM"
    LEAVE_ROOM = "LEAVE_ROOM"
    DELETE_ROOM = "DELETE_ROOM"
    PING = "PING"
    LOOKUP = "LOOKUP"
    KICK = "KICK"
    BAN = "BAN"
    UNBAN = "UNBAN"
    INVITE = "INVITE"
    UNINVITE = "UNINVITE"
    SET_ROOM = "SET_ROOM"
    ROOM_ACCESS = "ROOM_ACCESS"
    SALT = "SALT"
    RESUME = "RESUME"
    MAILBOX_TOKENS = "MAILBOX_TOKENS"
    DEPOSIT = "DEPOSIT"
    MAILBOX_FETCH = "MAILBOX_FETCH"
    MAILBOX_ACK = "MAILBOX_ACK"


class Event(StrEnum):
    """Tracker pushes (frames with ``event`` and no ``id``)."""

    ROOM_UPDATE = "ROOM_UPDATE"
    ROOM_DELETED = "ROOM_DELETED"
    SESSION_REPLACED = "SESSION_REPLACED"
    KEY_CHANGED = "KEY_CHANGED"
    KICKED = "KICKED"
    INVITED = "INVITED"
    SESSION_ENDED = "SESSION_ENDED"
    #: A room-mate's session started or ended (one per change per recipient).
    PRESENCE = "PRESENCE"
    MAILBOX = "MAILBOX"


class Status(StrEnum):
    OK = "OK"
    ERROR = "ERROR"


RequestId = int | str


@dataclass(frozen=True, slots=True)
class Request:
    """One validated request.

    ``username`` is set for REGISTER/LOGIN (whose subject it is) and, for every other
    command, only when the client named a user; the tracker refuses any name that is
    not the session's own (``forbidden``). ``target`` is the other user a command is
    about (the wire field ``user`` of LOOKUP, KICK, BAN, UNBAN, INVITE, UNINVITE).
    """

    id: RequestId
    cmd: Command
    username: str | None = None
    password: str | None = None
    identity_key: str | None = None
    port: int | None = None
    host: str | None = None
    room: str | None = None
    replace_key: bool = False
    target: str | None = None
    cursor: str | None = None
    limit: int | None = None
    invite: str | None = None
    invite_only: bool | None = None
    #: CREATE_ROOM and JOIN_ROOM: the room's members get no address for this user.
    relay_only: bool = False
    #: RESUME: the resumption ticket. LOGIN: the legacy digest, to upgrade an old account.
    ticket: str | None = None
    legacy_password: str | None = None
    #: LOGIN with ``legacy_password``: proof of the registered identity key
    #: (:mod:`crypto.legacy_upgrade`), 64 lower-case hex digits.
    upgrade_proof: str | None = None
    #: MAILBOX_TOKENS: SHA-256 of delivery tokens to own from now on, and to give up.
    token_add: tuple[bytes, ...] = ()
    token_remove: tuple[bytes, ...] = ()
    #: DEPOSIT: the delivery token (the tracker keeps only its SHA-256) and the sealed
    #: envelope, opaque to the tracker; its recipient is ``target`` (the wire's ``to``).
    token: bytes | None = None
    body: bytes | None = None
    #: MAILBOX_FETCH: deposits after this id (``None``: from the first).
    #: MAILBOX_ACK: the last deposit to delete.
    after: int | None = None
    up_to: int | None = None


def parse_request_id(obj: JsonObject) -> RequestId | None:
    """Return a well-formed ``id`` or ``None``; used to address error replies too."""
    value = obj.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value < 2**63:
        return value
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
        return None if has_lone_surrogate(value) else value
    return None


#: Largest ``limit`` of a LIST_PEERS/LIST_ROOMS page (a page never exceeds one frame).
MAX_PAGE_LIMIT = 1000
#: Registration invite codes: URL-safe base64 text (the tracker makes 20 characters).
INVITE_CODE_RE = re.compile(r"[A-Za-z0-9_\-]{8,64}")
#: Resumption tickets: URL-safe base64 text (the tracker makes 32 characters).
TICKET_RE = re.compile(r"[A-Za-z0-9_\-]{22,64}")
#: Legacy upgrade proofs: an HMAC-SHA256 in hex.
UPGRADE_PROOF_RE = re.compile(r"[0-9a-f]{64}")

_ROOM_COMMANDS = {
    Command.CREATE_ROOM,
    Command.JOIN_ROOM,
    Command.DELETE_ROOM,
    Command.KICK,
    Command.BAN,
    Command.UNBAN,
    Command.INVITE,
    Command.UNINVITE,
    Command.SET_ROOM,
    Command.ROOM_ACCESS,
}
_TARGET_COMMANDS = {
    Command.LOOKUP,
    Command.KICK,
    Command.BAN,
    Command.UNBAN,
    Command.INVITE,
    Command.UNINVITE,
}
_PAGED_COMMANDS = {Command.LIST_PEERS, Command.LIST_ROOMS}


def _optional_bool(obj: JsonObject, field: str) -> bool | None:
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ValidationError(f"field '{field}' must be a boolean")
    return value


def _page_fields(obj: JsonObject, fields: dict[str, Any]) -> None:
    if obj.get("cursor") is not None:
        fields["cursor"] = validate_room_name(obj.get("cursor"), "cursor")
    limit = obj.get("limit")
    if limit is not None:
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_PAGE_LIMIT
        ):
            raise ValidationError(f"field 'limit' must be an integer from 1 to {MAX_PAGE_LIMIT}")
        fields["limit"] = limit


def validate_invite_code(value: Any) -> str:
    if not isinstance(value, str) or not INVITE_CODE_RE.fullmatch(value):
        raise ValidationError("field 'invite' must be 8-64 characters of A-Z a-z 0-9 _ -")
    return value


def validate_ticket(value: Any) -> str:
    if not isinstance(value, str) or not TICKET_RE.fullmatch(value):
        raise ValidationError("field 'ticket' must be 22-64 characters of A-Z a-z 0-9 _ -")
    return value


def validate_upgrade_proof(value: Any) -> str:
    """``upgrade_proof``: 64 hex digits (either case), returned in lower case."""
    if (
        not isinstance(value, str)
        or len(value) != 64
        or not UPGRADE_PROOF_RE.fullmatch(value.lower())
    ):
        raise ValidationError("field 'upgrade_proof' must be 64 hex digits")
    return value.lower()


def _session_fields(obj: JsonObject, fields: dict[str, Any]) -> None:
    """LOGIN and RESUME: where the new session listens (no port: no listener, no address
    published)."""
    if obj.get("port") is not None:
        fields["port"] = validate_port(obj.get("port"))
    if obj.get("host") is not None:
        fields["host"] = validate_host(obj.get("host"))


def _mailbox_fields(cmd: Command, obj: JsonObject, fields: dict[str, Any]) -> None:
    """The mailbox commands' fields (:mod:`commons.mailbox_fields`)."""
    if cmd is Command.MAILBOX_TOKENS:
        fields["token_add"] = validate_digest_list("add", obj.get("add"))
        fields["token_remove"] = validate_digest_list("remove", obj.get("remove"))
        if set(fields["token_add"]) & set(fields["token_remove"]):
            raise ValidationError("a token hash is both in 'add' and in 'remove'")
        if len(fields["token_add"]) + len(fields["token_remove"]) > 256:
            raise ValidationError("at most 256 token hashes in 'add' and 'remove' together")
    elif cmd is Command.DEPOSIT:
        fields["target"] = validate_username(obj.get("to"))
        fields["token"] = validate_digest("token", obj.get("token"))
        fields["body"] = validate_body(obj.get("body"))
    elif cmd is Command.MAILBOX_FETCH:
        fields["after"] = validate_deposit_id("after", obj.get("after"), optional=True)
        fields["limit"] = validate_fetch_limit(obj.get("limit"))
    elif cmd is Command.MAILBOX_ACK:
        fields["up_to"] = validate_deposit_id("up_to", obj.get("up_to"), optional=False)


_MAILBOX_COMMANDS = {
    Command.MAILBOX_TOKENS,
    Command.DEPOSIT,
    Command.MAILBOX_FETCH,
    Command.MAILBOX_ACK,
}


def parse_request(obj: JsonObject) -> Request:
    """Validate ``obj`` field by field and return a typed :class:`Request`."""
    request_id = parse_request_id(obj)
    if request_id is None:
        raise ValidationError(
            f"field 'id' must be a non-negative integer or a string of 1-{MAX_ID_LENGTH} chars"
        )
    raw_cmd = obj.get("cmd")
    if not isinstance(raw_cmd, str):
        raise ValidationError("field 'cmd' must be a string")
    try:
        cmd = Command(raw_cmd)
    except ValueError:
        raise ProtocolError(
            f"unknown command {raw_cmd[:32]!r}", ErrorCode.UNKNOWN_COMMAND
        ) from None

    fields: dict[str, Any] = {"id": request_id, "cmd": cmd}
    if cmd in (Command.REGISTER, Command.LOGIN):
        fields["username"] = validate_username(obj.get("username"))
        fields["password"] = validate_password_hash(obj.get("password"))
        fields["identity_key"] = validate_identity_key(obj.get("identity_key"))
        if cmd is Command.LOGIN:
            _session_fields(obj, fields)
            replace = obj.get("replace_key", False)
            if not isinstance(replace, bool):
                raise ValidationError("field 'replace_key' must be a boolean")
            fields["replace_key"] = replace
            if obj.get("legacy_password") is not None:
                fields["legacy_password"] = validate_password_hash(
                    obj.get("legacy_password"), "legacy_password"
                )
            if obj.get("upgrade_proof") is not None:
                if "legacy_password" not in fields:
                    raise ValidationError("field 'upgrade_proof' goes only with 'legacy_password'")
                fields["upgrade_proof"] = validate_upgrade_proof(obj.get("upgrade_proof"))
        elif obj.get("invite") is not None:
            fields["invite"] = validate_invite_code(obj.get("invite"))
    elif cmd is Command.RESUME:
        fields["username"] = validate_username(obj.get("username"))
        fields["ticket"] = validate_ticket(obj.get("ticket"))
        fields["identity_key"] = validate_identity_key(obj.get("identity_key"))
        _session_fields(obj, fields)
    elif cmd is Command.SALT or "username" in obj:
        fields["username"] = validate_username(obj.get("username"))
    if cmd in _MAILBOX_COMMANDS:
        _mailbox_fields(cmd, obj, fields)
    if cmd in _ROOM_COMMANDS or (cmd is Command.LEAVE_ROOM and obj.get("room") is not None):
        fields["room"] = validate_room_name(obj.get("room"))
    if cmd in _TARGET_COMMANDS:
        fields["target"] = validate_name("user", obj.get("user"))
    if cmd in _PAGED_COMMANDS:
        _page_fields(obj, fields)
    if cmd in (Command.CREATE_ROOM, Command.JOIN_ROOM):
        fields["relay_only"] = bool(_optional_bool(obj, "relay_only"))
    if cmd is Command.CREATE_ROOM:
        fields["invite_only"] = _optional_bool(obj, "invite_only")
    elif cmd is Command.SET_ROOM:
        invite_only = _optional_bool(obj, "invite_only")
        if invite_only is None:
            raise ValidationError("field 'invite_only' must be a boolean")
        fields["invite_only"] = invite_only
    return Request(**fields)


def request(cmd: Command, request_id: RequestId, **fields: Any) -> JsonObject:
    """Build a request object (client side); ``None`` fields are left out."""
    obj: JsonObject = {"cmd": str(cmd), "id": request_id}
    obj.update({k: v for k, v in fields.items() if v is not None})
    return obj


def ok(request_id: RequestId | None, **data: Any) -> JsonObject:
    obj: JsonObject = {"status": str(Status.OK), "id": request_id}
    obj.update(data)
    return obj


def error(
    request_id: RequestId | None, code: ErrorCode, msg: str, retry_after: float | None = None
) -> JsonObject:
    """An ``ERROR`` reply; ``retry_after`` (seconds) only for rate limits."""
    obj: JsonObject = {"status": str(Status.ERROR), "id": request_id, "code": str(code), "msg": msg}
    if retry_after is not None:
        obj["retry_after"] = round(retry_after, 3)
    return obj


def error_from(request_id: RequestId | None, exc: P2PChatError) -> JsonObject:
    retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
    return error(request_id, exc.code, exc.message, retry_after)


def push(event: Event, **data: Any) -> JsonObject:
    obj: JsonObject = {"event": str(event)}
    obj.update(data)
    return obj


def is_push(obj: JsonObject) -> bool:
    """A push has ``event`` and no ``id``/``status``; anything else is a reply."""
    return "event" in obj and "id" not in obj and "status" not in obj
