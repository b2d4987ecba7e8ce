"""The tracker protocol's messages, sans-I/O: parse requests, build replies and pushes.

Requests are JSON objects with ``cmd`` and a client-chosen ``id``. Every reply carries
``status`` (``OK``/``ERROR``) and that same ``id``; errors add a stable ``code`` and a
human ``msg``. Pushes from the tracker carry ``event`` and never an ``id``, so a client
can never take a push for a reply. ``docs/PROTOCOL.md`` documents every frame; this
module is the single place that turns untrusted objects into typed requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from commons.codec import JsonObject
from commons.errors import ErrorCode, P2PChatError, ProtocolError, ValidationError
from commons.models import (
    validate_host,
    validate_identity_key,
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


class Event(StrEnum):
    """Tracker pushes (frames with ``event`` and no ``id``)."""

    ROOM_UPDATE = "ROOM_UPDATE"
    ROOM_DELETED = "ROOM_DELETED"
    SESSION_REPLACED = "SESSION_REPLACED"
    KEY_CHANGED = "KEY_CHANGED"


class Status(StrEnum):
    OK = "OK"
    ERROR = "ERROR"


RequestId = int | str


@dataclass(frozen=True, slots=True)
class Request:
    """One validated request.

    ``username`` is set for REGISTER/LOGIN (whose subject it is) and, for every other
    command, only when the client named a user; the tracker refuses any name that is
    not the session's own (``forbidden``).
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


_ROOM_COMMANDS = {Command.CREATE_ROOM, Command.JOIN_ROOM, Command.DELETE_ROOM}


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
            fields["port"] = validate_port(obj.get("port"))
            if obj.get("host") is not None:
                fields["host"] = validate_host(obj.get("host"))
            replace = obj.get("replace_key", False)
            if not isinstance(replace, bool):
                raise ValidationError("field 'replace_key' must be a boolean")
            fields["replace_key"] = replace
    elif "username" in obj:
        fields["username"] = validate_username(obj.get("username"))
    if cmd in _ROOM_COMMANDS:
        fields["room"] = validate_room_name(obj.get("room"))
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


def error(request_id: RequestId | None, code: ErrorCode, msg: str) -> JsonObject:
    return {"status": str(Status.ERROR), "id": request_id, "code": str(code), "msg": msg}


def error_from(request_id: RequestId | None, exc: P2PChatError) -> JsonObject:
    return error(request_id, exc.code, exc.message)


def push(event: Event, **data: Any) -> JsonObject:
    obj: JsonObject = {"event": str(event)}
    obj.update(data)
    return obj


def is_push(obj: JsonObject) -> bool:
    """A push has ``event`` and no ``id``/``status``; anything else is a reply."""
    return "event" in obj and "id" not in obj and "status" not in obj
