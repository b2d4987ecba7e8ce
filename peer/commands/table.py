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
argument names (for tab completion), how to parse it and which front ends offer it; the
typed values it parses into live in :mod:`peer.commands.values` (re-exported here), the
argument parsers in :mod:`peer.commands.parsers`. The batch mode and the terminal chat
both parse with :func:`parse_line`; what a command does
is :func:`peer.commands.runner.execute` (or, for the commands that only exist with
buffers, the terminal chat's controller).
"""

from __future__ import annotations

from dataclasses import dataclass

from commons.errors import ErrorCode
from commons.models import validate_username
from commons.untrusted_text import has_lone_surrogate
from peer.commands import parsers
from peer.commands.parsers import CommandError, Parser
from peer.commands.values import (
    Aimed,
    AimVerb,
    ArgumentKind,
    ClearHistory,
    CloseBuffer,
    ControlUser,
    CreateRoom,
    DeleteRoom,
    EditMessage,
    Expand,
    Forget,
    Frontend,
    Help,
    JoinRoom,
    LeaveRoom,
    ListPeers,
    ListRooms,
    ListUsers,
    Login,
    MarkRead,
    MyRooms,
    OwnerAction,
    Query,
    Quit,
    React,
    Receipts,
    Register,
    Reject,
    Reply,
    Search,
    SendAction,
    SendPrivate,
    SendRoom,
    SetInviteOnly,
    SetSetting,
    SetTyping,
    ShowAccess,
    ShowFingerprint,
    Switch,
    SwitchRoom,
    Trust,
    Unsend,
    UserCommand,
    Verify,
)

__all__ = [
    "BATCH_ONLY",
    "COMMANDS",
    "TUI_ONLY",
    "AimVerb",
    "Aimed",
    "ArgumentKind",
    "ClearHistory",
    "CloseBuffer",
    "CommandError",
    "CommandSpec",
    "ControlUser",
    "CreateRoom",
    "DeleteRoom",
    "EditMessage",
    "Expand",
    "Forget",
    "Frontend",
    "Help",
    "JoinRoom",
    "LeaveRoom",
    "ListPeers",
    "ListRooms",
    "ListUsers",
    "Login",
    "MarkRead",
    "MyRooms",
    "OwnerAction",
    "Parser",
    "Query",
    "Quit",
    "React",
    "Receipts",
    "Register",
    "Reject",
    "Reply",
    "Search",
    "SendAction",
    "SendPrivate",
    "SendRoom",
    "SetInviteOnly",
    "SetSetting",
    "SetTyping",
    "ShowAccess",
    "ShowFingerprint",
    "Switch",
    "SwitchRoom",
    "Trust",
    "Unsend",
    "UserCommand",
    "Verify",
    "command_word",
    "commands_for",
    "parse_line",
    "spec_for",
]


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
        parsers.help_topic,
        ArgumentKind.COMMAND,
        TUI_ONLY,
        "/help alone lists the commands and keys; /help join (or /help /join) explains one.",
    ),
    CommandSpec(
        "/register",
        "/register NAME PASSWORD",
        "create an account (and the identity key)",
        parsers.credentials(login=False),
        frontends=BATCH_ONLY,
    ),
    CommandSpec(
        "/login",
        "/login NAME PASSWORD [--replace-key]",
        "log in; announces the P2P listener to the tracker",
        parsers.credentials(login=True),
        frontends=BATCH_ONLY,
    ),
    CommandSpec(
        "/peers",
        "/peers [FROM]",
        "list online users, a page at a time",
        parsers.page(ListPeers),
        details="Who the tracker says is online, in name order, their room and your trust in"
        " their key; a long list comes in pages (/peers FROM shows the page that starts"
        " after FROM, as the last line says). Their names then complete with Tab.",
    ),
    CommandSpec(
        "/rooms",
        "/rooms",
        "your rooms, their members and who is online",
        parsers.bare(MyRooms),
        details="The rooms you are a member of, in the order you joined them (the tracker"
        " keeps your seat while you are offline, and gives them back at every login), each"
        " with its owner, capacity and members, online or not. /list shows every room.",
    ),
    CommandSpec(
        "/create",
        "/create ROOM [--invite-only] [--relay-only]",
        "create a room that you own",
        parsers.create,
        ArgumentKind.TEXT,
        details="Creates ROOM and puts you in it as its owner (at most 5 rooms each). A room"
        " name is one word of 1-32 letters and digits of any script (café, 東京), '_',"
        " '.' or '-', with an optional '#' before it (/create #café); a name that looks"
        " like an existing room's (Lobby, l0bby beside lobby) is refused."
        " --invite-only: only users you /invite may join. --relay-only: as for /join.",
    ),
    CommandSpec(
        "/join",
        "/join ROOM [--relay-only]",
        "join a room",
        parsers.join,
        _R,
        details="Enters ROOM (your other rooms stay: at most 20 rooms each, set by the"
        " tracker) and makes it the current one; an end-to-end encrypted channel opens to"
        " each member online (one channel per person, shared by every room you share)."
        " --relay-only: the tracker gives the members no address for you and every"
        " channel to them goes through its relay (members see ⇄ relay); /join a room you"
        " are in changes it. #ROOM works too (/join #café).",
    ),
    CommandSpec(
        "/leave",
        "/leave [ROOM]",
        "leave a room (default: the current one)",
        parsers.leave,
        _R,
        details="Members are told; you stop being a member (/quit does not: your seat"
        " waits for your next login).",
    ),
    CommandSpec(
        "/list",
        "/list [FROM]",
        "list every room on the tracker, a page at a time",
        parsers.page(ListRooms),
        details="Rooms in name order with their members, capacity, owner and whether they"
        " are invite-only; a long list comes in pages (/list FROM). Room names then"
        " complete with Tab after /join.",
    ),
    CommandSpec(
        "/say",
        "/say ROOM TEXT",
        "send TEXT to ROOM, whatever the current room",
        parsers.say,
        _R,
        details="ROOM must be one of your rooms (#ROOM works too).",
    ),
    CommandSpec(
        "/delete",
        "/delete ROOM",
        "delete a room you own",
        parsers.room(DeleteRoom),
        _R,
        details="Only the owner can delete a room; its members are told who deleted it.",
    ),
    CommandSpec(
        "/users",
        "/users",
        "members of the current room",
        parsers.bare(ListUsers),
        details="With the trust state of each member's key.",
    ),
    CommandSpec(
        "/kick",
        "/kick USER [ROOM]",
        "remove USER from your room (they may join again)",
        parsers.control(OwnerAction.KICK),
        _U,
        details="Only the owner may. ROOM: one of your rooms (default: the one you are in).",
    ),
    CommandSpec(
        "/ban",
        "/ban USER [ROOM]",
        "remove USER from your room for good",
        parsers.control(OwnerAction.BAN),
        _U,
        details="USER is removed if in the room and may not join again until /unban; names"
        " need not be online (at most 500 bans per room).",
    ),
    CommandSpec(
        "/unban",
        "/unban USER [ROOM]",
        "lift USER's ban",
        parsers.control(OwnerAction.UNBAN),
        _U,
        details="USER may join again (an invite-only room still needs an invite).",
    ),
    CommandSpec(
        "/invite",
        "/invite USER [ROOM]",
        "let USER join your invite-only room",
        parsers.control(OwnerAction.INVITE),
        _U,
        details="USER is told if online. An invite lasts until /uninvite (at most 500).",
    ),
    CommandSpec(
        "/uninvite",
        "/uninvite USER [ROOM]",
        "withdraw USER's invite",
        parsers.control(OwnerAction.UNINVITE),
        _U,
        details="A member stays a member; /kick removes them.",
    ),
    CommandSpec(
        "/invite-only",
        "/invite-only on|off [ROOM]",
        "only invited users may join your room (on), or anyone (off)",
        parsers.invite_only,
        details="Switching it on invites whoever is in the room at that moment.",
    ),
    CommandSpec(
        "/access",
        "/access [ROOM]",
        "your room's invite and ban lists",
        parsers.optional_room(ShowAccess),
        _R,
        details="Whether the room is invite-only, who is invited, who is banned.",
    ),
    CommandSpec(
        "/msg",
        "/msg USER TEXT",
        "private message (opens a buffer)",
        parsers.msg,
        _U,
        details="Sends TEXT to USER alone over a direct encrypted channel, in a room or"
        " not, and opens the buffer @USER.",
    ),
    CommandSpec(
        "/reply",
        "/reply MSGID TEXT",
        "answer a recent message, quoting it",
        parsers.reply,
        frontends=BATCH_ONLY,
        details="Sends TEXT in the conversation of the message MSGID (a room or a private"
        " one), with a reference to it that receivers show as a quote.",
    ),
    CommandSpec(
        "/me",
        "/me TEXT",
        "an action to the room (* you TEXT)",
        parsers.send_action,
        frontends=BATCH_ONLY,
    ),
    CommandSpec(
        "/reply",
        "/reply TEXT",
        "answer the selected message (else the last), quoting it",
        parsers.aimed(AimVerb.REPLY),
        frontends=TUI_ONLY,
        details="Alt+Up / Alt+Down select a message of the buffer shown (Esc leaves the"
        " selection); without one, /reply answers the buffer's last message.",
    ),
    CommandSpec(
        "/me",
        "/me TEXT",
        "an action in the buffer shown (* you TEXT)",
        parsers.send_action,
        frontends=TUI_ONLY,
    ),
    CommandSpec(
        "/react",
        "/react EMOJI",
        "react to the selected message (else the last) with EMOJI",
        parsers.aimed(AimVerb.REACT),
        frontends=TUI_ONLY,
        details="EMOJI is one emoji (one grapheme cluster, at most 32 bytes); at most 8"
        " of yours per message. Alt+Up / Alt+Down select the message.",
    ),
    CommandSpec(
        "/unreact",
        "/unreact EMOJI",
        "take back your EMOJI from the selected message (else the last)",
        parsers.aimed(AimVerb.UNREACT),
        frontends=TUI_ONLY,
    ),
    CommandSpec(
        "/edit",
        "/edit TEXT",
        "replace the text of your selected message (else your last)",
        parsers.aimed(AimVerb.EDIT),
        frontends=TUI_ONLY,
        details="At most 20 edits per message; others see the latest text, marked"
        " (edited). Alt+Up / Alt+Down select the message.",
    ),
    CommandSpec(
        "/unsend",
        "/unsend",
        "delete your selected message (else your last) for everyone",
        parsers.aimed(AimVerb.UNSEND),
        frontends=TUI_ONLY,
        details='Others\' clients show it as "message deleted" and drop its text from'
        " their history; a client that does not honour it keeps the text (nothing can"
        " force it).",
    ),
    CommandSpec(
        "/react",
        "/react MSGID EMOJI",
        "put an emoji reaction on a recent message",
        parsers.react(True),
        frontends=BATCH_ONLY,
        details="EMOJI is one emoji (one grapheme cluster, at most 32 bytes); at most 8"
        " of yours per message.",
    ),
    CommandSpec(
        "/unreact",
        "/unreact MSGID EMOJI",
        "take back a reaction",
        parsers.react(False),
        frontends=BATCH_ONLY,
    ),
    CommandSpec(
        "/edit",
        "/edit MSGID TEXT",
        "replace the text of one of your recent messages",
        parsers.edit_message,
        frontends=BATCH_ONLY,
        details="At most 20 edits per message; receivers show the latest text, edited.",
    ),
    CommandSpec(
        "/unsend",
        "/unsend MSGID",
        "delete one of your messages for everyone",
        parsers.one(Unsend),
        frontends=BATCH_ONLY,
        details="Receivers show it as deleted and drop its text from their history; a"
        " client that does not honour it keeps the text (nothing can force it).",
    ),
    CommandSpec(
        "/typing",
        "/typing on|off [USER]",
        "say you are typing (or stopped), in the room or to USER",
        parsers.typing,
        frontends=BATCH_ONLY,
        details="Sent at most once per 3 s per conversation, never to a stranger, never"
        " with the setting typing_indicators off.",
    ),
    CommandSpec(
        "/read",
        "/read MSGID",
        "say you have read up to a message",
        parsers.one(MarkRead),
        frontends=BATCH_ONLY,
        details="At most one per 2 s per conversation (the latest wins), never to a"
        " stranger, never with the setting read_receipts off.",
    ),
    CommandSpec(
        "/query",
        "/query USER",
        "open a private buffer with USER",
        parsers.one(Query, validate_username),
        _U,
        TUI_ONLY,
        "Opens @USER without sending anything; what you type there goes to USER.",
    ),
    CommandSpec(
        "/fingerprint",
        "/fingerprint [USER]",
        "your or USER's key fingerprint",
        parsers.fingerprint,
        _U,
        details="Your identity key's fingerprint, or USER's with the safety number you share.",
    ),
    CommandSpec(
        "/verify",
        "/verify USER [FINGERPRINT]",
        "compare safety numbers, mark that key verified",
        parsers.key_choice(Verify),
        _U,
        details="Shows both fingerprints and the safety number: read it to USER over a"
        " channel you trust (in person, a call) and confirm only if it is the same on"
        " their side. With FINGERPRINT, marks exactly that key verified.",
    ),
    CommandSpec(
        "/trust",
        "/trust USER [FINGERPRINT]",
        "accept USER's new key (the fingerprint if several)",
        parsers.key_choice(Trust),
        _U,
        details="After USER's key changed, nothing is sent to them until you accept the new"
        " key (better: /verify USER first). If several new keys were seen, name the one"
        " you accept by its FINGERPRINT.",
    ),
    CommandSpec(
        "/reject",
        "/reject USER",
        "keep USER's pinned key, refuse the new one",
        parsers.one(Reject, validate_username),
        _U,
        details="Keeps the key you had pinned for USER: whoever presents the new one is refused.",
    ),
    CommandSpec(
        "/forget",
        "/forget USER",
        "remove USER from your contacts (their pinned key)",
        parsers.one(Forget, validate_username),
        _U,
        details="Drops the key pinned for USER, its verified mark and every new or refused"
        " key: the next key USER presents is pinned as a first key once you write to them"
        " again (or share a room). Frees a place in a full pin store.",
    ),
    CommandSpec(
        "/receipts",
        "/receipts",
        "who got your last messages here, and who did not",
        parsers.bare(Receipts),
        frontends=TUI_ONLY,
    ),
    CommandSpec(
        "/search",
        "/search [-all] TEXT",
        "search your history (Ctrl+F here, Ctrl+R all)",
        parsers.search,
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
        parsers.bare(ClearHistory),
        frontends=TUI_ONLY,
        details="Deletes every message kept on disk (for all buffers) and starts a new"
        " history file with new keys. This session's messages stay on screen.",
    ),
    CommandSpec(
        "/set",
        "/set [NAME [VALUE]]",
        "show or change a setting for this session",
        parsers.setting,
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
        parsers.switch,
        ArgumentKind.BUFFER,
        TUI_ONLY,
        "By number (as in the buffer bar), #room or @user.",
    ),
    CommandSpec(
        "/switch",
        "/switch ROOM",
        "send plain lines to ROOM from now on",
        parsers.room(SwitchRoom),
        _R,
        BATCH_ONLY,
        "ROOM must be one of your rooms. Plain lines go to the current room: the last one"
        " joined, created or switched to; after a login, the first in join order.",
    ),
    CommandSpec(
        "/close",
        "/close",
        "close the buffer shown (not a joined room)",
        parsers.bare(CloseBuffer),
        frontends=TUI_ONLY,
        details="Hides the buffer; its messages stay in your history.",
    ),
    CommandSpec(
        "/expand",
        "/expand",
        "show the newest clipped long message in full",
        parsers.bare(Expand),
        frontends=TUI_ONLY,
        details="A message longer than 24 lines or 2,000 characters is drawn clipped, with"
        " how many lines are hidden; this draws the newest such message of the buffer"
        " shown in full.",
    ),
    CommandSpec(
        "/quit",
        "/quit",
        "leave the room, log out and exit",
        parsers.bare(Quit),
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


def parse_line(line: str, frontend: Frontend = Frontend.BATCH) -> UserCommand | None:
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
