"""The rules between log rows (date, read marker, end of history), nick fitting, Alt keys."""

from __future__ import annotations

import io
import time

from rich.console import Console
from textual import _ansi_sequences
from textual._xterm_parser import XTermParser

from peer.events import MessageDelivered, MessageReceived
from peer.tui.model.buffers import Line, LineKind, room_buffer
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.log_rows import LogRow
from peer.tui.model.log_view import HISTORY_END, READ_MARKER, LogView, date_label
from peer.tui.model.rendering import fit_nick, render_line
from peer.tui.terminal_keys import ALT_DIGITS, read_alt_digits

DAY = 86400.0
MONDAY_NOON = time.mktime((2026, 11, 23, 12, 0, 0, 0, 0, -1))


def draw(row: LogRow, width: int = 60) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    return "\n".join("".join(s.text for s in line) for line in row.lines(console, width))


def labels(rows: list[LogRow]) -> list[str]:
    return [row.body.plain.strip() if row.centered else row.body.plain for row in rows]


def test_a_date_line_before_the_first_line_and_when_the_day_changes() -> None:
    lines = [
        Line(MONDAY_NOON, LineKind.MESSAGE, "monday", "bob"),
        Line(MONDAY_NOON + 60, LineKind.MESSAGE, "still monday", "bob"),
        Line(MONDAY_NOON + DAY, LineKind.MESSAGE, "tuesday", "bob"),
    ]
    view = LogView()
    rows, _ = view.rows(lines)
    assert labels(rows) == [
        date_label(MONDAY_NOON),
        "monday",
        "still monday",
        date_label(MONDAY_NOON + DAY),
        "tuesday",
    ]
    assert date_label(MONDAY_NOON) == "Monday 23 November 2026"
    more = view.more([Line(MONDAY_NOON + 2 * DAY, LineKind.MESSAGE, "wednesday", "bob")])
    assert labels(more) == [date_label(MONDAY_NOON + 2 * DAY), "wednesday"]


def test_read_marker_and_end_of_history() -> None:
    old = [
        Line(MONDAY_NOON + i, LineKind.MESSAGE, f"old {i}", "bob", history=True) for i in range(2)
    ]
    read = Line(MONDAY_NOON + 10, LineKind.MESSAGE, "read", "bob")
    new = Line(MONDAY_NOON + 20, LineKind.MESSAGE, "new", "bob")
    rows, _ = LogView().rows([*old, read, new], marker=read)
    assert labels(rows)[1:] == ["old 0", "old 1", HISTORY_END, "read", READ_MARKER, "new"]
    rows, _ = LogView().rows([*old, read], marker=read)
    assert READ_MARKER not in labels(rows)  # nothing new since: no marker


def test_focus_row_is_found_and_its_words_marked() -> None:
    lines = [Line(MONDAY_NOON + i, LineKind.MESSAGE, f"line {i} lunch", "bob") for i in range(5)]
    rows, focus = LogView().rows(lines, focus=lines[3], highlight=["lunch"])
    assert focus is not None and rows[focus].body.plain == "line 3 lunch"
    assert any(span.style and "reverse" in str(span.style) for span in rows[focus].body.spans)


def test_long_nicks_keep_both_ends_and_the_column() -> None:
    assert fit_nick("bob", 12) == "bob"
    assert fit_nick("a" * 14 + "_middle_" + "z" * 10, 12) == "aaaaaa\u2026zzzzz"
    assert len(fit_nick("x" * 32, 12)) == 12
    short = draw(render_line(Line(MONDAY_NOON, LineKind.MESSAGE, "hi", "bob")))
    long = draw(render_line(Line(MONDAY_NOON, LineKind.MESSAGE, "hi", "b" * 32)))
    assert short.index("hi") == long.index("hi")


def test_wrapped_text_hangs_under_itself() -> None:
    row = render_line(Line(MONDAY_NOON, LineKind.MESSAGE, "word " * 30, "bob"))
    console = Console(width=40, file=io.StringIO(), color_system=None)
    assert row.height(console, 40) == len(row.lines(console, 40)) > 1
    drawn = draw(row, 40).splitlines()
    start = drawn[0].index("word")
    assert all(line[:start].strip() == "" for line in drawn[1:])


def test_alt_digit_is_read_as_alt_outside_macos() -> None:
    def keys(data: str) -> list[str]:
        parser = XTermParser()
        return [getattr(e, "key", "") for e in [*parser.feed(data), *parser.feed("")]]

    saved = {s: _ansi_sequences.ANSI_SEQUENCES_KEYS.get(s) for s in ALT_DIGITS}
    try:
        assert not read_alt_digits("darwin")
        read_alt_digits("linux")
        assert keys("\x1b3") == ["alt+3"]
        assert keys("\x1ba") == ["alt+a"]
        assert keys("\x1b3x") == ["alt+3", "x"]
    finally:
        table = _ansi_sequences.ANSI_SEQUENCES_KEYS
        assert isinstance(table, dict)
        table.update({s: v for s, v in saved.items() if v is not None})


def test_a_receipt_redraws_only_the_row_of_its_message() -> None:
    model = ChatModel("alice", clock=lambda: MONDAY_NOON)
    lobby = room_buffer("lobby")
    model.set_room("lobby", ["alice", "bob"])
    model.buffers.switch_to(lobby)
    model.apply(MessageReceived("lobby", "bob", "hi", MONDAY_NOON, "b-1"))
    first = model.own_message(lobby, "first", "a-1", ("bob",))
    model.own_message(lobby, "second", "a-2", ("bob",))
    view = LogView(receipts=model.receipts.get)
    rows, _ = view.rows(list(model.buffers.current.lines))
    assert view.changed_marks() == []
    model.apply(MessageDelivered("a-1", "bob"))
    changed = view.changed_marks()
    assert len(changed) == 1
    index, row = changed[0]
    assert rows[index].body.plain.startswith("first") and row.body.plain.startswith("first")
    assert row.body.plain != rows[index].body.plain  # the mark changed
    assert first.msg_id == "a-1"
    assert view.changed_marks() == []  # drawn now
    # A peer's message reusing our msg_id never gets our mark.
    model.apply(MessageReceived("lobby", "bob", "copycat", MONDAY_NOON, "a-2"))
    more = view.more([model.buffers.current.lines[-1]])
    assert more[-1].body.plain == "copycat"
