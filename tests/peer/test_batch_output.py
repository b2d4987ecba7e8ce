"""Batch output: one JSON object per line for any line splitter, nothing unsafe raw,
and the writer never raises on text, whatever a peer managed to put in an event."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from commons.errors import ErrorCode, P2PChatError
from commons.untrusted_text import is_unsafe_for_display
from peer.batch import error_to_json, json_line, json_line_writer
from peer.commands.table import command_word

any_code_point = st.text(st.characters(codec=None, categories=None), max_size=40)


def assert_one_inert_line(line: str) -> None:
    assert len((line + "\n").splitlines()) == 1
    assert not any(is_unsafe_for_display(c) for c in line), ascii(line)
    line.encode("utf-8")  # strict: it is text


@settings(max_examples=300, deadline=None)
@given(text=any_code_point)
def test_any_text_is_one_inert_line_that_decodes_back(text: str) -> None:
    line = json_line({"event": "message", "text": text})
    assert_one_inert_line(line)
    expected = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    assert json.loads(line)["text"] == expected


def test_every_unsafe_kind_is_escaped() -> None:
    text = "\x00\x1b\x7f\x85\x9b\u2028\u2029\u061c\u200e\u202e\u2066\u00ad\u200b\ufeff\U000e0001"
    line = json_line({"event": "message", "text": text})
    assert_one_inert_line(line)
    assert line.isascii()
    assert "\\u0085" in line and "\\u2028" in line and "\\udb40\\udc01" in line
    assert json.loads(line)["text"] == text


def test_writer_on_a_strict_utf8_stream_never_raises_on_lone_surrogates() -> None:
    """A peer's ``reject`` once carried lone surrogates into this writer, which raised
    UnicodeEncodeError outside the batch loop's error handler and ended the process."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="\n")
    write = json_line_writer(stream)
    error = P2PChatError("mallory refused the channel: \ud800\udfff", ErrorCode.HANDSHAKE_FAILED)
    write(error_to_json(error, command_word("/m\udcffsg mallory hi")))
    write({"event": "message", "text": "\u202eok\u2028"})
    lines = raw.getvalue().decode("utf-8").splitlines()
    assert len(lines) == 2
    for line in lines:
        assert_one_inert_line(line)
    first = json.loads(lines[0])
    assert first["message"] == "mallory refused the channel: \ufffd\ufffd"
    assert "\udcff" not in first["command"]
