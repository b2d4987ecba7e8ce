"""Batch-mode line parsing, without I/O."""

from __future__ import annotations

import pytest

from commons.errors import ErrorCode, ValidationError
from peer.batch_commands import (
    CommandError,
    CreateRoom,
    DeleteRoom,
    JoinRoom,
    LeaveRoom,
    ListPeers,
    ListRooms,
    ListUsers,
    Login,
    Quit,
    Register,
    SendPrivate,
    SendRoom,
    ShowFingerprint,
    Trust,
    Verify,
    parse_line,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/register alice s3cret\n", Register("alice", "s3cret")),
        ("/login alice s3cret", Login("alice", "s3cret")),
        ("/login alice s3cret --replace-key", Login("alice", "s3cret", replace_key=True)),
        ("/peers", ListPeers()),
        ("/rooms", ListRooms()),
        ("/create lobby", CreateRoom("lobby")),
        ("/join lobby", JoinRoom("lobby")),
        ("/leave", LeaveRoom()),
        ("/delete lobby", DeleteRoom("lobby")),
        ("/users", ListUsers()),
        ("/msg bob  hello   there ", SendPrivate("bob", " hello   there ")),
        ("/fingerprint", ShowFingerprint(None)),
        ("/fingerprint bob", ShowFingerprint("bob")),
        ("/trust bob", Trust("bob")),
        ("/verify bob", Verify("bob")),
        ("/quit", Quit()),
        ("/QUIT", Quit()),
        ("hello  world ", SendRoom("hello  world ")),
        ("//slash first", SendRoom("/slash first")),
        ("héllo 👋", SendRoom("héllo 👋")),
    ],
)
def test_parse(line: str, expected: object) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize("line", ["", "   ", "\n"])
def test_blank_lines_ignored(line: str) -> None:
    assert parse_line(line) is None


def test_unknown_command() -> None:
    with pytest.raises(CommandError) as info:
        parse_line("/frobnicate x")
    assert info.value.code is ErrorCode.UNKNOWN_COMMAND


@pytest.mark.parametrize(
    "line",
    [
        "/register alice",
        "/join",
        "/join a b",
        "/msg bob",
        "/msg",
        "/quit now",
        "/trust",
        "/msg bob     ",
        "/msg bob \t \u3000",
    ],
)
def test_usage_errors(line: str) -> None:
    with pytest.raises(CommandError, match="usage"):
        parse_line(line)


@pytest.mark.parametrize(
    "line", ["/join bad/room", "/msg b@d hi", "/register ../x pw", "/register .. pw", "/join ..."]
)
def test_invalid_names(line: str) -> None:
    with pytest.raises(ValidationError):
        parse_line(line)


@pytest.mark.parametrize(
    "raw", [b"/msg bob caf\xe9", b"\xff\xfe hello", b"/\xc3\x28join x", b"/join \xed\xa0\x80"]
)
def test_lines_that_are_not_utf8_are_refused(raw: bytes) -> None:
    """stdin is read as bytes and decoded with ``surrogateescape``: the parser is the
    one place that refuses what is not text, with a message that says so."""
    with pytest.raises(CommandError, match="UTF-8"):
        parse_line(raw.decode("utf-8", "surrogateescape"))
