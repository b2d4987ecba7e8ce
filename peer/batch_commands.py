"""Batch-mode input, sans-I/O: one line of stdin -> one typed command.

Grammar: a line starting with ``/`` is a command (``/name args``); ``//text`` sends
``/text`` as a message; any other non-blank line is a message to the current room;
blank lines are ignored. Arguments are split on whitespace, except that the message
text of ``/msg USER TEXT`` and of plain lines is kept exactly as typed; a ``/msg`` whose
text is only whitespace is a usage error, as a blank line to the room is ignored.

Input is untrusted text like anything from the network: a line holding a lone surrogate
(stdin bytes that are not UTF-8 arrive that way) is refused before it is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass

from commons.errors import ErrorCode, ValidationError
from commons.models import validate_room_name, validate_username
from commons.untrusted_text import has_lone_surrogate


@dataclass(frozen=True, slots=True)
class Register:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str
    replace_key: bool = False


@dataclass(frozen=True, slots=True)
class ListPeers:
    pass


@dataclass(frozen=True, slots=True)
class ListRooms:
    pass


@dataclass(frozen=True, slots=True)
class CreateRoom:
    room: str


@dataclass(frozen=True, slots=True)
class JoinRoom:
    room: str


@dataclass(frozen=True, slots=True)
class LeaveRoom:
    pass


@dataclass(frozen=True, slots=True)
class DeleteRoom:
    room: str


@dataclass(frozen=True, slots=True)
class ListUsers:
    pass


@dataclass(frozen=True, slots=True)
class SendPrivate:
    username: str
    text: str


@dataclass(frozen=True, slots=True)
class SendRoom:
    text: str


@dataclass(frozen=True, slots=True)
class ShowFingerprint:
    username: str | None


@dataclass(frozen=True, slots=True)
class Trust:
    username: str


@dataclass(frozen=True, slots=True)
class Verify:
    username: str


@dataclass(frozen=True, slots=True)
class Quit:
    pass


BatchCommand = (
    Register
    | Login
    | ListPeers
    | ListRooms
    | CreateRoom
    | JoinRoom
    | LeaveRoom
    | DeleteRoom
    | ListUsers
    | SendPrivate
    | SendRoom
    | ShowFingerprint
    | Trust
    | Verify
    | Quit
)

USAGE: dict[str, str] = {
    "register": "/register NAME PASSWORD",
    "login": "/login NAME PASSWORD [--replace-key]",
    "peers": "/peers",
    "rooms": "/rooms",
    "create": "/create ROOM",
    "join": "/join ROOM",
    "leave": "/leave",
    "delete": "/delete ROOM",
    "users": "/users",
    "msg": "/msg USER TEXT",
    "fingerprint": "/fingerprint [USER]",
    "trust": "/trust USER",
    "verify": "/verify USER",
    "quit": "/quit",
}


class CommandError(ValidationError):
    """The line is not a valid command; the message shows the usage."""

    code = ErrorCode.BAD_REQUEST


def _usage(name: str) -> CommandError:
    return CommandError(f"usage: {USAGE[name]}")


def parse_line(line: str) -> BatchCommand | None:
    """Parse one input line (without its newline); ``None`` for a blank line."""
    line = line.rstrip("\r\n")
    if has_lone_surrogate(line):
        raise CommandError("the line is not valid UTF-8 text")
    if not line.strip():
        return None
    if line.startswith("//"):
        return SendRoom(line[1:])
    if not line.startswith("/"):
        return SendRoom(line)
    name, _, rest = line[1:].partition(" ")
    name = name.lower()
    if name not in USAGE:
        raise CommandError(f"unknown command /{name[:32]}", ErrorCode.UNKNOWN_COMMAND)
    args = rest.split()
    if name == "msg":
        user, _, text = rest.lstrip().partition(" ")
        if not user or not text.strip():
            raise _usage(name)
        return SendPrivate(validate_username(user), text)
    if name in ("register", "login"):
        if name == "login" and len(args) == 3 and args[2] == "--replace-key":
            return Login(validate_username(args[0]), args[1], replace_key=True)
        if len(args) != 2:
            raise _usage(name)
        if name == "register":
            return Register(validate_username(args[0]), args[1])
        return Login(validate_username(args[0]), args[1])
    if name in ("create", "join", "delete"):
        if len(args) != 1:
            raise _usage(name)
        room = validate_room_name(args[0])
        if name == "create":
            return CreateRoom(room)
        return JoinRoom(room) if name == "join" else DeleteRoom(room)
    if name in ("trust", "verify"):
        if len(args) != 1:
            raise _usage(name)
        user = validate_username(args[0])
        return Trust(user) if name == "trust" else Verify(user)
    if name == "fingerprint":
        if len(args) > 1:
            raise _usage(name)
        return ShowFingerprint(validate_username(args[0]) if args else None)
    if args:
        raise _usage(name)
    simple: dict[str, BatchCommand] = {
        "peers": ListPeers(),
        "rooms": ListRooms(),
        "leave": LeaveRoom(),
        "users": ListUsers(),
        "quit": Quit(),
    }
    return simple[name]
