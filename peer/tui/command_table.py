"""The slash commands of the chat screen: usage, one line of help, argument kind.

The batch mode's commands (minus ``/register`` and ``/login``, which the login screen
handles) plus the commands that only make sense with buffers, the history and settings.
``/help`` prints this table, ``/help COMMAND`` a command's :attr:`CommandSpec.details`,
and tab completion reads :attr:`CommandSpec.argument` to know whether the word after a
command is a user, a room, a buffer or a setting. Parsing the line itself is the job of the
command parser; this table is only what the screen shows about each command.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
class CommandSpec:
    name: str
    usage: str
    summary: str
    argument: ArgumentKind = ArgumentKind.NONE
    details: str = ""


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "/help",
        "/help [COMMAND]",
        "this list, or one command in detail",
        ArgumentKind.COMMAND,
        "/help alone lists the commands and keys; /help join (or /help /join) explains one.",
    ),
    CommandSpec(
        "/peers",
        "/peers",
        "list online users",
        details="Everyone the tracker says is online, their room and your trust in their key."
        " Their names then complete with Tab.",
    ),
    CommandSpec(
        "/rooms",
        "/rooms",
        "list rooms",
        details="Every room with its members, capacity and owner. Room names then complete"
        " with Tab after /join.",
    ),
    CommandSpec(
        "/create",
        "/create ROOM",
        "create a room that you own",
        ArgumentKind.TEXT,
        "Creates ROOM and puts you in it as its owner. A room name is one word of 1-32"
        " letters, digits, '_', '.' or '-' (no spaces).",
    ),
    CommandSpec(
        "/join",
        "/join ROOM",
        "join a room",
        ArgumentKind.ROOM,
        "Leaves your current room (you are in one at a time) and enters ROOM; an"
        " end-to-end encrypted channel opens to each member.",
    ),
    CommandSpec("/leave", "/leave", "leave the current room", details="Members are told."),
    CommandSpec(
        "/delete",
        "/delete ROOM",
        "delete a room you own",
        ArgumentKind.ROOM,
        "Only the owner can delete a room; its members are told who deleted it.",
    ),
    CommandSpec(
        "/users",
        "/users",
        "members of the current room",
        details="With the trust state of each member's key.",
    ),
    CommandSpec(
        "/msg",
        "/msg USER TEXT",
        "private message (opens a buffer)",
        ArgumentKind.USER,
        "Sends TEXT to USER alone over a direct encrypted channel, in a room or not,"
        " and opens the buffer @USER.",
    ),
    CommandSpec(
        "/query",
        "/query USER",
        "open a private buffer with USER",
        ArgumentKind.USER,
        "Opens @USER without sending anything; what you type there goes to USER.",
    ),
    CommandSpec(
        "/fingerprint",
        "/fingerprint [USER]",
        "your or USER's key fingerprint",
        ArgumentKind.USER,
        "Your identity key's fingerprint, or USER's with the safety number you share.",
    ),
    CommandSpec(
        "/verify",
        "/verify USER [FINGERPRINT]",
        "compare safety numbers, mark that key verified",
        ArgumentKind.USER,
        "Shows both fingerprints and the safety number: read it to USER over a channel"
        " you trust (in person, a call) and confirm only if it is the same on their side."
        " With FINGERPRINT, marks exactly that key verified.",
    ),
    CommandSpec(
        "/trust",
        "/trust USER [FINGERPRINT]",
        "accept USER's new key (the fingerprint if several)",
        ArgumentKind.USER,
        "After USER's key changed, nothing is sent to them until you accept the new key"
        " (better: /verify USER first). If several new keys were seen, name the one"
        " you accept by its FINGERPRINT.",
    ),
    CommandSpec(
        "/reject",
        "/reject USER",
        "keep USER's pinned key, refuse the new one",
        ArgumentKind.USER,
        "Keeps the key you had pinned for USER: whoever presents the new one is refused.",
    ),
    CommandSpec(
        "/search",
        "/search [-all] TEXT",
        "search your history (Ctrl+F here, Ctrl+R all)",
        ArgumentKind.TEXT,
        "Finds messages whose words start with each word of TEXT, newest first, in the"
        " buffer shown (-all: in every buffer), from this session and the encrypted"
        " history of earlier ones. Enter jumps to the message.",
    ),
    CommandSpec(
        "/clear-history",
        "/clear-history",
        "delete your whole message history",
        details="Deletes every message kept on disk (for all buffers) and starts a new"
        " history file with new keys. This session's messages stay on screen.",
    ),
    CommandSpec(
        "/set",
        "/set [NAME [VALUE]]",
        "show or change a setting for this session",
        ArgumentKind.SETTING,
        "/set lists every setting, its value and where it comes from (default, config"
        " file, flag, session); /set NAME VALUE changes it until you quit (the config file"
        " is not written). Example: /set timestamp_format %H:%M:%S",
    ),
    CommandSpec(
        "/switch",
        "/switch N|#ROOM|@USER",
        "show another buffer",
        ArgumentKind.BUFFER,
        "By number (as in the buffer bar), #room or @user.",
    ),
    CommandSpec(
        "/close",
        "/close",
        "close the buffer shown (not a joined room)",
        details="Hides the buffer; its messages stay in your history.",
    ),
    CommandSpec("/quit", "/quit", "leave the room, log out and exit", details="Same as Ctrl+C."),
)

COMMAND_NAMES: tuple[str, ...] = tuple(spec.name for spec in COMMANDS)

KEY_HELP: tuple[tuple[str, str], ...] = (
    ("F1..F9 / Alt+1..9", "show buffer 1..9"),
    ("Ctrl+N / Ctrl+P", "next / previous buffer"),
    ("Alt+A / Ctrl+X", "next buffer with unread messages (Ctrl+X inside tmux)"),
    ("Ctrl+R / Ctrl+F", "search all buffers / the buffer shown"),
    ("Tab", "complete command, nick, room or setting"),
    ("Up / Down", "input history"),
    ("PgUp / PgDn", "scroll the messages (new ones then wait below)"),
    ("End", "back to the newest messages (with the cursor at the end of the line)"),
    ("Ctrl+C", "quit (same as /quit)"),
)


def spec_for(name: str) -> CommandSpec | None:
    """The command named ``name`` (``/join`` or ``join``), or None."""
    lowered = name.lower()
    if not lowered.startswith("/"):
        lowered = "/" + lowered
    for spec in COMMANDS:
        if spec.name == lowered:
            return spec
    return None
