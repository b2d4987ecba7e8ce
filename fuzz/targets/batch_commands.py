"""Target ``batch_commands``: one input line through the command parser and batch writer.

The line is made from bytes exactly as batch mode reads stdin (UTF-8 with
``surrogateescape``) and parsed as each front end would (:mod:`peer.commands.table`, one
table for both). A parsed command holds only real text, valid names and, for a message,
non-blank text; a refused line raises ``P2PChatError``. Either way the JSON line batch
mode would write about it is one line for any splitter, with nothing unsafe for display
in it, and decodes back to the same values.
"""

from __future__ import annotations

import dataclasses
import json

from commons.errors import P2PChatError
from commons.models import validate_username
from commons.untrusted_text import has_lone_surrogate, is_unsafe_for_display
from peer.batch import error_to_json, json_line
from peer.commands import table as cmd

MAX_LEN = 8192


def _one_inert_line(obj: dict[str, object]) -> None:
    line = json_line(obj)
    assert len((line + "\n").splitlines()) == 1
    assert not any(is_unsafe_for_display(c) for c in line)
    line.encode("utf-8")
    assert json.loads(line)["event"] == obj["event"]


def fuzz_one(data: bytes) -> None:
    line = data.decode("utf-8", "surrogateescape")
    for frontend in cmd.Frontend:
        _parse(line, frontend)


def _parse(line: str, frontend: cmd.Frontend) -> None:
    try:
        command = cmd.parse_line(line, frontend)
    except P2PChatError as exc:
        _one_inert_line(error_to_json(exc, cmd.command_word(line)))
        return
    if command is None:
        assert not line.strip()
        return
    fields = dataclasses.asdict(command)
    for value in fields.values():
        assert not (isinstance(value, str) and has_lone_surrogate(value))
    if isinstance(command, cmd.SendPrivate | cmd.SendRoom):
        assert command.text.strip()
    if isinstance(command, cmd.SendPrivate):
        validate_username(command.username)
    _one_inert_line({"event": "parsed", **fields})


def seeds() -> list[bytes]:
    return [
        b"/register alice s3cret",
        b"/login alice s3cret --replace-key",
        b"/msg bob hello \xe2\x80\xae there",
        b"/msg bob    ",
        b"//not a command",
        b"/join lobby",
        b"/fingerprint bob",
        b"hello \xc2\x85 world \xe2\x80\xa8",
        b"/\xff\xfe",
        b"/msg \xed\xa0\x80 x",
    ]
