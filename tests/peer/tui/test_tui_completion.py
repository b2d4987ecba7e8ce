"""Tab completion of commands, nicks, rooms and buffers, with cycling."""

from __future__ import annotations

from peer.tui.model.completion import CompletionSources, TabCompleter

SOURCES = CompletionSources(
    users=["alice", "bob", "Bella", "carol"],
    rooms=["lobby", "lounge", "dev"],
    buffers=["status", "#lobby", "@bob"],
)


def step(completer: TabCompleter, text: str, cursor: int) -> tuple[str, int]:
    result = completer.complete(text, cursor, SOURCES)
    assert result is not None
    return result


def complete(text: str, cursor: int | None = None) -> tuple[str, int] | None:
    return TabCompleter().complete(text, len(text) if cursor is None else cursor, SOURCES)


def test_commands_at_line_start() -> None:
    assert complete("/he") == ("/help ", 6)
    assert complete("/zz") is None


def test_command_cycles_on_repeated_tab() -> None:
    completer = TabCompleter()
    first = completer.complete("/l", 2, SOURCES)
    assert first == ("/leave ", 7)
    assert first is not None
    second = completer.complete(first[0], first[1], SOURCES)
    assert second == ("/list ", 6)
    assert completer.complete(*second, SOURCES) == ("/leave ", 7)
    completer = TabCompleter()
    text, cursor = step(completer, "/", 1)
    seen = {text}
    for _ in range(30):
        text, cursor = step(completer, text, cursor)
        seen.add(text)
    assert {"/help ", "/join ", "/msg ", "/quit "} <= seen


def test_user_argument_and_case_insensitive_cycle() -> None:
    completer = TabCompleter()
    text, cursor = step(completer, "/msg b", 6)
    assert text == "/msg Bella "
    text, cursor = step(completer, text, cursor)
    assert text == "/msg bob "
    text, cursor = step(completer, text, cursor)
    assert text == "/msg Bella "


def test_room_argument_accepts_hash() -> None:
    assert complete("/join lo") == ("/join lobby ", 12)
    assert complete("/join #d") == ("/join dev ", 10)
    assert complete("/delete de") == ("/delete dev ", 12)


def test_buffer_argument() -> None:
    assert complete("/switch #") == ("/switch #lobby ", 15)
    assert complete("/switch @") == ("/switch @bob ", 13)


def test_nick_in_text_and_at_start() -> None:
    assert complete("car") == ("carol: ", 7)
    assert complete("hello car") == ("hello carol ", 12)
    assert complete("/msg bob hi car") == ("/msg bob hi carol ", 18)


def test_no_completion_where_nothing_fits() -> None:
    assert complete("/create lo") is None
    assert complete("/join lobby extra") is None
    assert complete("zzz") is None


def test_completes_in_the_middle_keeping_the_rest() -> None:
    assert complete("al is here", 2) == ("alice: is here", 6)
    assert complete("hi bo there", 5) == ("hi bob there", 6)


def test_editing_restarts_completion() -> None:
    completer = TabCompleter()
    text, _ = step(completer, "/msg a", 6)
    assert text == "/msg alice "
    assert completer.complete("/msg c", 6, SOURCES) == ("/msg carol ", 11)
