"""What the chat screen's message log shows, and what the line below it says.

The log shows the buffer being shown: drawn whole when the buffer changes (or must be
rebuilt), then only the lines added since. While the user reads further up (the log is
not following its end) new lines wait below, counted; after a search hit older than the
scrollback it shows that part of the history file instead of the live buffer, until End.
The log holds at most :data:`MAX_LOG_ROWS` rows before it is rebuilt from the buffer's
scrollback, so a flood of messages cannot grow the screen's memory without end.

The screen hands over its widgets on each call; the state (which buffer is drawn and
how far, the count below, the history view) lives here.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from peer.tui.message_log import MessageLog
from peer.tui.model.buffers import Buffer, BufferId, Line
from peer.tui.model.chat_history import HitPlace
from peer.tui.model.log_rows import LogRow
from peer.tui.model.log_view import LogView, date_label
from peer.tui.model.receipts import Receipt
from peer.tui.model.rendering import plural
from peer.user_settings import Settings

#: Rows the message log may hold before it is rebuilt from the buffer's scrollback (a
#: few thousand lines).
MAX_LOG_ROWS = 10_000


class LogDisplay:
    """The message log's contents for one chat screen, styled by ``settings``."""

    def __init__(self, settings: Settings, receipts: Callable[[str], Receipt | None]) -> None:
        self._settings = settings
        self._receipts = receipts
        self.view = self._live_view()
        #: The buffer drawn, and how many of its lines ever (``Buffer.total``).
        self._shown: tuple[BufferId, int] | None = None
        #: New lines that arrived below while the user reads further up.
        self.below = 0
        #: The conversation whose older history is shown around a search hit, if any.
        self.history_view: str | None = None

    def _live_view(self) -> LogView:
        return LogView(self._settings.timestamp_format, self._settings.nick_width, self._receipts)

    def restyle(self) -> None:
        """The time format or nick width changed: draw everything again."""
        self.view = self._live_view()
        self._shown = None

    def rebuild(self) -> None:
        """Draw the buffer whole at the next :meth:`draw` (its lines changed)."""
        self._shown = None

    def show_live(self) -> None:
        """Another buffer is shown: leave the history view."""
        self.history_view = None

    def draw(self, buffer: Buffer, log: MessageLog) -> None:
        """Bring ``log`` up to date with ``buffer``."""
        if (
            self.history_view is None
            and log.row_count > MAX_LOG_ROWS
            and (log.following or log.row_count > 2 * MAX_LOG_ROWS)
        ):
            self._shown = None  # rebuilt below from the scrollback, which is bounded
        if self._shown is None or self._shown[0] != buffer.id:
            self.history_view = None
            rows, focus = self.view.rows(
                list(buffer.lines),
                marker=buffer.read_marker,
                focus=buffer.selected,
                selected=buffer.selected,
            )
            log.set_rows(rows, show_row=focus)
            self.below = 0
        else:
            new_lines = buffer.lines_since(self._shown[1])
            if new_lines:
                viewing_history = self.history_view is not None
                if viewing_history or not log.add_rows(self.view.more(new_lines)):
                    self.below += len(new_lines)
        self._shown = (buffer.id, buffer.total)

    def draw_hit(
        self, place: HitPlace, words: list[str], conversation: str, log: MessageLog
    ) -> bool:
        """Show a search hit marked, in the scrollback or among its neighbours from the
        history file (``conversation``'s); False if the message is gone."""
        buffer, line = place.buffer, place.line
        self.history_view, self.below = None, 0
        if line is None:
            return False
        if not place.context:
            rows, focus = self.view.rows(
                list(buffer.lines), marker=buffer.read_marker, highlight=words, focus=line
            )
            log.set_rows(rows, show_row=focus)
        else:
            self.history_view = conversation
            view = LogView(self._settings.timestamp_format, self._settings.nick_width)
            rows, focus = view.rows(place.context, highlight=words, focus=line)
            label = (
                f"your history around {date_label(line.timestamp)} in"
                f" {self.history_view}: End returns to the live view"
            )
            header = LogRow.rule(label, Style(bold=True, color="cyan"))
            log.set_rows([header, *rows], show_row=None if focus is None else focus + 1)
        self._shown = (buffer.id, buffer.total)
        return True

    def leave_history(self) -> None:
        """Back to the live buffer: drawn whole at the next :meth:`draw`."""
        self.history_view = None
        self._shown = None
        self.below = 0

    def followed(self, following: bool) -> None:
        """The log scrolled to its end (``following``) or away from it."""
        if following and self.history_view is None:
            self.below = 0

    def redraw_changed(
        self, buffer: Buffer, replaced: list[tuple[BufferId, Line, Line]], log: MessageLog
    ) -> None:
        """Redraw in place the rows of ``buffer``'s messages that were edited, deleted or
        reacted to (the log keeps its place); others are drawn whole when shown."""
        if self.history_view is not None or self._shown is None or self._shown[0] != buffer.id:
            return
        rows = []
        for buffer_id, old, new in replaced:
            if buffer_id == buffer.id:
                row = self.view.replace(old, new, selected=new is buffer.selected)
                if row is not None:
                    rows.append(row)
        log.replace_rows(rows)

    def redraw_marks(self, log: MessageLog) -> None:
        """Redraw the own lines whose delivery marks changed."""
        if self.history_view is None:
            log.replace_rows(self.view.changed_marks())

    def draw_below(self, below: Static, following: bool) -> None:
        """The line under the log: what waits below, or which history is shown."""
        below.set_class(bool(self.below) or self.history_view is not None or not following, "shown")
        if self.history_view is not None:
            text = f"\u25bc reading your history of {self.history_view}: End returns to now"
            if self.below:
                text += f" ({plural(self.below, 'new line')} since)"
            below.update(Text(text))
        elif self.below:
            below.update(Text(f"\u25bc {plural(self.below, 'new line')} below: End shows them"))
