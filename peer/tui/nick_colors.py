"""Stable per-user nick colours, readable on dark and light terminals.

The colour is picked from a fixed palette by SHA-256 of the name, so a user has the same
colour in every session, on every machine (Python's ``hash`` is salted per process and
would not do). Every palette entry has a relative luminance near 0.2, which gives a
contrast ratio of at least 3.9:1 against black, white and the usual dark and light
terminal backgrounds (the test checks the WCAG formula), so no nick vanishes when a user
switches themes.
"""

from __future__ import annotations

import hashlib

PALETTE: tuple[str, ...] = (
    "#e33b3b",  # red
    "#b7691a",  # orange
    "#818112",  # olive
    "#4f8a14",  # green
    "#148f52",  # sea green
    "#148a8a",  # teal
    "#1f7ddb",  # blue
    "#6c6cea",  # indigo
    "#9e55e7",  # violet
    "#d61fd6",  # magenta
    "#e2328a",  # pink
)


def nick_color(username: str) -> str:
    """The ``#rrggbb`` colour of ``username``'s nick: same name, same colour, always."""
    digest = hashlib.sha256(username.encode("utf-8")).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]
