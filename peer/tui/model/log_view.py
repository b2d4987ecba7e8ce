"""A buffer's lines -> the rows of the message log, with the rules between them, sans-I/O.

Between the lines of a buffer the log shows rules that are not lines of their own: the
date when the day changes (and before the first line), the read marker after the last
line that was there when the user left the buffer, and where the lines restored from the
history file end. :class:`LogView` builds them for a whole buffer (a switch, a redraw)
and then for each batch of new lines, remembering the last day drawn and which row each
line is, so that a delivery receipt changing an own message's mark redraws that row only
(:meth:`LogView.changed_marks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rich.style import Style

from peer.tui.model.buffers import Line, LineKind
from peer.tui.model.log_rows import LogRow
from peer.tui.model.receipts import MarkKind, Receipt
from peer.tui.model.rendering import DEFAULT_TIME_FORMAT, NICK_WIDTH, render_line

Mark = tuple[str, MarkKind] | None

DATE_STYLE = Style(dim=True, bold=True)
MARKER_STYLE = Style(color="red", bold=True)
HISTORY_END_STYLE = Style(dim=True, italic=True)
READ_MARKER = "new since you last looked"
HISTORY_END = "above: your history from earlier sessions"


def date_label(timestamp: float) -> str:
    return time.strftime("%A %d %B %Y", time.localtime(timestamp))


def _day(timestamp: float) -> tuple[int, int]:
    local = time.localtime(timestamp)
    return local.tm_year, local.tm_yday


@dataclass(slots=True)
class LogView:
    """Row builder for one shown buffer; ``time_format`` and ``nick_width`` from settings."""

    time_format: str = DEFAULT_TIME_FORMAT
    nick_width: int = NICK_WIDTH
    #: The receipt of an own message by its id (None: no marks drawn).
    receipts: Callable[[str], Receipt | None] | None = None
    _last_day: tuple[int, int] | None = None
    _last_history: bool = False
    _count: int = 0
    _row_of: dict[Line, int] = field(default_factory=dict)
    #: The row of every message with an id (an edit, a delete or a reaction redraws it).
    _message_row: dict[Line, int] = field(default_factory=dict)
    _drawn: dict[Line, Mark] = field(default_factory=dict)

    def rows(
        self,
        lines: Sequence[Line],
        *,
        marker: Line | None = None,
        highlight: Sequence[str] = (),
        focus: Line | None = None,
        selected: Line | None = None,
    ) -> tuple[list[LogRow], int | None]:
        """Rows for all of ``lines``; and the index of ``focus``'s row, if it is there.

        The read marker goes after ``marker`` unless that is the last line (nothing
        new since). ``highlight`` words are marked in ``focus`` (a search hit);
        ``selected`` is the message the user aims the conversation commands at.
        """
        self._last_day = None
        self._last_history = False
        self._count = 0
        self._row_of.clear()
        self._message_row.clear()
        self._drawn.clear()
        rows: list[LogRow] = []
        focus_row: int | None = None
        last = lines[-1] if lines else None
        for line in lines:
            rows.extend(self._rules(line))
            if line is focus:
                focus_row = len(rows)
            self._place(line, len(rows))
            rows.append(self._render(line, highlight if line is focus else (), line is selected))
            if marker is not None and line is marker and line is not last:
                rows.append(LogRow.rule(READ_MARKER, MARKER_STYLE))
        self._count = len(rows)
        return rows, focus_row

    def more(self, lines: Sequence[Line]) -> list[LogRow]:
        """Rows for lines appended after the last :meth:`rows` or :meth:`more`."""
        rows: list[LogRow] = []
        for line in lines:
            rows.extend(self._rules(line))
            self._place(line, self._count + len(rows))
            rows.append(self._render(line))
        self._count += len(rows)
        return rows

    def changed_marks(self) -> list[tuple[int, LogRow]]:
        """``(row index, new row)`` for each own message whose delivery mark is no
        longer the one drawn."""
        changed: list[tuple[int, LogRow]] = []
        for line, drawn in self._drawn.items():
            if self._mark(line) != drawn:
                changed.append((self._row_of[line], self._render(line)))
        return changed

    def replace(self, old: Line, new: Line, selected: bool = False) -> tuple[int, LogRow] | None:
        """``(row index, new row)`` for ``new`` drawn where ``old`` is; None if ``old``
        is not drawn here."""
        index = self._message_row.pop(old, None)
        if index is None:
            return None
        self._message_row[new] = index
        if self._row_of.pop(old, None) is not None:
            self._drawn.pop(old, None)
            self._row_of[new] = index
        return index, self._render(new, selected=selected)

    def _place(self, line: Line, index: int) -> None:
        if line.msg_id is not None:
            self._message_row[line] = index
        if line.kind is LineKind.OWN and line.msg_id is not None and self.receipts is not None:
            self._row_of[line] = index

    def _receipt(self, line: Line) -> Receipt | None:
        if self.receipts is None or line.kind is not LineKind.OWN or line.msg_id is None:
            return None
        return self.receipts(line.msg_id)

    def _mark(self, line: Line) -> Mark:
        receipt = self._receipt(line)
        return None if receipt is None else receipt.mark()

    def _rules(self, line: Line) -> list[LogRow]:
        rules: list[LogRow] = []
        if self._last_history and not line.history:
            rules.append(LogRow.rule(HISTORY_END, HISTORY_END_STYLE))
        self._last_history = line.history
        day = _day(line.timestamp)
        if day != self._last_day:
            rules.append(LogRow.rule(date_label(line.timestamp), DATE_STYLE))
            self._last_day = day
        return rules

    def _render(self, line: Line, highlight: Sequence[str] = (), selected: bool = False) -> LogRow:
        receipt = self._receipt(line)
        if line in self._row_of:
            self._drawn[line] = None if receipt is None else receipt.mark()
        return render_line(
            line,
            receipt,
            time_format=self.time_format,
            nick_width=self.nick_width,
            highlight=highlight,
            selected=selected,
        )
