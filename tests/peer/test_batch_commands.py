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
    Reject,
    SendPrivate,
    SendRoom,
    ShowFingerprint,
    Trust,
    Verify,
    parse_line,
)

FP = "7249 A105 7E39 03FF F5DB 1430 E839 E7E0"


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
        ("/trust bob " + FP, Trust("bob", FP)),
        ("/trust bob " + FP.replace(" ", "").lower(), Trust("bob", FP)),
        ("/verify bob " + FP.replace(" ", ":"), Verify("bob", FP)),
        ("/reject bob", Reject("bob")),
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
        "/verify",
        "/reject",
        "/reject bob now",
    ],
)
def test_usage_errors(line: str) -> None:
    with pytest.raises(CommandError, match="usage"):
        parse_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "/join bad/room",
        "/msg b@d hi",
        "/register ../x pw",
        "/trust bob 7249 A105",
        "/verify bob " + "Z" * 32,
    ],
)
def test_invalid_names(line: str) -> None:
    with pytest.raises(ValidationError):
        parse_line(line)


@pytest.mark.parametrize("line", ["/create bad room!", "/create room!", "/join two words"])
def test_a_bad_room_name_says_what_a_room_name_is(line: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_line(line)
    message = info.value.message
    assert "is not a room name" in message and "letters, digits" in message
    assert "usage: /" in message
