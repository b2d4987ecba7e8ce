"""The one rule for untrusted strings: text, bounded, and shown only when inert."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commons.errors import ValidationError
from commons.untrusted_text import (
    BIDI_CONTROLS,
    UNSAFE_CATEGORIES,
    NotTextError,
    bounded_string,
    has_lone_surrogate,
    is_unsafe_for_display,
    replace_hidden,
    replace_unsafe,
    require_text,
)


def test_lone_surrogates_are_not_text_but_pairs_of_them_are_one_character() -> None:
    assert has_lone_surrogate("a\ud800") and has_lone_surrogate("\udfffb")
    assert not has_lone_surrogate("\U0001f600")
    with pytest.raises(NotTextError, match="lone surrogate"):
        require_text("x\udc80", "field 'host'")
    assert require_text("é😀", "field 'x'") == "é😀"


def test_bounded_string_checks_type_length_and_text() -> None:
    assert bounded_string("reason", "why", 200) == "why"
    for bad in (None, 5, b"x", "r" * 201, "\ud800"):
        with pytest.raises(ValidationError, match="reason"):
            bounded_string("reason", bad, 200)
    with pytest.raises(ValidationError):
        bounded_string("code", "", 64, min_chars=1)


def test_unsafe_for_display_is_exactly_the_categories_and_the_bidi_controls() -> None:
    for code in range(0x110000):
        char = chr(code)
        expected = unicodedata.category(char) in UNSAFE_CATEGORIES or char in BIDI_CONTROLS
        assert is_unsafe_for_display(char) is expected, hex(code)


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(codec=None, categories=None), max_size=50))
def test_replace_unsafe_leaves_nothing_unsafe_and_everything_else_alone(text: str) -> None:
    marked = replace_unsafe(text, lambda c: f"<{ord(c):X}>")
    assert not any(is_unsafe_for_display(c) for c in marked)
    assert marked == "".join(f"<{ord(c):X}>" if is_unsafe_for_display(c) else c for c in text)


def _label(char: str) -> str:
    return f"<{ord(char):04X}>"


#: Emoji whose invisible parts make them one picture: a joiner between two emoji, a
#: skin tone, an emoji variation selector, a regional-indicator pair, a keycap, a
#: subdivision flag's tags.
WHOLE_EMOJI = [
    "\U0001f469\u200d\U0001f4bb",  # woman technologist
    "\U0001f937\u200d\u2640\ufe0f",  # woman shrugging
    "\U0001f9d1\U0001f3fd\u200d\U0001f4bb",  # technologist, medium skin tone
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # family
    "\U0001f44d\U0001f3fe",  # thumbs up, medium-dark skin tone
    "\U0001f1eb\U0001f1f7\U0001f1ef\U0001f1f5",  # FR and JP flags
    "1\ufe0f\u20e3",  # keycap 1
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland
    "\u845b\U000e0100",  # an ideograph's registered variant
]


@pytest.mark.parametrize("emoji", WHOLE_EMOJI)
def test_replace_hidden_keeps_an_emoji_whole(emoji: str) -> None:
    text = f"look {emoji} here {emoji}{emoji}"
    assert replace_hidden(text, _label) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\u200d", "<200D>"),  # a lone joiner
        ("a\u200db", "a<200D>b"),  # between letters
        ("\U0001f469\u200d", "\U0001f469<200D>"),  # at the end
        ("\u200d\U0001f4bb", "<200D>\U0001f4bb"),  # at the start
        ("\U0001f469\u200d\u200d\U0001f4bb", "\U0001f469<200D><200D>\U0001f4bb"),  # doubled
        ("x\u0301\u0302\u0303", "x\u0301\u0302<0303>"),  # stacked marks
        ("a\ufe0f\ufe0f", "a\ufe0f<FE0F>"),  # a run of selectors (hidden data)
        ("\ufe0fa", "<FE0F>a"),  # a selector with nothing before it
        ("\U0001f600\U000e0100\U000e0101", "\U0001f600\U000e0100<E0101>"),
        ("\U0001f3f4\U000e0061\U000e007f", "\U0001f3f4<E0061><E007F>"),  # not a flag
        ("hi\U000e0068\U000e0069", "hi<E0068><E0069>"),  # smuggled tag text
        ("\u3164", "<3164>"),  # a Hangul filler
        ("hi\u200b", "hi<200B>"),
        ("\u202eabc", "<202E>abc"),
    ],
)
def test_replace_hidden_still_exposes_lone_and_suspicious_invisibles(text: str, shown: str) -> None:
    assert replace_hidden(text, _label) == shown
