"""Nick colours: stable, spread out, and readable on dark and light backgrounds."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from peer.tui.model.nick_colors import PALETTE, nick_color

BACKGROUNDS = ("#000000", "#121212", "#1e1e1e", "#272822", "#ffffff", "#f5f5f5", "#fdf6e3")


def relative_luminance(color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_palette_colour_is_readable_on_dark_and_light() -> None:
    for color in PALETTE:
        for background in BACKGROUNDS:
            assert contrast(color, background) >= 3.0, (color, background)


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=32))
def test_colour_is_a_palette_entry_and_deterministic(name: str) -> None:
    assert nick_color(name) in PALETTE
    assert nick_color(name) == nick_color(name)


def test_colour_is_stable_across_processes() -> None:
    names = ["alice", "bob", "carol", "dave"]
    code = f"from peer.tui.model.nick_colors import nick_color;print(*map(nick_color, {names!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [nick_color(n) for n in names]


def test_names_spread_over_the_palette() -> None:
    used = {nick_color(f"user{i}") for i in range(200)}
    assert len(used) >= len(PALETTE) - 1
