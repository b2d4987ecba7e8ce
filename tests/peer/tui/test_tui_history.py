"""Input history: shell-like Up/Down with a draft, and no secrets remembered."""

from __future__ import annotations

from peer.tui.model.input_history import InputHistory


def test_up_down_walks_entries_and_restores_draft() -> None:
    history = InputHistory()
    for line in ("one", "two", "three"):
        history.add(line)
    assert history.previous("draft") == "three"
    assert history.previous("three") == "two"
    assert history.previous("two") == "one"
    assert history.previous("one") is None
    assert history.next() == "two"
    assert history.next() == "three"
    assert history.next() == "draft"
    assert history.next() is None


def test_empty_history_and_down_without_navigation() -> None:
    history = InputHistory()
    assert history.previous("x") is None
    assert history.next() is None


def test_skips_blank_repeats_and_password_commands() -> None:
    history = InputHistory()
    history.add("hello")
    history.add("hello")
    history.add("   ")
    history.add("/login alice hunter2")
    history.add("/REGISTER alice hunter2")
    assert len(history) == 1
    assert history.previous("") == "hello"


def test_add_stops_navigation_and_bound_is_kept() -> None:
    history = InputHistory(max_entries=3)
    for i in range(5):
        history.add(str(i))
    assert history.previous("") == "4"
    history.add("new")
    assert history.previous("") == "new"
    assert history.previous("") == "4"
    assert history.previous("") == "3"
    assert history.previous("") is None
