"""The command table both front ends share: line parsing, without I/O."""

from __future__ import annotations

import pytest

from commons.errors import ErrorCode, ValidationError
from peer.commands.current_room import aimed_at
from peer.commands.table import (
    COMMANDS,
    ClearHistory,
    CommandError,
    ControlUser,
    CreateRoom,
    DeleteRoom,
    Expand,
    Frontend,
    Help,
    JoinRoom,
    LeaveRoom,
    ListPeers,
    ListRooms,
    ListUsers,
    Login,
    MyRooms,
    OwnerAction,
    Query,
    Quit,
    Receipts,
    Register,
    Reject,
    Search,
    SendPrivate,
    SendRoom,
    SetInviteOnly,
    SetSetting,
    ShowAccess,
    ShowFingerprint,
    Switch,
    SwitchRoom,
    Trust,
    Verify,
    command_word,
    commands_for,
    parse_line,
    spec_for,
)

FP = "7249 A105 7E39 03FF F5DB 1430 E839 E7E0"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/register alice s3cret\n", Register("alice", "s3cret")),
        ("/login alice s3cret", Login("alice", "s3cret")),
        ("/login alice s3cret --replace-key", Login("alice", "s3cret", replace_key=True)),
        ("/peers", ListPeers()),
        ("/peers aaa0999", ListPeers("aaa0999")),
        ("/list", ListRooms()),
        ("/list general", ListRooms("general")),
        ("/rooms", MyRooms()),
        ("/say #lobby hello there", SendRoom("hello there", "lobby")),
        ("/leave", LeaveRoom()),
        ("/leave #den", LeaveRoom("den")),
        ("/switch #den", SwitchRoom("den")),
        ("/create lobby", CreateRoom("lobby")),
        ("/create lobby --invite-only", CreateRoom("lobby", invite_only=True)),
        ("/create lobby --relay-only", CreateRoom("lobby", relay_only=True)),
        (
            "/create lobby --relay-only --invite-only",
            CreateRoom("lobby", invite_only=True, relay_only=True),
        ),
        ("/kick bob", ControlUser(OwnerAction.KICK, "bob")),
        ("/ban bob lobby", ControlUser(OwnerAction.BAN, "bob", "lobby")),
        ("/unban bob", ControlUser(OwnerAction.UNBAN, "bob")),
        ("/invite carol lobby", ControlUser(OwnerAction.INVITE, "carol", "lobby")),
        ("/uninvite carol", ControlUser(OwnerAction.UNINVITE, "carol")),
        ("/invite-only on", SetInviteOnly(True)),
        ("/invite-only OFF lobby", SetInviteOnly(False, "lobby")),
        ("/access", ShowAccess()),
        ("/access lobby", ShowAccess("lobby")),
        ("/join lobby", JoinRoom("lobby")),
        ("/join lobby --relay-only", JoinRoom("lobby", relay_only=True)),
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
        "/peers a b",
        "/create lobby --private",
        "/create lobby --relay-only --relay-only",
        "/join lobby --invite-only",
        "/join lobby --relay-only extra",
        "/kick",
        "/ban bob lobby now",
        "/invite-only",
        "/invite-only maybe",
        "/access a b",
        "/msg bob     ",
        "/msg bob \t \u3000",
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
        "/register .. pw",
        "/join ...",
        "/trust bob 7249 A105",
        "/verify bob " + "Z" * 32,
        "/kick b@d",
        "/ban bob bad/room",
        "/peers ../x",
    ],
)
def test_invalid_names(line: str) -> None:
    with pytest.raises(ValidationError):
        parse_line(line)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/help", Help()),
        ("/help join", Help("join")),
        ("/search lunch at noon", Search("lunch at noon", all_buffers=False)),
        ("/search -all lunch", Search("lunch", all_buffers=True)),
        ("/set", SetSetting(None, None)),
        ("/set bell", SetSetting("bell", None)),
        ("/set timestamp_format %d %b %H:%M", SetSetting("timestamp_format", "%d %b %H:%M")),
        ("/clear-history", ClearHistory()),
        ("/switch #lobby", Switch("#lobby")),
        ("/query bob", Query("bob")),
        ("/receipts", Receipts()),
        ("/expand", Expand()),
        ("/msg bob hi", SendPrivate("bob", "hi")),
        ("hello", SendRoom("hello")),
    ],
)
def test_terminal_only_commands_parse_there(line: str, expected: object) -> None:
    assert parse_line(line, Frontend.TUI) == expected


@pytest.mark.parametrize(
    ("line", "frontend"),
    [
        ("/help", Frontend.BATCH),
        ("/search x", Frontend.BATCH),
        ("/set", Frontend.BATCH),
        ("/clear-history", Frontend.BATCH),
        ("/receipts", Frontend.BATCH),
        ("/expand", Frontend.BATCH),
        ("/login alice pw", Frontend.TUI),
        ("/register alice pw", Frontend.TUI),
    ],
)
def test_a_command_of_the_other_front_end_is_unknown(line: str, frontend: Frontend) -> None:
    with pytest.raises(CommandError) as info:
        parse_line(line, frontend)
    assert info.value.code is ErrorCode.UNKNOWN_COMMAND


def test_one_table_for_usage_help_and_completion() -> None:
    for frontend in Frontend:  # one spec per name in each front end
        names = [spec.name for spec in commands_for(frontend)]
        assert len(names) == len(set(names))
    assert {spec.name for spec in COMMANDS} >= {"/switch", "/say", "/rooms", "/list"}
    assert {spec.name for spec in commands_for(Frontend.BATCH)} >= {"/login", "/msg", "/quit"}
    assert "/login" not in {spec.name for spec in commands_for(Frontend.TUI)}
    spec = spec_for("/JOIN", Frontend.TUI)
    assert spec is not None and spec.usage == "/join ROOM [--relay-only]"
    assert spec_for("/login", Frontend.TUI) is None


@pytest.mark.parametrize(
    "raw", [b"/msg bob caf\xe9", b"\xff\xfe hello", b"/\xc3\x28join x", b"/join \xed\xa0\x80"]
)
def test_lines_that_are_not_utf8_are_refused(raw: bytes) -> None:
    """Batch mode reads stdin as bytes and decodes with ``surrogateescape``: the parser
    is the one place that refuses what is not text, with a message that says so."""
    for frontend in Frontend:
        with pytest.raises(CommandError, match="UTF-8"):
            parse_line(raw.decode("utf-8", "surrogateescape"), frontend)


def test_command_word_for_error_replies() -> None:
    assert "\udcff" not in command_word("/m\udcffsg bob hi")
    assert command_word("/JOIN lobby") == "join"
    assert command_word("//not a command") == "say"
    assert command_word("hello") == "say"


@pytest.mark.parametrize("line", ["/create bad room!", "/create room!", "/join two words"])
def test_a_bad_room_name_says_what_a_room_name_is(line: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_line(line)
    message = info.value.message
    assert "is not a room name" in message and "letters, digits" in message
    assert "usage: /" in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/join #lobby", JoinRoom("lobby")),
        ("/join #lobby --relay-only", JoinRoom("lobby", relay_only=True)),
        ("/create #café --invite-only", CreateRoom("café", invite_only=True)),
        ("/create cafe\u0301", CreateRoom("café")),  # typed decomposed, sent as NFC
        ("/join 東京", JoinRoom("東京")),
        ("/delete #東京", DeleteRoom("東京")),
        ("/list café", ListRooms("café")),
    ],
)
def test_room_names_are_unicode_with_an_optional_hash(line: str, expected: object) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize("line", ["/join ##lobby", "/join #", "/create #a#b", "/join 👩\u200d💻"])
def test_only_one_leading_hash_is_dropped(line: str) -> None:
    with pytest.raises(CommandError, match="is not a room name"):
        parse_line(line)


def test_a_command_without_a_room_is_aimed_at_the_current_room() -> None:
    assert aimed_at(parse_line("/users"), "den") == ListUsers("den")  # type: ignore[arg-type]
    assert aimed_at(parse_line("/leave"), "den") == LeaveRoom("den")  # type: ignore[arg-type]
    assert aimed_at(parse_line("hello"), "den") == SendRoom("hello", "den")  # type: ignore[arg-type]
    kick = aimed_at(parse_line("/kick bob"), "den")  # type: ignore[arg-type]
    assert kick == ControlUser(OwnerAction.KICK, "bob", "den")
    assert aimed_at(parse_line("/kick bob lobby"), "den") == ControlUser(  # type: ignore[arg-type]
        OwnerAction.KICK, "bob", "lobby"
    )
    assert aimed_at(parse_line("/access"), "den") == ShowAccess("den")  # type: ignore[arg-type]
    assert aimed_at(parse_line("/say lobby x"), "den") == SendRoom("x", "lobby")  # type: ignore[arg-type]
    assert aimed_at(parse_line("/users"), None) == ListUsers()  # type: ignore[arg-type]
