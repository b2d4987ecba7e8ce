"""The slash commands of the chat screen: usage, one line of help, argument kind.

The batch mode's commands (minus ``/register`` and ``/login``, which the login screen
handles) plus the commands that only make sense with buffers. ``/help`` prints this
table and tab completion reads :attr:`CommandSpec.argument` to know whether the word
after a command is a user, a room or a buffer. Parsing the line itself is the job of the
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
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    argument: ArgumentKind = ArgumentKind.NONE


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("/help", "/help", "show this list"),
    CommandSpec("/peers", "/peers", "list online users"),
    CommandSpec("/rooms", "/rooms", "list rooms"),
    CommandSpec("/create", "/create ROOM", "create a room that you own", ArgumentKind.TEXT),
    CommandSpec("/join", "/join ROOM", "join a room", ArgumentKind.ROOM),
    CommandSpec("/leave", "/leave", "leave the current room"),
    CommandSpec("/delete", "/delete ROOM", "delete a room you own", ArgumentKind.ROOM),
    CommandSpec("/users", "/users", "members of the current room"),
    CommandSpec("/msg", "/msg USER TEXT", "private message (opens a buffer)", ArgumentKind.USER),
    CommandSpec("/query", "/query USER", "open a private buffer with USER", ArgumentKind.USER),
    CommandSpec(
        "/fingerprint", "/fingerprint [USER]", "your or USER's key fingerprint", ArgumentKind.USER
    ),
    CommandSpec(
        "/verify", "/verify USER", "compare safety numbers, mark verified", ArgumentKind.USER
    ),
    CommandSpec("/trust", "/trust USER", "accept USER's changed key", ArgumentKind.USER),
    CommandSpec("/switch", "/switch N|#ROOM|@USER", "show another buffer", ArgumentKind.BUFFER),
    CommandSpec("/close", "/close", "close the buffer shown (not a joined room)"),
    CommandSpec("/expand", "/expand", "show the newest clipped long message in full"),
    CommandSpec("/quit", "/quit", "leave the room, log out and exit"),
)

COMMAND_NAMES: tuple[str, ...] = tuple(spec.name for spec in COMMANDS)

KEY_HELP: tuple[tuple[str, str], ...] = (
    ("F1..F9 / Alt+1..9", "show buffer 1..9 (Alt where the terminal sends it)"),
    ("Ctrl+N / Ctrl+P", "next / previous buffer"),
    ("Alt+A", "next buffer with unread messages"),
    ("Tab", "complete command, nick or room"),
    ("Up / Down", "input history"),
    ("PgUp / PgDn", "scroll the messages"),
    ("Ctrl+C", "quit (same as /quit)"),
)


def spec_for(name: str) -> CommandSpec | None:
    lowered = name.lower()
    for spec in COMMANDS:
        if spec.name == lowered:
            return spec
    return None
