"""Benchmark of drawing hostile message text in the terminal chat.

A peer chooses the text of every message it sends. Drawing one message must take a
bounded time whatever it holds, or a peer can make the chat lag. This measures, side by
side in one run, ``render_line`` drawn on a rich console (as the chat's log does) for:

* an ordinary 200-character message (the baseline);
* 4,000 newlines and 4,000 zero-width spaces (each drawn as an 8-character mark), both
  clipped (what the chat draws) and in full (what it drew before the bound, and what
  ``/expand`` draws on request);

and prints the medians and each hostile case's ratio to the baseline. Run from the
repository root: ``python3 bench/rendering.py``.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from peer.core.frames import MAX_TEXT_CHARS
from peer.tui.model.buffers import Line, LineKind
from peer.tui.model.rendering import render_line

CASES = {
    "ordinary 200 chars": "lorem ipsum dolor sit amet " * 7 + "consec",
    "4,000 newlines": "x" + "\n" * (MAX_TEXT_CHARS - 2) + "y",
    "4,000 zero-width spaces": "\u200b" * MAX_TEXT_CHARS,
}


def _draw_once(line: Line) -> tuple[float, int]:
    """Milliseconds to draw ``line`` on a fresh console, and the rows it took."""
    console = Console(width=100, color_system="truecolor", file=io.StringIO())
    start = time.perf_counter()
    console.print(render_line(line))
    elapsed = (time.perf_counter() - start) * 1000
    file = console.file
    assert isinstance(file, io.StringIO)
    return elapsed, file.getvalue().count("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, {args.repeats} repeats")
    runs = [
        (
            f"{name} {'in full' if full else 'clipped'}",
            Line(0.0, LineKind.MESSAGE, text, "m", full=full),
        )
        for name, text in CASES.items()
        for full in (False, True)
        if not (full and name.startswith("ordinary"))
    ]
    times: dict[str, list[float]] = {label: [] for label, _ in runs}
    rows: dict[str, int] = {}
    for _ in range(args.repeats):  # interleaved, so every case sees the same noise
        for label, line in runs:
            elapsed, rows[label] = _draw_once(line)
            times[label].append(elapsed)
    medians = {label: statistics.median(values) for label, values in times.items()}
    baseline = medians[runs[0][0]]
    print(f"{'case':36} {'median ms':>10} {'rows':>6} {'x ordinary':>11}")
    for label, _ in runs:
        ms = medians[label]
        print(f"{label:36} {ms:10.2f} {rows[label]:6d} {ms / baseline:11.1f}")


if __name__ == "__main__":
    main()
