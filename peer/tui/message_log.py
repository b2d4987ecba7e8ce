"""The message log widget: thousands of rows laid out at once, only the visible drawn.

Textual's ``RichLog`` renders every line it is given at once (about a millisecond per
chat row here), so showing a buffer's whole kept scrollback on a switch took seconds.
:class:`MessageLog` keeps :class:`~peer.tui.model.log_rows.LogRow` objects, computes their
heights (cheap: most rows fit on one line) and draws a row only when it scrolls into
view, caching the result.

Scroll lock: :meth:`add_rows` follows new rows only when the view was at the bottom;
otherwise the view stays where the reader left it and the screen shows how many rows
arrived below. The widget posts :class:`MessageLog.Following` when the reader leaves
the bottom and when the view reaches it again, however it got there (End, PageDown,
the mouse).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from rich.segment import Segment
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from peer.tui.model.log_rows import LogRow


class MessageLog(ScrollView, can_focus=False):
    """A scrolling list of :class:`LogRow` objects."""

    # Rows wrap to the width: never a horizontal scrollbar, which would also change how
    # far down "the end" is while the vertical one appears.
    DEFAULT_CSS = """
    MessageLog { overflow-x: hidden; overflow-y: auto; }
    """

    class Following(Message):
        """The reader scrolled up (``following`` False) or back to the bottom (True)."""

        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[LogRow] = []
        self._heights: list[int] = []
        self._offsets: list[int] = []  # first screen line of each row
        self._height = 0
        self._layout_width = 0
        self._cache: LRUCache[tuple[LogRow, int], list[Strip]] = LRUCache(1024)
        #: Follow new rows: the reader is at the bottom (not scrolled up to read).
        self._stick = True

    # ------------------------------------------------------------------ content

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def at_end(self) -> bool:
        """True if the last line is in view (or there is nothing to scroll)."""
        return self.is_vertical_scroll_end or self.max_scroll_y == 0

    @property
    def following(self) -> bool:
        """True while new rows scroll into view (the reader has not scrolled up)."""
        return self._stick

    def _width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _layout(self) -> None:
        width = self._width()
        console = self.app.console
        self._layout_width = width
        self._heights = [row.height(console, width) for row in self._rows]
        self._cache.clear()
        self._place_rows()

    def _place_rows(self) -> None:
        """Offsets from the heights, then the virtual size (and the end, if following)."""
        self._offsets = []
        total = 0
        for height in self._heights:
            self._offsets.append(total)
            total += height
        self._height = total
        self.virtual_size = Size(self._layout_width, total)
        if self._stick:  # a new width (a scrollbar came) must not unstick the reader
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def set_rows(self, rows: Sequence[LogRow], *, show_row: int | None = None) -> None:
        """Replace everything; show the end, or row ``show_row`` near the top third."""
        self._rows = list(rows)
        self._stick = show_row is None
        self._layout()
        if show_row is None:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        else:
            self.show_row(show_row)
        self.refresh()

    def add_rows(self, rows: Sequence[LogRow]) -> bool:
        """Append ``rows``; follow them only if the view was at the bottom. Returns
        whether it followed."""
        if not rows:
            return self._stick
        follow = self._stick
        width = self._width()
        if width != self._layout_width:
            self._rows.extend(rows)
            self._layout()
        else:
            console = self.app.console
            for row in rows:
                height = row.height(console, width)
                self._rows.append(row)
                self._heights.append(height)
                self._offsets.append(self._height)
                self._height += height
            self.virtual_size = Size(width, self._height)
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()
        return follow

    def replace_rows(self, rows: Sequence[tuple[int, LogRow]]) -> None:
        """Put new rows in place of drawn ones (a delivery mark changed), by index."""
        if not rows:
            return
        console = self.app.console
        moved = False
        for index, row in rows:
            if not 0 <= index < len(self._rows):
                continue
            self._rows[index] = row
            height = row.height(console, self._layout_width)
            moved = moved or height != self._heights[index]
            self._heights[index] = height
        if moved:
            self._place_rows()
        self._cache.clear()
        self.refresh()

    def show_row(self, index: int) -> None:
        """Scroll so row ``index`` is in view, a third of the way down."""
        if not self._rows:
            return
        index = max(0, min(index, len(self._rows) - 1))
        top = self._offsets[index] - self.scrollable_content_region.height // 3
        self.scroll_to(y=max(0, top), animate=False, immediate=True, force=True)

    def jump_to_end(self) -> None:
        self._stick = True
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    # ------------------------------------------------------------------ drawing

    def _row_strips(self, index: int, width: int) -> list[Strip]:
        key = (self._rows[index], width)  # the row itself: an id could be reused
        strips = self._cache.get(key)
        if strips is None:
            console = self.app.console
            strips = [Strip(line) for line in self._rows[index].lines(console, width)]
            self._cache[key] = strips
        return strips

    def render_line(self, y: int) -> Strip:
        width = self._width()
        if width != self._layout_width:
            self._layout()
        style = self.rich_style
        absolute = self.scroll_offset.y + y
        if not self._rows or absolute >= self._height:
            return Strip.blank(width, style)
        index = bisect_right(self._offsets, absolute) - 1
        strips = self._row_strips(index, width)
        offset = absolute - self._offsets[index]
        strip = strips[offset] if offset < len(strips) else Strip.blank(width, style)
        return strip.crop_extend(0, width, style).apply_style(style)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        was, self._stick = self._stick, self.at_end
        if was != self._stick:
            self.post_message(self.Following(self._stick))

    # ------------------------------------------------------------------ reading back

    @property
    def lines(self) -> list[Strip]:
        """Every row drawn at the current width (tests read the log through this)."""
        width = self._width()
        return [strip for i in range(len(self._rows)) for strip in self._row_strips(i, width)]

    def text(self) -> str:
        return "\n".join(strip.text for strip in self.lines)

    def segments(self) -> list[Segment]:
        return [segment for strip in self.lines for segment in strip]
