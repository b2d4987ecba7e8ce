"""The search dialog (Ctrl+R: all buffers, Ctrl+F: the buffer shown, ``/search TEXT``).

Results come as the query is typed (after a short pause), newest first: time, buffer,
nick and the text with the matching words marked. Up/Down (or Ctrl+R again, for the
next older hit) choose one, Enter jumps to it in its buffer, Tab switches between "this
buffer" and "all buffers", Esc closes. The query runs through the ``search`` callable
the chat screen passes (the encrypted history's index, :mod:`peer.history.store`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from peer.history.entries import SearchResult, StoredEntry
from peer.history.search import highlight_spans, query_words
from peer.tui.model.nick_colors import nick_color
from peer.tui.model.rendering import TIMESTAMP_STYLE, fit_nick, sanitize

SEARCH_DELAY = 0.15
MAX_RESULTS = 100
SNIPPET_CHARS = 160

Search = Callable[[str, str | None], Awaitable[SearchResult]]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """What the dialog returns: the hit, and the query words to mark in the buffer."""

    stored: StoredEntry
    words: list[str]


def _snippet(text: str, words: list[str]) -> Text:
    flat = sanitize(text.replace("\n", " "))
    spans = highlight_spans(flat, words)
    start = max(0, spans[0][0] - SNIPPET_CHARS // 3) if spans else 0
    shown = Text(("\u2026" if start else "") + flat[start : start + SNIPPET_CHARS])
    offset = 1 if start else 0
    for begin, end in spans:
        if start <= begin < start + SNIPPET_CHARS:
            shown.stylize(
                Style(reverse=True, bold=True), begin - start + offset, end - start + offset
            )
    return shown


def describe(hit: StoredEntry, words: list[str], time_text: str) -> Text:
    """One result line: ``date time  #buffer  nick  text``."""
    entry = hit.entry
    line = Text(time_text, style=TIMESTAMP_STYLE)
    line.append(f"  {sanitize(entry.conversation)}  ", style=Style(bold=True))
    line.append(sanitize(fit_nick(entry.sender, 16)), style=Style(color=nick_color(entry.sender)))
    line.append("  ")
    line.append_text(_snippet(entry.text, words))
    return line


class SearchScreen(ModalScreen[SearchHit | None]):
    """Dismisses with the chosen :class:`SearchHit`, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close", show=False),
        Binding("tab", "toggle_scope", "This buffer / all", show=False, priority=True),
        Binding("up", "move(-1)", "Newer hit", show=False, priority=True),
        Binding("down", "move(1)", "Older hit", show=False, priority=True),
        Binding("ctrl+r", "move(1)", "Older hit", show=False, priority=True),
    ]

    def __init__(
        self,
        search: Search,
        *,
        query: str = "",
        current: str | None,
        all_buffers: bool,
        time_text: Callable[[StoredEntry], str],
    ) -> None:
        super().__init__()
        self._search = search
        self._query = query
        self._current = current
        self.all_buffers = all_buffers or current is None
        self._time_text = time_text
        self._hits: list[StoredEntry] = []
        self._words: list[str] = []
        self._timer: Timer | None = None
        self._generation = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="search-dialog"):
            yield Static(id="search-title")
            yield Input(value=self._query, placeholder="words to find", id="search-input")
            yield OptionList(id="search-results")
            yield Static(id="search-status")

    def on_mount(self) -> None:
        self._show_scope()
        self.query_one("#search-input", Input).focus()
        if self._query.strip():
            self.run_worker(self._run(self._query), exclusive=True, group="search")

    # -- scope and query -------------------------------------------------------------

    def _show_scope(self) -> None:
        where = "all buffers" if self.all_buffers else f"{self._current}"
        other = (
            ""
            if self._current is None
            else "  (Tab: " + (f"only {self._current})" if self.all_buffers else "all buffers)")
        )
        title = Text("Search ", style=Style(bold=True))
        title.append(where, style=Style(bold=True, color="cyan"))
        title.append(f"{other}  Enter jumps, Esc closes", style=TIMESTAMP_STYLE)
        self.query_one("#search-title", Static).update(title)

    def action_toggle_scope(self) -> None:
        if self._current is None:
            return
        self.all_buffers = not self.all_buffers
        self._show_scope()
        self._schedule(0.0)

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        self._query = event.value
        self._schedule(SEARCH_DELAY)

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        query = self._query
        self._timer = self.set_timer(
            max(delay, 0.001),
            lambda: self.run_worker(self._run(query), exclusive=True, group="search"),
        )

    async def _run(self, query: str) -> None:
        self._generation += 1
        generation = self._generation
        words = query_words(query)
        status = self.query_one("#search-status", Static)
        results = self.query_one("#search-results", OptionList)
        if not words:
            self._hits, self._words = [], []
            results.clear_options()
            status.update(Text("type a word (or the start of one)", style=TIMESTAMP_STYLE))
            return
        scope = None if self.all_buffers else self._current
        result = await self._search(query, scope)
        if generation != self._generation:
            return  # a newer query is under way
        self._hits, self._words = result.hits[:MAX_RESULTS], words
        results.clear_options()
        results.add_options(
            Option(describe(hit, words, self._time_text(hit)), id=str(index))
            for index, hit in enumerate(self._hits)
        )
        if self._hits:
            results.highlighted = 0
        count = len(self._hits)
        text = f"{count} match{'es' if count != 1 else ''}" if count else "no match"
        if count >= MAX_RESULTS:
            text = f"the newest {count} matches"
        if not result.complete:
            text += " (stopped after the newest candidates: type more of the word)"
        status.update(Text(text, style=TIMESTAMP_STYLE))

    # -- choosing --------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        results = self.query_one("#search-results", OptionList)
        if not self._hits:
            return
        current = results.highlighted if results.highlighted is not None else -1
        results.highlighted = max(0, min(len(self._hits) - 1, current + step))

    @on(Input.Submitted, "#search-input")
    def _submitted(self) -> None:
        index = self.query_one("#search-results", OptionList).highlighted
        if index is None or not self._hits:
            return
        self.dismiss(SearchHit(self._hits[index], self._words))

    @on(OptionList.OptionSelected, "#search-results")
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(SearchHit(self._hits[event.option_index], self._words))

    def action_cancel(self) -> None:
        self.dismiss(None)
