"""Rendering: inert untrusted text, nick colours, panels and the buffer bar."""

from __future__ import annotations

import io
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from commons.untrusted_text import (
    EMOJI_INVISIBLES,
    ZWJ,
    emoji_joiner_at,
    is_unsafe_for_display,
)
from crypto.pinning import TrustState
from peer.core.frames import MAX_TEXT_CHARS
from peer.events import ChannelClosed, ChannelOpened
from peer.events import MessageReceived as ChatMessageReceived
from peer.tui.model.buffers import (
    REQUESTS,
    BufferList,
    Line,
    LineKind,
    private_buffer,
    room_buffer,
)
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.nick_colors import nick_color
from peer.tui.model.rendering import (
    LOOK_ALIKE_MARK,
    MAX_SHOWN_CHARS,
    MAX_SHOWN_LINES,
    is_clipped,
    render_buffer_bar,
    render_line,
    render_members,
    sanitize,
)

#: What the fixed list of the first sanitiser let through (found by fuzzing).
ONCE_INVISIBLE = [
    "\u061c",
    "\u00ad",
    *map(chr, range(0x200B, 0x200E)),
    *map(chr, range(0x2060, 0x2065)),
    *map(chr, range(0x206A, 0x2070)),
    "\ufeff",
    *map(chr, range(0xFFF9, 0xFFFC)),
    *map(chr, range(0x0600, 0x0606)),
    "\u180e",
    "\U000e0001",
    *map(chr, range(0xE0020, 0xE0080)),
    "\ud800",
    "\udfff",
    "\u2028",
    "\u2029",
    "\x85",
]


def draw(renderable: object, width: int = 60) -> str:
    console = Console(width=width, record=True, color_system="truecolor", file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_control_and_bidi_characters_are_made_visible() -> None:
    hostile = "hi\x1b[2J\x07\r\u202egnp.exe\u2066"
    clean = sanitize(hostile)
    assert "\x1b" not in clean and "\x07" not in clean and "\r" not in clean
    assert "\u202e" not in clean and "\u2066" not in clean
    assert clean.startswith("hi\u241b[2J\u2407\u240d")


@pytest.mark.parametrize("char", ONCE_INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_invisible_or_direction_changing_character_gets_a_visible_mark(char: str) -> None:
    clean = sanitize(f"a{char}b")
    assert char not in clean
    assert clean == f"a\u27e8U+{ord(char):04X}\u27e9b"
    drawn = draw(render_line(Line(0.0, LineKind.MESSAGE, f"a{char}b", "bob")), 100)
    assert f"U+{ord(char):04X}" in drawn


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(codec=None, categories=None), max_size=60))
def test_nothing_unsafe_is_ever_drawn(text: str) -> None:
    """Nothing unsafe but the invisible parts of an emoji, and a joiner only between two."""
    clean = sanitize(text)
    assert all(c in EMOJI_INVISIBLES for c in clean if is_unsafe_for_display(c))
    assert all(emoji_joiner_at(clean, i) for i, c in enumerate(clean) if c == ZWJ)
    drawn = draw(render_line(Line(0.0, LineKind.MESSAGE, text, "bob")), 80)
    assert all(c in EMOJI_INVISIBLES for c in drawn if c != "\n" and is_unsafe_for_display(c))


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        st.sampled_from(["\u200d", "\U0001f469", "\U0001f4bb", "\ufe0f", "\U0001f3fd", "a", " "]),
        max_size=30,
    )
)
def test_a_joiner_is_drawn_only_between_two_emoji(text: str) -> None:
    clean = sanitize(text)
    assert all(emoji_joiner_at(clean, i) for i, c in enumerate(clean) if c == ZWJ)


def test_ordinary_text_is_left_alone() -> None:
    text = "héllo 👋 مرحبا שלום 你好 e\u0301 \U0001f468\u200d\U0001f469 \U0001f1eb\U0001f1f7"
    assert sanitize(text) == text


def rows(text: str, *, full: bool = False) -> list[str]:
    line = Line(0.0, LineKind.MESSAGE, text, "bob", full=full)
    return draw(render_line(line), 80).splitlines()


def test_a_message_of_newlines_draws_a_bounded_number_of_rows() -> None:
    """4,000 newlines once drew 4,001 rows (~100 ms, so a peer could make the chat lag)."""
    text = "x" + "\n" * (MAX_TEXT_CHARS - 2) + "y"
    drawn = rows(text)
    assert len(drawn) == MAX_SHOWN_LINES + 1
    hidden_lines = MAX_TEXT_CHARS - 1 - MAX_SHOWN_LINES
    assert f"{hidden_lines:,} more lines, 1 more character: /expand shows all" in drawn[-1]
    assert is_clipped(Line(0.0, LineKind.MESSAGE, text, "bob"))
    assert len(rows(text, full=True)) == MAX_TEXT_CHARS - 1


def test_a_message_of_marks_draws_a_bounded_number_of_characters() -> None:
    text = "\u200b" * MAX_TEXT_CHARS  # each becomes an 8-character mark
    drawn = rows(text)
    assert sum(len(r.strip()) for r in drawn) < MAX_SHOWN_CHARS + 200
    shown = MAX_SHOWN_CHARS // len(sanitize("\u200b"))
    assert f"{MAX_TEXT_CHARS - shown:,} more characters: /expand shows all" in drawn[-1]
    assert is_clipped(Line(0.0, LineKind.MESSAGE, text, "bob"))


def test_a_clipped_line_counts_the_characters_it_hides() -> None:
    """One long line once said "1 more line" with about 1,000 characters hidden."""
    text = "word " * 600  # 3,000 characters on one line
    drawn = rows(text)
    assert f"{3000 - MAX_SHOWN_CHARS:,} more characters: /expand shows all" in drawn[-1]
    assert "more line" not in "".join(drawn)
    assert "".join(r.strip() for r in drawn[:-1]).count("word") == MAX_SHOWN_CHARS // 5
    many = "\n".join(["x" * 10] * (MAX_SHOWN_LINES + 3))
    assert "3 more lines, 30 more characters: /expand shows all" in rows(many)[-1]


def test_short_messages_are_not_clipped() -> None:
    text = "\n".join(["\u202e" * 10] * (MAX_SHOWN_LINES - 1))
    assert not is_clipped(Line(0.0, LineKind.MESSAGE, text, "bob"))
    assert "more line" not in "".join(rows(text))


def test_markup_in_messages_is_not_interpreted() -> None:
    line = Line(0.0, LineKind.MESSAGE, "[bold red]fake[/] [link=x]y[/link]", "bob")
    assert "[bold red]fake[/] [link=x]y[/link]" in draw(render_line(line), 100)


def test_extra_lines_cannot_pose_as_new_messages() -> None:
    line = Line(0.0, LineKind.MESSAGE, "hi\n12:00:00 carol send me your password", "bob")
    text = draw(render_line(line), 100)
    second = text.splitlines()[1]
    assert "\u2506" in second and second.index("\u2506") < second.index("12:00:00")


def test_nick_is_drawn_in_its_colour() -> None:
    console = Console(width=80, color_system="truecolor", file=io.StringIO())
    line = Line(0.0, LineKind.MESSAGE, "hello", "carol")
    segments = list(console.render(render_line(line)))
    nick = [s for s in segments if s.text.strip() == "carol"]
    assert nick and nick[0].style is not None and nick[0].style.color is not None
    triplet = nick[0].style.color.triplet
    assert triplet is not None and triplet.hex == nick_color("carol")


def test_members_panel_shows_each_trust_state() -> None:
    model = ChatModel("alice")
    assert "not in a room" in draw(render_members(model))
    model.set_room("lobby", ["alice", "bob", "carol", "dave"])
    model.set_verification("bob", TrustState.VERIFIED)
    model.set_verification("carol", TrustState.KEY_CHANGED)
    text = draw(render_members(model))
    assert "alice (you)" in text
    assert "bob verified" in text
    assert "carol key changed" in text
    assert "dave unverified" in text


def test_members_panel_marks_those_reached_through_the_relay() -> None:
    model = ChatModel("alice")
    model.set_room("lobby", ["alice", "bob", "carol"])
    model.apply(ChannelOpened("bob", "relay"))
    model.apply(ChannelOpened("carol", "direct"))
    lines = draw(render_members(model)).splitlines()
    assert "\u21c4 relay" in next(line for line in lines if "bob" in line)
    assert "relay" not in next(line for line in lines if "carol" in line)
    model.apply(ChannelOpened("bob", "direct"))  # the relay gave way to a direct channel
    assert "relay" not in draw(render_members(model))
    model.apply(ChannelOpened("carol", "relay"))
    model.apply(ChannelClosed("carol", "gone"))
    assert "relay" not in draw(render_members(model))


def test_private_buffer_panel_shows_the_two_people_in_it() -> None:
    model = ChatModel("alice")
    model.set_room("lobby", ["alice", "bob", "carol"])
    model.set_verification("dave", TrustState.KEY_CHANGED)
    model.buffers.switch_to(private_buffer("dave"))
    text = draw(render_members(model))
    assert text.startswith("@dave")
    assert "alice (you)" in text and "dave key changed" in text
    assert "#lobby" not in text and "bob" not in text
    model.buffers.switch_to(room_buffer("lobby"))
    assert "bob unverified" in draw(render_members(model))


def test_buffer_bar_numbers_labels_and_unread_counts() -> None:
    buffers = BufferList()
    buffers.switch_to(room_buffer("lobby"))
    buffers.append(private_buffer("bob"), Line(0.0, LineKind.MESSAGE, "x", "bob"))
    buffers.append(private_buffer("bob"), Line(0.0, LineKind.MESSAGE, "y", "bob"))
    assert render_buffer_bar(buffers).plain.split() == ["1:status", "2:#lobby", "3:@bob(2)"]


@pytest.mark.parametrize(
    "blank", ["\u3164", "\u115f", "\u1160", "\uffa0", "\u2800"], ids=lambda c: f"U+{ord(c):04X}"
)
def test_blank_looking_letters_are_drawn_as_code_points(blank: str) -> None:
    """Issue 20: Hangul fillers and the blank Braille pattern are printable letters that
    draw nothing, so a message of them looked empty (and a word could hide between
    them). Now each is drawn as its code point."""
    text = blank * 3
    drawn = draw(render_line(Line(0.0, LineKind.MESSAGE, text, "bob")), 100)
    assert blank not in drawn
    assert drawn.count(f"U+{ord(blank):04X}") == 3


def test_stacked_combining_marks_beyond_two_are_drawn_as_code_points() -> None:
    """ "Zalgo" text: dozens of marks on one letter painted over the lines around it.
    Real accents (one or two marks) are left alone."""
    accents = "e\u0301 a\u0308\u0301"
    assert sanitize(accents) == accents
    zalgo = "Z" + "\u0336\u0334\u0337" * 10
    clean = sanitize(zalgo)
    assert clean.startswith("Z\u0336\u0334\u27e8U+0337\u27e9\u27e8U+0336\u27e9")
    assert sum(unicodedata.category(c) == "Mn" for c in clean) == 2


def test_a_look_alike_sender_is_marked_before_the_nick() -> None:
    model = ChatModel("alice", contacts=lambda: frozenset({"alice", "mallory"}))
    for sender in ("aIice", "rnallory", "a1ice", "ma11ory"):
        model.apply(ChatMessageReceived(None, sender, "hi", 0.0, f"{sender}-1"))
        requests = model.buffers.get(REQUESTS)
        assert requests is not None
        line = next(ln for ln in requests.lines if ln.sender == sender)
        row = draw(render_line(line), 100)
        assert f"{LOOK_ALIKE_MARK}{sender}" in row
    honest = draw(render_line(Line(0.0, LineKind.MESSAGE, "hi", "carol")), 100)
    assert LOOK_ALIKE_MARK not in honest


def test_an_action_has_the_star_in_the_nick_column_and_the_name_once() -> None:
    drawn = draw(render_line(Line(0.0, LineKind.MESSAGE, "* alice waves", "alice", me=True)), 80)
    assert drawn.split()[1:] == ["*", "alice", "waves"]  # not "alice * alice waves"
