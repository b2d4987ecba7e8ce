"""The slash commands of both front ends, sans-I/O: one table, one parser.

Grammar: a line starting with ``/`` is a command (``/name args``); ``//text`` sends
``/text`` as a message; any other non-blank line is a message (to the room in batch
mode, to the buffer shown in the terminal chat); blank lines are ignored. Arguments are
split on whitespace, except that the text of ``/msg USER TEXT`` and of plain lines is
kept exactly as typed, and that the ``FINGERPRINT`` of ``/trust`` and ``/verify`` may be
typed in groups separated by spaces (as ``/fingerprint`` prints it).

:data:`COMMANDS` says, for each command, its usage, a one-line summary, what its first
argument names (for tab completion), how to parse it and which front ends offer it; the
typed values it parses into live in :mod:`peer.command_values` (re-exported here). The
batch mode and the terminal chat both parse with :func:`parse_line`; what a command does
is :func:`peer.command_results.execute` (or, for the commands that only exist with
buffers, the terminal chat's controller).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from commons.errors import ErrorCode, ValidationError
from commons.models import validate_name, validate_room_name, validate_username
from crypto.fingerprint import parse_fingerprint
from peer.command_values import (
    CloseBuffer,
    Command,
    ControlUser,
    CreateRoom,
    DeleteRoom,
    Help,
    JoinRoom,
    LeaveRoom,
    ListPeers,
    ListRooms,
    ListUsers,
    Login,
    OwnerAction,
    Query,
    Quit,
    Receipts,
    Register,
    Reject,
    SendPrivate,
    SendRoom,
    SetInviteOnly,
    ShowAccess,
    ShowFingerprint,
    Switch,
    Trust,
    Verify,
)

__all__ = [
    "BATCH_ONLY",
    "COMMANDS",
    "TUI_ONLY",
    "ArgumentKind",
    "CloseBuffer",
    "Command",
    "CommandError",
    "CommandSpec",
    "ControlUser",
    "CreateRoom",
    "DeleteRoom",
    "Frontend",
    "Help",
    "JoinRoom",
    "LeaveRoom",
    "ListPeers",
    "ListRooms",
    "ListUsers",
    "Login",
    "OwnerAction",
    "Query",
    "Quit",
    "Receipts",
    "Register",
    "Reject",
    "SendPrivate",
    "SendRoom",
    "SetInviteOnly",
    "ShowAccess",
    "ShowFingerprint",
    "Switch",
    "Trust",
    "Verify",
    "command_word",
    "commands_for",
    "parse_line",
    "spec_for",
]


class Frontend(StrEnum):
    BATCH = "batch"
    TUI = "tui"


class ArgumentKind(StrEnum):
    """What the first argument of a command names, for completion."""

    NONE = "none"
    USER = "user"
    ROOM = "room"
    BUFFER = "buffer"
    TEXT = "text"


class CommandError(ValidationError):
    """The line is not a valid command; the message shows the usage."""

    code = ErrorCode.BAD_REQUEST


Parser = Callable[[str, str], Command]  # (usage, rest of the line) -> command


def _bare(make: Callable[[], Command]) -> Parser:
    def parse(usage: str, rest: str) -> Command:
        if rest.split():
            raise CommandError(f"usage: {usage}")
        return make()

    return parse


def _one(make: Callable[[str], Command], check: Callable[[str], str] = str) -> Parser:
    def parse(usage: str, rest: str) -> Command:
        args = rest.split()
        if len(args) != 1:
            raise CommandError(f"usage: {usage}")
        return make(check(args[0]))

    return parse


def _credentials(login: bool) -> Parser:
    def parse(usage: str, rest: str) -> Command:
        args = rest.split()
        if login and len(args) == 3 and args[2] == "--replace-key":
            return Login(validate_username(args[0]), args[1], replace_key=True)
        if len(args) != 2:
            raise CommandError(f"usage: {usage}")
        user = validate_username(args[0])
        return Login(user, args[1]) if login else Register(user, args[1])

    return parse


def _page(make: Callable[[str | None], Command]) -> Parser:
    """``[FROM]``: where a listing starts (the ``next`` cursor a page ended with)."""

    def parse(usage: str, rest: str) -> Command:
        args = rest.split()
        if len(args) > 1:
            raise CommandError(f"usage: {usage}")
        return make(validate_name("cursor", args[0]) if args else None)

    return parse


def _create(usage: str, rest: str) -> Command:
    args = rest.split()
    if len(args) == 2 and args[1] == "--invite-only":
        return CreateRoom(validate_room_name(args[0]), invite_only=True)
    if len(args) != 1:
        raise CommandError(f"usage: {usage}")
    return CreateRoom(validate_room_name(args[0]))


def _control(action: OwnerAction) -> Parser:
    """``USER [ROOM]``."""

    def parse(usage: str, rest: str) -> Command:
        args = rest.split()
        if not 1 <= len(args) <= 2:
            raise CommandError(f"usage: {usage}")
        room = validate_room_name(args[1]) if len(args) == 2 else None
        return ControlUser(action, validate_username(args[0]), room)

    return parse


def _invite_only(usage: str, rest: str) -> Command:
    args = rest.split()
    if not 1 <= len(args) <= 2 or args[0].lower() not in ("on", "off"):
        raise CommandError(f"usage: {usage}")
    room = validate_room_name(args[1]) if len(args) == 2 else None
    return SetInviteOnly(args[0].lower() == "on", room)


def _optional_room(make: Callable[[str | None], Command]) -> Parser:
    def parse(usage: str, rest: str) -> Command:
        args = rest.split()
        if len(args) > 1:
            raise CommandError(f"usage: {usage}")
        return make(validate_room_name(args[0]) if args else None)

    return parse


def _msg(usage: str, rest: str) -> Command:
    user, _, text = rest.lstrip().partition(" ")
    if not user or not text:
        raise CommandError(f"usage: {usage}")
    return SendPrivate(validate_username(user), text)


def _fingerprint(usage: str, rest: str) -> Command:
    args = rest.split()
    if len(args) > 1:
        raise CommandError(f"usage: {usage}")
    return ShowFingerprint(validate_username(args[0]) if args else None)


def _key_choice(make: Callable[[str, str | None], Command]) -> Parser:
    """``USER [FINGERPRINT]``, the fingerprint possibly typed in spaced groups."""

    def parse(usage: str, rest: str) -> Command:
        args = rest.split()
        if not args:
            raise CommandError(f"usage: {usage}")
        typed = parse_fingerprint(" ".join(args[1:])) if len(args) > 1 else None
        return make(validate_username(args[0]), typed)

    return parse


def _switch(usage: str, rest: str) -> Command:
    if not rest.strip():
        raise CommandError(f"usage: {usage}")
    return Switch(rest.strip())


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    parse: Parser
    argument: ArgumentKind = ArgumentKind.NONE
    frontends: frozenset[Frontend] = frozenset(Frontend)


BATCH_ONLY = frozenset({Frontend.BATCH})
TUI_ONLY = frozenset({Frontend.TUI})
_U, _R = ArgumentKind.USER, ArgumentKind.ROOM

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("/help", "/help", "show this list", _bare(Help), frontends=TUI_ONLY),
    CommandSpec(
        "/register",
        "/register NAME PASSWORD",
        "create an account (and the identity key)",
        _credentials(login=False),
        frontends=BATCH_ONLY,
    ),
    CommandSpec(
        "/login",
        "/login NAME PASSWORD [--replace-key]",
        "log in; announces the P2P listener to the tracker",
        _credentials(login=True),
        frontends=BATCH_ONLY,
    ),
    CommandSpec("/peers", "/peers [FROM]", "list online users, a page at a time", _page(ListPeers)),
    CommandSpec("/rooms", "/rooms [FROM]", "list rooms, a page at a time", _page(ListRooms)),
    CommandSpec(
        "/create",
        "/create ROOM [--invite-only]",
        "create a room that you own",
        _create,
        ArgumentKind.TEXT,
    ),
    CommandSpec("/join", "/join ROOM", "join a room", _one(JoinRoom, validate_room_name), _R),
    CommandSpec("/leave", "/leave", "leave the current room", _bare(LeaveRoom)),
    CommandSpec(
        "/delete", "/delete ROOM", "delete a room you own", _one(DeleteRoom, validate_room_name), _R
    ),
    CommandSpec("/users", "/users", "members of the current room", _bare(ListUsers)),
    CommandSpec(
        "/kick",
        "/kick USER [ROOM]",
        "remove USER from your room (they may join again)",
        _control(OwnerAction.KICK),
        _U,
    ),
    CommandSpec(
        "/ban",
        "/ban USER [ROOM]",
        "remove USER from your room for good",
        _control(OwnerAction.BAN),
        _U,
    ),
    CommandSpec("/unban", "/unban USER [ROOM]", "lift USER's ban", _control(OwnerAction.UNBAN), _U),
    CommandSpec(
        "/invite",
        "/invite USER [ROOM]",
        "let USER join your invite-only room",
        _control(OwnerAction.INVITE),
        _U,
    ),
    CommandSpec(
        "/uninvite",
        "/uninvite USER [ROOM]",
        "withdraw USER's invite",
        _control(OwnerAction.UNINVITE),
        _U,
    ),
    CommandSpec(
        "/invite-only",
        "/invite-only on|off [ROOM]",
        "only invited users may join your room (on), or anyone (off)",
        _invite_only,
    ),
    CommandSpec(
        "/access",
        "/access [ROOM]",
        "your room's invite and ban lists",
        _optional_room(ShowAccess),
        _R,
    ),
    CommandSpec("/msg", "/msg USER TEXT", "private message (opens a buffer)", _msg, _U),
    CommandSpec(
        "/query",
        "/query USER",
        "open a private buffer with USER",
        _one(Query, validate_username),
        _U,
        TUI_ONLY,
    ),
    CommandSpec(
        "/fingerprint", "/fingerprint [USER]", "your or USER's key fingerprint", _fingerprint, _U
    ),
    CommandSpec(
        "/verify",
        "/verify USER [FINGERPRINT]",
        "compare safety numbers, mark that key verified",
        _key_choice(Verify),
        _U,
    ),
    CommandSpec(
        "/trust",
        "/trust USER [FINGERPRINT]",
        "accept USER's new key (the fingerprint if several)",
        _key_choice(Trust),
        _U,
    ),
    CommandSpec(
        "/reject",
        "/reject USER",
        "keep USER's pinned key, refuse the new one",
        _one(Reject, validate_username),
        _U,
    ),
    CommandSpec(
        "/receipts",
        "/receipts",
        "who got your last messages here, and who did not",
        _bare(Receipts),
        frontends=TUI_ONLY,
    ),
    CommandSpec(
        "/switch",
        "/switch N|#ROOM|@USER",
        "show another buffer",
        _switch,
        ArgumentKind.BUFFER,
        TUI_ONLY,
    ),
    CommandSpec(
        "/close",
        "/close",
        "close the buffer shown (not a joined room)",
        _bare(CloseBuffer),
        frontends=TUI_ONLY,
    ),
    CommandSpec("/quit", "/quit", "leave the room, log out and exit", _bare(Quit)),
)


def commands_for(frontend: Frontend) -> tuple[CommandSpec, ...]:
    return tuple(spec for spec in COMMANDS if frontend in spec.frontends)


def spec_for(name: str, frontend: Frontend | None = None) -> CommandSpec | None:
    """The spec of ``/name`` (case-insensitive), if that front end offers it."""
    lowered = name.lower()
    for spec in COMMANDS:
        if spec.name == lowered and (frontend is None or frontend in spec.frontends):
            return spec
    return None


def parse_line(line: str, frontend: Frontend = Frontend.BATCH) -> Command | None:
    """Parse one input line (without its newline); ``None`` for a blank line."""
    line = line.rstrip("\r\n")
    if not line.strip():
        return None
    if line.startswith("//"):
        return SendRoom(line[1:])
    if not line.startswith("/"):
        return SendRoom(line)
    word, _, rest = line.partition(" ")
    spec = spec_for(word, frontend)
    if spec is None:
        raise CommandError(f"unknown command {word[:33].lower()}", ErrorCode.UNKNOWN_COMMAND)
    return spec.parse(spec.usage, rest)


def command_word(line: str) -> str:
    """The command word of ``line`` for error replies (``say`` for a message)."""
    if line.startswith("/") and not line.startswith("//"):
        return line[1:].split(" ", 1)[0].strip().lower()[:32]
    return "say"
