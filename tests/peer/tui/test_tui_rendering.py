"""Rendering: inert untrusted text, nick colours, panels and the buffer bar."""

from __future__ import annotations

import io

from rich.console import Console

from peer.events import ChannelClosed, ChannelOpened
from peer.tui.buffers import BufferList, Line, LineKind, private_buffer, room_buffer
from peer.tui.chat_model import ChatModel, Verification
from peer.tui.nick_colors import nick_color
from peer.tui.rendering import (
    render_buffer_bar,
    render_line,
    render_members,
    sanitize,
)


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
    model.set_verification("bob", Verification.VERIFIED)
    model.set_verification("carol", Verification.KEY_CHANGED)
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
    model.set_verification("dave", Verification.KEY_CHANGED)
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
