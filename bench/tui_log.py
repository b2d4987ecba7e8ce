"""Message log benchmark: showing a buffer's whole kept scrollback (2,000 lines) on a switch.

Headless Textual app, 120 x 40. Two variants, alternated within one run, each given the
same 2,000 chat rows (:func:`peer.tui.model.log_view.LogView.rows`: time, nick, text of 20-120
characters, date rules):

* ``RichLog``: Textual's log widget, which renders every row when it is written (the
  chat used it before, and drew only the last 500 lines on a switch to stay usable);
* ``MessageLog``: :class:`peer.tui.message_log.MessageLog`, which lays rows out from
  their heights and renders only those on screen.

Reported: the median time from "switch" to the first frame drawn, and the ratio.

Usage: ``python bench/tui_log.py [--lines N] [--repeat N]``
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App, ComposeResult
from textual.widgets import RichLog

from peer.tui.message_log import MessageLog
from peer.tui.model.buffers import Line, LineKind
from peer.tui.model.log_view import LogView

SIZE = (120, 40)
WORDS = ("the quick brown fox jumps over a lazy dog lunch at noon tracker room key").split()  # noqa: SIM905


def make_lines(count: int) -> list[Line]:
    rng = random.Random(7)
    start = time.time() - count * 30
    lines = []
    for i in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 24)))
        sender = rng.choice(["alice", "bob", "carol", "dave"])
        lines.append(Line(start + i * 30, LineKind.MESSAGE, text, sender))
    return lines


class Bench(App[None]):
    def __init__(self, widget: str) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        if self.widget == "RichLog":
            yield RichLog(id="log", wrap=True, markup=False, highlight=False, min_width=1)
        else:
            yield MessageLog(id="log")


async def one(widget: str, lines: list[Line]) -> float:
    app = Bench(widget)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rows, _ = LogView().rows(lines)
        started = time.perf_counter()
        if widget == "RichLog":
            log = app.query_one(RichLog)
            for row in rows:
                log.write(row)
        else:
            app.query_one(MessageLog).set_rows(rows)
        await pilot.pause()  # the first frame with the new content
        return (time.perf_counter() - started) * 1000


async def main_async(count: int, repeat: int) -> None:
    lines = make_lines(count)
    times: dict[str, list[float]] = {"RichLog": [], "MessageLog": []}
    for _ in range(repeat):
        for widget in times:
            times[widget].append(await one(widget, lines))
    print(f"python {platform.python_version()}, {platform.machine()}, {count:,} lines")
    medians = {w: statistics.median(t) for w, t in times.items()}
    for widget, median in medians.items():
        print(f"{widget:11} switch to first frame: median {median:8.1f} ms")
    print(f"ratio RichLog / MessageLog: {medians['RichLog'] / medians['MessageLog']:.0f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.lines, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
