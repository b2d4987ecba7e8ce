"""One row of the message log as ``rich`` text: a fixed prefix and a wrapped body, sans-I/O.

A chat line is drawn as ``time nick text`` where the text wraps under itself (a hanging
indent), so continuation lines never start where a time or a nick would. :class:`LogRow`
knows its height for a width without drawing anything in the common case (a body that
fits on one line), which is what lets :class:`peer.tui.message_log.MessageLog` lay out
thousands of rows at once and draw only the ones on screen.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text


class LogRow:
    """``prefix`` (one line, never wrapped) followed by ``body`` wrapped to the rest.

    ``centered`` rows (date lines, the read marker) have no prefix and are centred in
    a rule of ``fill`` characters.
    """

    __slots__ = ("body", "centered", "fill", "prefix")

    def __init__(
        self, prefix: Text, body: Text, *, centered: bool = False, fill: str = "\u2500"
    ) -> None:
        self.prefix = prefix
        self.body = body
        self.centered = centered
        self.fill = fill

    @classmethod
    def rule(cls, label: str, style: Style) -> LogRow:
        """A centred ``──── label ────`` row."""
        return cls(Text(), Text(f" {label} ", style=style), centered=True)

    def _body_width(self, width: int) -> int:
        return max(1, width - self.prefix.cell_len)

    def height(self, console: Console, width: int) -> int:
        """Lines this row takes at ``width`` cells."""
        if self.centered:
            return 1
        body_width = self._body_width(width)
        if "\n" not in self.body.plain and self.body.cell_len <= body_width:
            return 1
        return len(self.body.wrap(console, body_width, overflow="fold"))

    def lines(self, console: Console, width: int) -> list[list[Segment]]:
        """The row drawn at ``width`` cells: one list of segments per screen line."""
        if self.centered:
            label = self.body
            side = max(0, width - label.cell_len)
            left = side // 2
            style = label.style if isinstance(label.style, Style) else None
            text = Text(self.fill * left, style=style or "")
            text.append_text(label)
            text.append(self.fill * (side - left), style=style or "")
            text.truncate(width)
            return [list(text.render(console))]
        body_width = self._body_width(width)
        pad = Segment(" " * self.prefix.cell_len)
        out: list[list[Segment]] = []
        for index, part in enumerate(self.body.wrap(console, body_width, overflow="fold")):
            part.rstrip()
            head = list(self.prefix.render(console)) if index == 0 else [pad]
            out.append(head + list(part.render(console)))
        return out or [list(self.prefix.render(console))]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(console, options.max_width):
            yield from line
            yield Segment.line()
