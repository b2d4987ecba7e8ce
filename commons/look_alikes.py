"""Names that pass for others, sans-I/O: the skeleton two look-alike names share.

A stranger picks a name that reads as another's: ``aIice`` for ``alice``, ``rnallory``
for ``mallory``, a room ``lobby`` spelled with a Cyrillic ``o`` (U+043E) or in fullwidth
letters (U+FF4C ...) beside ``lobby``. :func:`skeleton` folds each such set to one
form: compatibility forms to plain ones (NFKC: fullwidth, ligatures), case folded,
then a small subset of Unicode's confusables skeleton (UTS #39) that covers ASCII
(capital ``I``, small ``l`` and ``1``; ``O`` and ``0``; ``rn`` and ``m``; ``vv`` and
``w``) plus the Cyrillic and Greek letters that look Latin. Two different names with
the same skeleton look alike.

Both ends use it: the tracker refuses a new room whose name looks like an existing
room's (:mod:`tracker.state.rooms`), the chat marks a sender whose name looks like a
known one's (:mod:`peer.tui.model.look_alikes`).
"""

from __future__ import annotations

import unicodedata

#: Multi-letter sequences first: ``rn`` reads as ``m``, ``vv`` as ``w``, ``cl`` as ``d``.
_SEQUENCES = (("rn", "m"), ("vv", "w"), ("cl", "d"))

#: One character to its skeleton (applied after case folding).
_FOLD = str.maketrans(
    {
        "1": "l",
        "i": "l",
        "|": "l",
        "0": "o",
        "5": "s",
        "_": "-",
        "\u0430": "a",  # Cyrillic
        "\u0435": "e",  # Cyrillic
        "\u043e": "o",  # Cyrillic
        "\u0440": "p",  # Cyrillic
        "\u0441": "c",  # Cyrillic
        "\u0445": "x",  # Cyrillic
        "\u0443": "y",  # Cyrillic
        "\u0456": "l",  # Cyrillic
        "\u0458": "j",  # Cyrillic
        "\u03bf": "o",  # Greek
        "\u03b1": "a",  # Greek
        "\u03b9": "l",  # Greek
        "\u03ba": "k",  # Greek
        "\u03bd": "v",  # Greek
    }
)


def skeleton(name: str) -> str:
    """The form two look-alike names share: NFKC, case folded, confusables folded.

    Linear in ``len(name)``; callers pass bounded names (usernames, room names)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    for sequence, letter in _SEQUENCES:
        folded = folded.replace(sequence, letter)
    return folded.translate(_FOLD)


#: Scripts whose letters pass for each other's (Cyrillic U+0430 for ``a``, Greek
#: U+03BF for ``o``, and more): one name may use one of them, not two.
LOOK_ALIKE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK"})


def mixes_look_alike_scripts(name: str) -> bool:
    """True if ``name`` has letters of two of :data:`LOOK_ALIKE_SCRIPTS` (``paypal``
    with a Cyrillic U+0430 for its first ``a``): such a name is made to pass for
    another, and no real word needs it. Other mixes (``café東京``, Japanese kana with
    kanji) are fine."""
    seen = {
        script
        for script in (unicodedata.name(c, "").split(" ", 1)[0] for c in name if c.isalpha())
        if script in LOOK_ALIKE_SCRIPTS
    }
    return len(seen) > 1
