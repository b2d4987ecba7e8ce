"""Untrusted text: the one rule for every string that comes from outside the process.

Two questions, asked at two moments:

* **At decoding** (:mod:`commons.codec` for every frame; the batch parser for every
  input line): is this *text*? Python strings may hold lone surrogates (JSON's
  ``"\\ud800"``, or stdin read with ``surrogateescape``); they are not Unicode scalar
  values, cannot be encoded as UTF-8, and a reply that echoed one would fail half-way.
  :func:`require_text` refuses them, so any value that passed decoding can always be
  encoded again. Every field then has a length bound (:func:`bounded_string`), checked
  before any parsing, so no field can grow a reply or push past the frame limit.
* **At display** (the terminal chat, batch output): may this character reach a
  terminal or a line-splitting consumer raw? Every code point of the Unicode general
  categories Cc (controls, C0 and C1, DEL), Cf (format characters: bidi controls,
  zero-width characters, soft hyphen, tag characters, ...), Cs (surrogates), Zl and Zp
  (line and paragraph separators), plus the bidi controls by name, is *unsafe for
  display*: it could repaint the screen, reorder a line, hide text or split one event
  into two lines. :func:`replace_unsafe` swaps each for a caller-chosen visible form.

The category table is Python's :mod:`unicodedata`; no list is kept by hand, so a new
format character is covered as soon as the interpreter knows it.

A chat shows more than it must keep safe: letters that are *printable* but draw
nothing let a message or a name look blank or hide words. :func:`replace_hidden` also
swaps, for a screen meant to be read, the **blank-looking letters**
(:data:`BLANK_LOOKING`: the Hangul fillers, the blank Braille pattern, the invisible
combining and Khmer marks), unassigned code points (category Cn: the terminal's font
decides what they draw), and every **combining mark** (categories Mn, Me) past the
:data:`MAX_STACKED_MARKS` th on one letter, so "Zalgo" text cannot paint over the
lines around it while real accents (one or two marks) stay as they are.

Emoji are drawn whole: a zero-width joiner *between two emoji* (``👩‍💻``, ``🏳️‍🌈``),
one variation selector right after its letter, skin tones and regional-indicator pairs
(printable) and the three recommended subdivision flags (tag characters after a black
flag) stay; a lone or doubled joiner, a run of selectors, stray tag characters are
still shown by code point.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from commons.errors import ValidationError

#: General categories never shown raw: controls, format characters, surrogates, line
#: and paragraph separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

#: Unicode's Bidi_Control characters (all are Cf today; named here so that a change of
#: category in a later Unicode version cannot let one through).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

#: Printable letters that draw nothing (or a blank): shown by code point in the chat.
BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")

#: Combining marks drawn on one letter; more are shown by code point.
MAX_STACKED_MARKS = 2

_COMBINING = frozenset({"Mn", "Me"})

#: The zero-width joiner: between two emoji it draws one (``👩‍💻``).
ZWJ = "\u200d"

#: Variation selectors (combining marks): one right after a letter or an emoji picks
#: how it is drawn (text or emoji style, an ideograph's variant).
VARIATION_SELECTORS = frozenset(
    [chr(c) for c in range(0xFE00, 0xFE10)] + [chr(c) for c in range(0xE0100, 0xE01F0)]
)

#: The emoji skin tones (Fitzpatrick modifiers, category Sk: printable).
SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))

_BLACK_FLAG = "\U0001f3f4"


def _tags(code: str) -> str:
    return "".join(chr(0xE0000 + ord(c)) for c in code) + "\U000e007f"


#: The invisible characters (category Cf) that are parts of emoji: the joiner and the
#: tag characters (a keyboard that types an emoji types these too).
EMOJI_INVISIBLES = frozenset([ZWJ] + [chr(c) for c in range(0xE0020, 0xE0080)])

#: The tag sequences after a black flag that Unicode recommends (RGI): England,
#: Scotland, Wales.
FLAG_TAGS = tuple(_tags(code) for code in ("gbeng", "gbsct", "gbwls"))

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class NotTextError(ValidationError):
    """A string holds a lone surrogate: it is not Unicode text and cannot be encoded."""


def has_lone_surrogate(text: str) -> bool:
    """True if ``text`` cannot be encoded as UTF-8 (it holds an unpaired surrogate)."""
    return _LONE_SURROGATE.search(text) is not None


def require_text(text: str, where: str) -> str:
    """Return ``text`` if it is encodable Unicode, else raise :class:`NotTextError`."""
    if has_lone_surrogate(text):
        raise NotTextError(f"{where} is not valid Unicode text (it holds a lone surrogate)")
    return text


def bounded_string(field: str, value: Any, max_chars: int, *, min_chars: int = 0) -> str:
    """``value`` as a string of ``min_chars``..``max_chars`` characters of real text.

    The length is checked first, so a long hostile value is refused before anything
    else looks at it.
    """
    if not isinstance(value, str):
        raise ValidationError(f"field '{field}' must be a string")
    if not min_chars <= len(value) <= max_chars:
        raise ValidationError(
            f"field '{field}' must be a string of {min_chars}-{max_chars} characters"
        )
    return require_text(value, f"field '{field}'")


def is_unsafe_for_display(char: str) -> bool:
    """True for one code point that must never reach a terminal or a line splitter raw."""
    return char in BIDI_CONTROLS or unicodedata.category(char) in UNSAFE_CATEGORIES


def replace_unsafe(text: str, visible: Callable[[str], str]) -> str:
    """``text`` with every unsafe code point replaced by ``visible(char)``.

    Linear in ``len(text)``. ``str.isprintable`` (in C) is false for every unsafe code
    point, so text without any non-printable character is returned as is at once.
    """
    if text.isprintable():
        return text
    return "".join(
        visible(char) if not char.isprintable() and is_unsafe_for_display(char) else char
        for char in text
    )


def code_point_label(char: str) -> str:
    """``U+200B``: how a hidden character is named where it is shown."""
    return f"U+{ord(char):04X}"


def replace_hidden(text: str, visible: Callable[[str], str]) -> str:
    """``text`` for a reader: every unsafe code point (as :func:`replace_unsafe`), every
    blank-looking or unassigned one, every combining mark past :data:`MAX_STACKED_MARKS`
    in a row and every variation selector not right after its letter replaced by
    ``visible(char)``; the invisible parts of an emoji (:func:`emoji_joiner_at`,
    :func:`flag_tags_at`) stay, so the emoji is drawn whole. Linear; plain ASCII text is
    returned as is at once."""
    if text.isascii() and text.isprintable():
        return text
    out: list[str] = []
    stacked = 0
    index, end = 0, len(text)
    while index < end:
        char = text[index]
        category = unicodedata.category(char)
        if category in _COMBINING and char not in BLANK_LOOKING:
            stacked += 1
            lone_selector = char in VARIATION_SELECTORS and (stacked > 1 or index == 0)
            out.append(visible(char) if stacked > MAX_STACKED_MARKS or lone_selector else char)
            index += 1
            continue
        stacked = 0
        tags = flag_tags_at(text, index)
        if tags:
            out.append(text[index : index + tags])
            index += tags
            continue
        hidden = char in BLANK_LOOKING or category == "Cn"
        if char == ZWJ and emoji_joiner_at(text, index):
            out.append(char)
        elif hidden or (not char.isprintable() and is_unsafe_for_display(char)):
            out.append(visible(char))
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _is_pictograph(char: str) -> bool:
    return unicodedata.category(char) == "So"


def emoji_joiner_at(text: str, index: int) -> bool:
    """True if the zero-width joiner at ``text[index]`` joins two emoji into one
    (``👩`` + ZWJ + ``💻`` draws ``👩‍💻``): a symbol (category So) on each side, the one
    before it possibly followed by an emoji variation selector and a skin tone
    (``🧑🏽‍💻``, ``🏳️‍🌈``). Any other joiner (at an end, between letters, doubled) is
    shown by code point: it could only hide something there."""
    if index + 1 >= len(text) or not _is_pictograph(text[index + 1]):
        return False
    before = index - 1
    if before >= 0 and text[before] in VARIATION_SELECTORS:
        before -= 1
    if before >= 0 and text[before] in SKIN_TONES:
        before -= 1
    return before >= 0 and _is_pictograph(text[before])


def flag_tags_at(text: str, index: int) -> int:
    """The length of the subdivision flag at ``text[index]`` (a black flag, invisible
    tag letters, a cancel tag: England, Scotland, Wales), or 0. Only the flags Unicode
    recommends (:data:`FLAG_TAGS`) are kept: tag characters spell ASCII no one sees, so
    any other run of them is shown by code point."""
    if text[index] != _BLACK_FLAG:
        return 0
    for tags in FLAG_TAGS:
        if text.startswith(tags, index + 1):
            return 1 + len(tags)
    return 0
