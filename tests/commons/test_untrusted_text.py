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
