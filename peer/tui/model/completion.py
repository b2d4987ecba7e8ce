"""Tab completion for the input line, sans-I/O: commands, nicks, rooms and buffers.

The word before the cursor is completed from what fits its place: a command name at the
start of the line, the argument kind from :mod:`peer.commands.table` after a command,
a nick anywhere in plain text (``alice: `` at the start of a line, as IRC does). Pressing
Tab again without editing cycles through the other candidates, as weechat does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from peer.commands.table import ArgumentKind, Frontend, commands_for, spec_for
from peer.tui.model.buffers import BufferKind
from peer.tui.model.chat_model import ChatModel

COMMAND_NAMES: tuple[str, ...] = tuple(spec.name for spec in commands_for(Frontend.TUI))


@dataclass(frozen=True, slots=True)
class CompletionSources:
    """What may be completed right now; the app refreshes it on every Tab."""

    users: Sequence[str] = ()
    rooms: Sequence[str] = ()
    buffers: Sequence[str] = ()
    settings: Sequence[str] = ()
    commands: Sequence[str] = field(default_factory=lambda: COMMAND_NAMES)


def sources_of(model: ChatModel, settings: Sequence[str]) -> CompletionSources:
    """What the chat knows now: members, contacts and users seen, rooms, buffers, and
    the names of the ``settings``."""
    users = set(model.members) | set(model.verification) | model.known_users
    users |= {b.id.name for b in model.buffers if b.id.kind is BufferKind.PRIVATE}
    users.discard(model.username)
    rooms = {b.id.name for b in model.buffers if b.id.kind is BufferKind.ROOM}
    rooms |= model.known_rooms
    return CompletionSources(
        users=sorted(users),
        rooms=sorted(rooms),
        buffers=[b.id.label for b in model.buffers],
        settings=sorted(settings),
    )


@dataclass(slots=True)
class _Cycle:
    start: int
    rest: str
    candidates: list[str]
    suffix: str
    index: int
    text: str = ""
    cursor: int = 0


def _matches(prefix: str, pool: Sequence[str]) -> list[str]:
    low = prefix.lower()
    unique = {item for item in pool if item.lower().startswith(low)}
    return sorted(unique, key=lambda item: (item.lower(), item))


class TabCompleter:
    """``complete(text, cursor, sources)`` -> new ``(text, cursor)`` or None."""

    def __init__(self) -> None:
        self._cycle: _Cycle | None = None

    def reset(self) -> None:
        self._cycle = None

    def complete(
        self, text: str, cursor: int, sources: CompletionSources
    ) -> tuple[str, int] | None:
        cycle = self._cycle
        if cycle is not None and cycle.text == text and cycle.cursor == cursor:
            cycle.index = (cycle.index + 1) % len(cycle.candidates)
            return self._apply(cycle, text)
        self._cycle = None
        cursor = max(0, min(cursor, len(text)))
        start = max(text.rfind(" ", 0, cursor), text.rfind("\t", 0, cursor)) + 1
        prefix = text[start:cursor]
        candidates, suffix = self._candidates(text[:start], prefix, sources)
        if not candidates:
            return None
        rest = text[cursor:]
        if rest[:1].isspace():
            suffix = suffix.rstrip(" ")
        self._cycle = _Cycle(start, rest, candidates, suffix, 0)
        return self._apply(self._cycle, text)

    @staticmethod
    def _apply(cycle: _Cycle, text: str) -> tuple[str, int]:
        inserted = cycle.candidates[cycle.index] + cycle.suffix
        new_text = text[: cycle.start] + inserted + cycle.rest
        cycle.text = new_text
        cycle.cursor = cycle.start + len(inserted)
        return new_text, cycle.cursor

    @staticmethod
    def _candidates(before: str, prefix: str, sources: CompletionSources) -> tuple[list[str], str]:
        words = before.split()
        if not words:
            if prefix.startswith("/"):
                return _matches(prefix, sources.commands), " "
            return _matches(prefix, sources.users), ": "
        if words[0].startswith("/") and len(words) == 1:
            spec = spec_for(words[0], Frontend.TUI)
            kind = spec.argument if spec is not None else ArgumentKind.NONE
            if kind is ArgumentKind.USER:
                return _matches(prefix, sources.users), " "
            if kind is ArgumentKind.ROOM:
                bare = prefix.removeprefix("#")
                return _matches(bare, sources.rooms), " "
            if kind is ArgumentKind.BUFFER:
                return _matches(prefix, sources.buffers), " "
            if kind is ArgumentKind.SETTING:
                return _matches(prefix, sources.settings), " "
            if kind is ArgumentKind.COMMAND:
                names = [name.removeprefix("/") for name in sources.commands]
                return _matches(prefix.removeprefix("/"), names), " "
            return [], ""
        if words[0].startswith("/") and words[0].lower() != "/msg":
            return [], ""
        return _matches(prefix, sources.users), " "
