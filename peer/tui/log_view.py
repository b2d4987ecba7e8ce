"""A buffer's lines -> the rows of the message log, with the rules between them, sans-I/O.

Between the lines of a buffer the log shows rules that are not lines of their own: the
date when the day changes (and before the first line), the read marker after the last
line that was there when the user left the buffer, and where the lines restored from the
history file end. :class:`LogView` builds them for a whole buffer (a switch, a redraw)
and then for each batch of new lines, remembering the last day drawn.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style

from peer.tui.buffers import Line
from peer.tui.log_rows import LogRow
from peer.tui.rendering import DEFAULT_TIME_FORMAT, NICK_WIDTH, render_line

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
    _last_day: tuple[int, int] | None = None
    _last_history: bool = False

    def rows(
        self,
        lines: Sequence[Line],
        *,
        marker: Line | None = None,
        highlight: Sequence[str] = (),
        focus: Line | None = None,
    ) -> tuple[list[LogRow], int | None]:
        """Rows for all of ``lines``; and the index of ``focus``'s row, if it is there.

        The read marker goes after ``marker`` unless that is the last line (nothing
        new since). ``highlight`` words are marked in ``focus`` (a search hit).
        """
        self._last_day = None
        self._last_history = False
        rows: list[LogRow] = []
        focus_row: int | None = None
        last = lines[-1] if lines else None
        for line in lines:
            if line is focus:
                rows.extend(self._rules(line))
                focus_row = len(rows)
                rows.append(self._render(line, highlight))
            else:
                rows.extend(self._rows_for(line))
            if marker is not None and line is marker and line is not last:
                rows.append(LogRow.rule(READ_MARKER, MARKER_STYLE))
        return rows, focus_row

    def more(self, lines: Sequence[Line]) -> list[LogRow]:
        """Rows for lines appended after the last :meth:`rows` or :meth:`more`."""
        rows: list[LogRow] = []
        for line in lines:
            rows.extend(self._rows_for(line))
        return rows

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

    def _render(self, line: Line, highlight: Sequence[str] = ()) -> LogRow:
        return render_line(
            line, time_format=self.time_format, nick_width=self.nick_width, highlight=highlight
        )

    def _rows_for(self, line: Line) -> list[LogRow]:
        return [*self._rules(line), self._render(line)]
