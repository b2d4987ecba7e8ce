"""Target ``rendering``: untrusted text on the terminal chat and in batch output.

The text is the input read as UTF-16 code units, so every string Python can hold is
reachable (lone surrogates included). The sanitiser and the drawn message never hold
a character that is unsafe for display, the drawing is bounded (at most
``MAX_SHOWN_LINES`` lines and ``MAX_SHOWN_CHARS`` characters before "… N more characters"),
and the batch JSON line of the same text is one inert line that decodes back.
"""

from __future__ import annotations

import io
import json

from rich.console import Console

from commons.untrusted_text import has_lone_surrogate, is_unsafe_for_display
from fuzz.byte_reader import utf16_text
from peer.batch import json_line
from peer.tui.model.buffers import Line, LineKind
from peer.tui.model.rendering import MAX_SHOWN_CHARS, MAX_SHOWN_LINES, render_line, sanitize

MAX_LEN = 16_384
WIDTH = 80
#: Rows one clipped message may take at WIDTH columns: its lines, the wrapping of its
#: characters (wide ones count twice, in a text column of at least 40), the notice.
MAX_ROWS = MAX_SHOWN_LINES + 2 * MAX_SHOWN_CHARS // 40 + 2
_console = Console(width=WIDTH, color_system=None, file=io.StringIO())


def _inert(text: str) -> bool:
    return not any(is_unsafe_for_display(c) for c in text)


def fuzz_one(data: bytes) -> None:
    text = utf16_text(data)
    assert _inert(sanitize(text))
    _console.file = io.StringIO()  # a fresh one each time: the drawing is kept in it
    _console.print(render_line(Line(0.0, LineKind.MESSAGE, text, "bob")))
    drawn = _console.file.getvalue()
    rows = drawn.splitlines()
    assert len(rows) <= MAX_ROWS, len(rows)
    assert all(_inert(row) for row in rows)
    line = json_line({"event": "message", "text": text})
    assert len((line + "\n").splitlines()) == 1 and _inert(line)
    decoded = json.loads(line)["text"]
    assert decoded == text or has_lone_surrogate(text)


def seeds() -> list[bytes]:
    def u16(text: str) -> bytes:
        return text.encode("utf-16-le", "surrogatepass")

    return [
        u16("hello 👋 مرحبا"),
        u16("\x1b[2J\u202egnp.exe\u2066\u061c\u200b\u00ad\ufeff\U000e0041"),
        u16("x" + "\n" * 3998 + "y"),
        u16("\u200b" * 4000),
        u16("\ud800 lone \udfff \u2028 \u2029 \x85"),
        u16("你好" * 1200),
    ]
