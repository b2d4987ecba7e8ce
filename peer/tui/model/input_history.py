"""Input history for the chat's input line, sans-I/O: Up and Down like a shell.

Navigating away from a half-typed line keeps it as a draft that Down brings back.
Lines that could carry a password (``/login``, ``/register``) are never remembered, and
neither are blank lines or an immediate repeat of the previous entry.
"""

from __future__ import annotations

from collections import deque

MAX_HISTORY = 500
_SECRET_COMMANDS = ("/login", "/register")


def _may_hold_secret(line: str) -> bool:
    word = line.strip().split(maxsplit=1)[0].lower() if line.strip() else ""
    return word in _SECRET_COMMANDS


class InputHistory:
    """``add`` what was submitted; ``previous``/``next`` return the text to show."""

    def __init__(self, max_entries: int = MAX_HISTORY) -> None:
        self._entries: deque[str] = deque(maxlen=max_entries)
        self._position: int | None = None
        self._draft = ""

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, line: str) -> None:
        """Remember a submitted line and stop navigating."""
        self._position = None
        self._draft = ""
        if not line.strip() or _may_hold_secret(line):
            return
        if self._entries and self._entries[-1] == line:
            return
        self._entries.append(line)

    def previous(self, current: str) -> str | None:
        """One entry older; ``current`` is kept as the draft. None at the oldest."""
        if not self._entries:
            return None
        if self._position is None:
            self._draft = current
            self._position = len(self._entries)
        if self._position == 0:
            return None
        self._position -= 1
        return self._entries[self._position]

    def next(self) -> str | None:
        """One entry newer, then the draft. None when not navigating."""
        if self._position is None:
            return None
        self._position += 1
        if self._position >= len(self._entries):
            self._position = None
            return self._draft
        return self._entries[self._position]
