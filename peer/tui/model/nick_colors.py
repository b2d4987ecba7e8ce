"""Stable per-user nick colours, readable on dark and light terminals.

The colour is picked from a fixed palette by SHA-256 of the name, so a user has the same
colour in every session, on every machine (Python's ``hash`` is salted per process and
would not do). Every palette entry has a relative luminance near 0.2, which gives a
contrast ratio of at least 3.9:1 against black, white and the usual dark and light
terminal backgrounds (the test checks the WCAG formula), so no nick vanishes when a user
switches themes. Twelve hues 30 degrees apart; the hash input is domain-separated
(``colour:`` + name) so the colour says nothing reusable about the name's SHA-256.
"""

from __future__ import annotations

import hashlib

PALETTE: tuple[str, ...] = (
    "#e33b3b",  # red           0 deg
    "#b7691a",  # orange       30
    "#818112",  # olive        60
    "#4f8a14",  # lime         90
    "#148f14",  # green       120
    "#148f52",  # sea green   150
    "#148a8a",  # teal        180
    "#1f7ddb",  # blue        210
    "#6c6cea",  # indigo      240
    "#9e55e7",  # violet      270
    "#d61fd6",  # magenta     300
    "#e2328a",  # pink        330
)
_DOMAIN = b"colour:"


def nick_color(username: str) -> str:
    """The ``#rrggbb`` colour of ``username``'s nick: same name, same colour, always."""
    digest = hashlib.sha256(_DOMAIN + username.encode("utf-8")).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]
