"""Names that pass for others, sans-I/O: ``aIice`` for ``alice``, ``rnallory`` for ``mallory``.

A stranger picks a name that reads as a contact's and writes in the contact's voice.
Usernames are ASCII (:func:`commons.models.validate_name`), and ASCII alone offers
plenty: capital ``I``, small ``l`` and ``1``; ``O`` and ``0``; ``rn`` and ``m``; ``vv``
and ``w``. :func:`commons.look_alikes.skeleton` folds each such set to one form (the
tracker uses the same fold for room names, which are Unicode); two different names
with the same skeleton look alike. :func:`is_mixed_script` says whether letters of several
scripts are mixed in one name (impossible while names are ASCII; kept with the map).

:func:`spelled` writes a name so the difference can be seen: each confusable
character with its Unicode name (``aIice: a, I (latin capital letter i), i, c, e``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from commons.look_alikes import skeleton

#: The ASCII characters :func:`spelled` names (every non-ASCII one is named too).
_NAMED = frozenset("Il1|O0")


def _script(char: str) -> str | None:
    if not char.isalpha():
        return None
    return unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]


def is_mixed_script(name: str) -> bool:
    """True if ``name`` mixes letters of two scripts (``p\\u0430ypal``: a Cyrillic ``a``)."""
    return len({s for s in map(_script, name) if s is not None}) > 1


class Skeletons:
    """:func:`skeleton` of every name asked about, kept (names are few and short: the
    contacts, the room, the open conversations), so checking a sender against 2,000
    contacts costs 2,000 dictionary lookups, not 2,000 foldings."""

    def __init__(self, limit: int = 10_000) -> None:
        self._known: dict[str, str] = {}
        self._limit = limit

    def of(self, name: str) -> str:
        found = self._known.get(name)
        if found is None:
            found = skeleton(name)
            if len(self._known) < self._limit:
                self._known[name] = found
        return found

    def look_alike(self, name: str, known: Iterable[str]) -> str | None:
        """The first of ``known`` (other than ``name``) that ``name`` looks like."""
        mark = self.of(name)
        for other in known:
            if other != name and self.of(other) == mark:
                return other
        return None


def spelled(name: str) -> str:
    """``name`` letter by letter, each confusable one with its Unicode name."""
    parts = []
    for char in name:
        if char in _NAMED or not char.isascii():
            parts.append(f"{char} ({unicodedata.name(char, hex(ord(char))).lower()})")
        else:
            parts.append(char)
    return f"{name}: {', '.join(parts)}"
