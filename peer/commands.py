"""The slash commands of both front ends, sans-I/O: one table, one parser.

Grammar: a line starting with ``/`` is a command (``/name args``); ``//text`` sends
``/text`` as a message; any other non-blank line is a message (to the room in batch
mode, to the buffer shown in the terminal chat); blank lines are ignored. Arguments are
split on whitespace, except that the text of ``/msg USER TEXT`` and of plain lines is
kept exactly as typed, and that the ``FINGERPRINT`` of ``/trust`` and ``/verify`` may be
typed in groups separated by spaces (as ``/fingerprint`` prints it). A ``/msg`` whose text
is only whitespace is a usage error, as a blank line is ignored.

Input is untrusted text like anything from the network: a line holding a lone surrogate
(stdin bytes that are not UTF-8 arrive that way) is refused before it is parsed.

:data:`COMMANDS` says, for each command, its usage, a one-line summary, what its first
argument names (for tab completion), how to parse it and which front ends offer it. The
batch mode and the terminal chat both parse with :func:`parse_line`; what a command does
is :func:`peer.command_results.execute` (or, for the commands that only exist with
buffers, the terminal chat's controller).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from commons.errors import ErrorCode, ValidationError
from commons.models import NAME_RE, validate_room_name, validate_username
from commons.untrusted_text import has_lone_surrogate
from crypto.fingerprint import parse_fingerprint


class Frontend(StrEnum):
    BATCH = "batch"
    TUI = "tui"


class ArgumentKind(StrEnum):
    """What the first argument of a command names, for completion."""

    NONE = "none"
    USER = "user"
    ROOM = "room"
    BUFFER = "buffer"
    SETTING = "setting"
    COMMAND = "command"
    TEXT = "text"


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
    """A plain line: to the room (batch) or to the buffer shown (terminal chat)."""

    text: str


@dataclass(frozen=True, slots=True)
class ShowFingerprint:
    username: str | None


@dataclass(frozen=True, slots=True)
class Trust:
    """Accept the new key with ``fingerprint`` (``None``: the only new key seen)."""

    username: str
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Verify:
    """Mark the key with ``fingerprint`` verified (``None``: the pinned key, if no new
    key is pending)."""

    username: str
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """Keep the pinned key and refuse every new one."""

    username: str


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    """The list of commands, or one command in detail (``topic``: ``join`` or ``/join``)."""

    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Search:
    """Open the search over the buffer shown (or every buffer) with ``query``."""

    query: str
    all_buffers: bool = False


@dataclass(frozen=True, slots=True)
class SetSetting:
    """``/set`` (list), ``/set NAME`` (show one), ``/set NAME VALUE`` (this session)."""

    name: str | None
    value: str | None


@dataclass(frozen=True, slots=True)
class ClearHistory:
    pass


@dataclass(frozen=True, slots=True)
class Switch:
    reference: str


@dataclass(frozen=True, slots=True)
class Query:
    username: str


@dataclass(frozen=True, slots=True)
class CloseBuffer:
    pass


@dataclass(frozen=True, slots=True)
class Receipts:
    pass


@dataclass(frozen=True, slots=True)
class Expand:
    """Draw the newest clipped message of the buffer shown in full."""


Command = (
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
    | Reject
    | Quit
    | Help
    | Switch
    | Query
    | CloseBuffer
    | Receipts
    | Search
    | SetSetting
    | ClearHistory
    | Expand
)


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


def _msg(usage: str, rest: str) -> Command:
    user, _, text = rest.lstrip().partition(" ")
    if not user or not text.strip():
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


def _room(make: Callable[[str], Command]) -> Parser:
    """``ROOM``: one name; anything else says what a room name is, not just the usage."""

    def parse(usage: str, rest: str) -> Command:
        args = rest.split()
        if not args:
            raise CommandError(f"usage: {usage}")
        if len(args) > 1 or not NAME_RE.fullmatch(args[0]):
            raise CommandError(
                f"{rest.strip()[:40]!r} is not a room name: one word of 1-32 letters,"
                f" digits, '_', '.' or '-' (usage: {usage})"
            )
        return make(validate_room_name(args[0]))

    return parse


def _help(usage: str, rest: str) -> Command:
    args = rest.split()
    if len(args) > 1:
        raise CommandError(f"usage: {usage}")
    return Help(args[0][:33] if args else None)


def _search(usage: str, rest: str) -> Command:
    first, _, more = rest.strip().partition(" ")
    if first.lower() in ("-all", "--all"):
        return Search(more.strip(), all_buffers=True)
    return Search(rest.strip())


def _set(usage: str, rest: str) -> Command:
    name, _, value = rest.strip().partition(" ")
    return SetSetting(name or None, value.strip() or None)


def _switch(usage: str, rest: str) -> Command:
    if not rest.strip():
        raise CommandError(f"usage: {usage}")
    return Switch(rest.strip())


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command: usage, one line of summary (``/help``), what it does in a few sentences
    (``/help COMMAND``), its parser, what its first argument names (Tab completion) and
    which front ends offer it."""

    name: str
    usage: str
    summary: str
    parse: Parser
    argument: ArgumentKind = ArgumentKind.NONE
    frontends: frozenset[Frontend] = frozenset(Frontend)
    details: str = ""


BATCH_ONLY = frozenset({Frontend.BATCH})
TUI_ONLY = frozenset({Frontend.TUI})
_U, _R = ArgumentKind.USER, ArgumentKind.ROOM

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "/help",
        "/help [COMMAND]",
        "this list, or one command in detail",
        _help,
        ArgumentKind.COMMAND,
        TUI_ONLY,
        "/help alone lists the commands and keys; /help join (or /help /join) explains one.",
    ),
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
    CommandSpec(
        "/peers",
        "/peers",
        "list online users",
        _bare(ListPeers),
        details="Everyone the tracker says is online, their room and your trust in their"
        " key. Their names then complete with Tab.",
    ),
    CommandSpec(
        "/rooms",
        "/rooms",
        "list rooms",
        _bare(ListRooms),
        details="Every room with its members, capacity and owner. Room names then complete"
        " with Tab after /join.",
    ),
    CommandSpec(
        "/create",
        "/create ROOM",
        "create a room that you own",
        _room(CreateRoom),
        ArgumentKind.TEXT,
        details="Creates ROOM and puts you in it as its owner. A room name is one word of"
        " 1-32 letters, digits, '_', '.' or '-' (no spaces).",
    ),
    CommandSpec(
        "/join",
        "/join ROOM",
        "join a room",
        _room(JoinRoom),
        _R,
        details="Leaves your current room (you are in one at a time) and enters ROOM; an"
        " end-to-end encrypted channel opens to each member.",
    ),
    CommandSpec(
        "/leave", "/leave", "leave the current room", _bare(LeaveRoom), details="Members are told."
    ),
    CommandSpec(
        "/delete",
        "/delete ROOM",
        "delete a room you own",
        _room(DeleteRoom),
        _R,
        details="Only the owner can delete a room; its members are told who deleted it.",
    ),
    CommandSpec(
        "/users",
        "/users",
        "members of the current room",
        _bare(ListUsers),
        details="With the trust state of each member's key.",
    ),
    CommandSpec(
        "/msg",
        "/msg USER TEXT",
        "private message (opens a buffer)",
        _msg,
        _U,
        details="Sends TEXT to USER alone over a direct encrypted channel, in a room or"
        " not, and opens the buffer @USER.",
    ),
    CommandSpec(
        "/query",
        "/query USER",
        "open a private buffer with USER",
        _one(Query, validate_username),
        _U,
        TUI_ONLY,
        "Opens @USER without sending anything; what you type there goes to USER.",
    ),
    CommandSpec(
        "/fingerprint",
        "/fingerprint [USER]",
        "your or USER's key fingerprint",
        _fingerprint,
        _U,
        details="Your identity key's fingerprint, or USER's with the safety number you share.",
    ),
    CommandSpec(
        "/verify",
        "/verify USER [FINGERPRINT]",
        "compare safety numbers, mark that key verified",
        _key_choice(Verify),
        _U,
        details="Shows both fingerprints and the safety number: read it to USER over a"
        " channel you trust (in person, a call) and confirm only if it is the same on"
        " their side. With FINGERPRINT, marks exactly that key verified.",
    ),
    CommandSpec(
        "/trust",
        "/trust USER [FINGERPRINT]",
        "accept USER's new key (the fingerprint if several)",
        _key_choice(Trust),
        _U,
        details="After USER's key changed, nothing is sent to them until you accept the new"
        " key (better: /verify USER first). If several new keys were seen, name the one"
        " you accept by its FINGERPRINT.",
    ),
    CommandSpec(
        "/reject",
        "/reject USER",
        "keep USER's pinned key, refuse the new one",
        _one(Reject, validate_username),
        _U,
        details="Keeps the key you had pinned for USER: whoever presents the new one is refused.",
    ),
    CommandSpec(
        "/receipts",
        "/receipts",
        "who got your last messages here, and who did not",
        _bare(Receipts),
        frontends=TUI_ONLY,
    ),
    CommandSpec(
        "/search",
        "/search [-all] TEXT",
        "search your history (Ctrl+F here, Ctrl+R all)",
        _search,
        ArgumentKind.TEXT,
        TUI_ONLY,
        "Finds messages whose words start with each word of TEXT, newest first, in the"
        " buffer shown (-all: in every buffer), from this session and the encrypted"
        " history of earlier ones. Enter jumps to the message.",
    ),
    CommandSpec(
        "/clear-history",
        "/clear-history",
        "delete your whole message history",
        _bare(ClearHistory),
        frontends=TUI_ONLY,
        details="Deletes every message kept on disk (for all buffers) and starts a new"
        " history file with new keys. This session's messages stay on screen.",
    ),
    CommandSpec(
        "/set",
        "/set [NAME [VALUE]]",
        "show or change a setting for this session",
        _set,
        ArgumentKind.SETTING,
        TUI_ONLY,
        "/set lists every setting, its value and where it comes from (default, config"
        " file, flag, session); /set NAME VALUE changes it until you quit (the config"
        " file is not written). Example: /set timestamp_format %H:%M:%S",
    ),
    CommandSpec(
        "/switch",
        "/switch N|#ROOM|@USER",
        "show another buffer",
        _switch,
        ArgumentKind.BUFFER,
        TUI_ONLY,
        "By number (as in the buffer bar), #room or @user.",
    ),
    CommandSpec(
        "/close",
        "/close",
        "close the buffer shown (not a joined room)",
        _bare(CloseBuffer),
        frontends=TUI_ONLY,
        details="Hides the buffer; its messages stay in your history.",
    ),
    CommandSpec(
        "/expand",
        "/expand",
        "show the newest clipped long message in full",
        _bare(Expand),
        frontends=TUI_ONLY,
        details="A message longer than 24 lines or 2,000 characters is drawn clipped, with"
        " how many lines are hidden; this draws the newest such message of the buffer"
        " shown in full.",
    ),
    CommandSpec(
        "/quit",
        "/quit",
        "leave the room, log out and exit",
        _bare(Quit),
        details="Same as Ctrl+C.",
    ),
)


def commands_for(frontend: Frontend) -> tuple[CommandSpec, ...]:
    return tuple(spec for spec in COMMANDS if frontend in spec.frontends)


def spec_for(name: str, frontend: Frontend | None = None) -> CommandSpec | None:
    """The spec of ``/name`` (case-insensitive; the ``/`` may be left out), if that front
    end offers it."""
    lowered = name.lower()
    if not lowered.startswith("/"):
        lowered = "/" + lowered
    for spec in COMMANDS:
        if spec.name == lowered and (frontend is None or frontend in spec.frontends):
            return spec
    return None


def parse_line(line: str, frontend: Frontend = Frontend.BATCH) -> Command | None:
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
    word, _, rest = line.partition(" ")
    spec = spec_for(word, frontend)
    if spec is None:
        raise CommandError(f"unknown command {word[:33].lower()}", ErrorCode.UNKNOWN_COMMAND)
    return spec.parse(spec.usage, rest)


def command_word(line: str) -> str:
    """The command word of ``line`` for error replies (``say`` for a message)."""
    if line.startswith("/") and not line.startswith("//"):
        word = line[1:].split(" ", 1)[0].strip().lower()[:32]
        return word.encode("utf-8", "replace").decode("utf-8") if has_lone_surrogate(word) else word
    return "say"
