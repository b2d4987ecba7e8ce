"""The conversation in the terminal chat, without a terminal: quotes, reactions, edits,
deletes, typing expiry, read markers, the selection, the aimed commands' parsing and
history lines restored in their latest state (peer/tui/model/conversation_marks.py)."""

from __future__ import annotations

from rich.console import Console

from peer.commands import table as cmd
from peer.events import (
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    MessageRef,
    ReactionChanged,
    ReadUpTo,
    TypingChanged,
)
from peer.history.entries import HistoryEntry, StoredEntry
from peer.tui.model.buffers import Buffer, private_buffer, room_buffer
from peer.tui.model.chat_history import history_lines
from peer.tui.model.chat_model import MAX_REPLACED, ChatModel
from peer.tui.model.conversation_marks import MISSING_QUOTE, TYPING_SHOWN
from peer.tui.model.log_view import LogView
from peer.tui.model.rendering import render_line

LOBBY = room_buffer("lobby")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drawn(model: ChatModel, index: int = -1) -> str:
    buffer = model.buffers.get(LOBBY)
    assert buffer is not None
    row = render_line(buffer.lines[index])
    return "\n".join("".join(s.text for s in line) for line in row.lines(Console(width=200), 200))


def a_room(clock: Clock | None = None) -> ChatModel:
    model = ChatModel("alice", clock=clock or Clock())
    model.set_room("lobby", ["alice", "bob", "carol"], "alice")
    model.buffers.switch_to(LOBBY)
    return model


def test_a_reply_shows_a_quote_of_the_message_it_answers_or_says_it_is_missing() -> None:
    model = a_room()
    model.apply(MessageReceived("lobby", "bob", "lunch at noon?", 1000.0, "b1"))
    model.apply(
        MessageReceived("lobby", "carol", "yes", 1000.0, "c1", reply_to=MessageRef("bob", "b1"))
    )
    assert "\u21aa bob: lunch at noon?" in drawn(model)
    assert "yes" in drawn(model)
    model.apply(
        MessageReceived("lobby", "carol", "?", 1000.0, "c2", reply_to=MessageRef("bob", "zz"))
    )
    assert MISSING_QUOTE in drawn(model)
    model.apply(MessageReceived("lobby", "bob", "waves", 1000.0, "b2", me=True))
    assert "* bob waves" in drawn(model)


def test_reactions_are_counted_under_their_message_and_taken_back() -> None:
    model = a_room()
    model.apply(MessageReceived("lobby", "bob", "hello", 1000.0, "b1"))
    target = MessageRef("bob", "b1")
    for user, emoji in (("carol", "👍"), ("alice", "👍"), ("carol", "🎉")):
        assert model.apply(ReactionChanged("lobby", user, target, emoji, True, 1.0)) == [LOBBY]
    assert not model.rebuilt  # redrawn in place: the reader keeps their place
    assert [(b, old.text, len(new.reactions)) for b, old, new in model.marks.replaced][-1] == (
        LOBBY,
        "hello",
        3,
    )
    assert "👍 2  🎉 1" in drawn(model)
    model.apply(ReactionChanged("lobby", "carol", target, "👍", False, 1.0))
    assert "👍 1  🎉 1" in drawn(model)
    # A reaction to a message this buffer does not hold changes nothing on screen.
    other = MessageRef("bob", "nope")
    assert model.apply(ReactionChanged("lobby", "carol", other, "👍", True, 1.0)) == []


def test_an_edit_shows_the_latest_text_edited_and_a_delete_removes_the_text() -> None:
    model = a_room()
    model.apply(MessageReceived("lobby", "bob", "helo", 1000.0, "b1"))
    model.apply(ReactionChanged("lobby", "carol", MessageRef("bob", "b1"), "👍", True, 1.0))
    assert model.apply(MessageEdited("lobby", "bob", "b1", "hello", 2.0)) == [LOBBY]
    assert "hello (edited)" in drawn(model)
    assert "helo" not in drawn(model).replace("hello", "")
    model.apply(MessageDeleted("lobby", "bob", "b1", 3.0))
    text = drawn(model)
    assert "message deleted" in text and "hello" not in text and "👍" not in text
    # Nothing brings a deleted message back.
    assert model.apply(MessageEdited("lobby", "bob", "b1", "back", 4.0)) == []
    assert "back" not in drawn(model)


def test_an_edit_names_only_its_senders_own_message() -> None:
    model = a_room()
    model.apply(MessageReceived("lobby", "bob", "mine", 1000.0, "b1"))
    assert model.apply(MessageEdited("lobby", "carol", "b1", "hijacked", 2.0)) == []
    assert "mine" in drawn(model)


def test_private_changes_find_a_strangers_message_in_the_requests_buffer() -> None:
    model = a_room()
    model.apply(MessageReceived(None, "mallory", "hi", 1000.0, "m1"))
    touched = model.apply(MessageEdited(None, "mallory", "m1", "hello", 2.0))
    assert touched and touched[0].label == "requests"
    model.open_private("mallory")
    model.apply(MessageDeleted(None, "mallory", "m1", 3.0))
    buffer = model.buffers.get(private_buffer("mallory"))
    assert buffer is not None and buffer.lines[-1].deleted


def test_typing_shows_in_the_status_until_a_message_or_the_expiry() -> None:
    clock = Clock()
    model = a_room(clock)
    model.apply(TypingChanged("lobby", "bob", True))
    assert model.marks.status(LOBBY) == "bob is typing\u2026"
    model.apply(TypingChanged("lobby", "carol", True))
    assert model.marks.status(LOBBY) == "bob and carol are typing\u2026"
    model.apply(MessageReceived("lobby", "carol", "done", clock.now, "c1"))
    assert model.marks.status(LOBBY) == "bob is typing\u2026"
    clock.now += TYPING_SHOWN - 0.5
    assert model.marks.status(LOBBY) == "bob is typing\u2026"
    assert model.marks.next_expiry() == 1000.0 + TYPING_SHOWN
    clock.now += 1.0
    assert model.marks.status(LOBBY) == ""
    model.apply(TypingChanged("lobby", "bob", True))
    model.apply(TypingChanged("lobby", "bob", False))
    assert model.marks.status(LOBBY) == ""


def test_typing_names_are_bounded_per_buffer() -> None:
    model = a_room()
    for n in range(500):
        model.apply(TypingChanged("lobby", f"user{n}", True))
    assert len(model.marks.typists(LOBBY)) == 64
    assert model.marks.status(LOBBY).endswith("and 62 more are typing\u2026")


def test_seen_by_names_who_read_up_to_our_last_message() -> None:
    model = a_room()
    model.apply(MessageReceived("lobby", "bob", "one", 1000.0, "b1"))
    model.own_message(LOBBY, "two", "a1")
    model.apply(ReadUpTo("lobby", "carol", MessageRef("bob", "b1")))  # before ours
    assert model.marks.status(LOBBY) == ""
    model.apply(ReadUpTo("lobby", "bob", MessageRef("alice", "a1")))
    assert model.marks.status(LOBBY) == "seen by bob"
    model.apply(MessageReceived("lobby", "carol", "three", 1000.0, "c1"))
    model.apply(ReadUpTo("lobby", "carol", MessageRef("carol", "c1")))
    assert model.marks.status(LOBBY) == "seen by bob, carol"
    model.own_message(LOBBY, "four", "a2")  # a newer one: nobody has seen it yet
    assert model.marks.status(LOBBY) == ""


def test_the_selection_moves_over_messages_and_aims_the_commands() -> None:
    model = a_room()
    model.apply(MessageReceived("lobby", "bob", "one", 1000.0, "b1"))
    model.notice("carol joined", LOBBY)
    model.own_message(LOBBY, "two", "a1")
    model.apply(MessageReceived("lobby", "bob", "three", 1000.0, "b2"))
    buffer = model.buffers.current
    assert model.marks.aimed(buffer, own=False) is buffer.lines[-1]
    assert model.marks.aimed(buffer, own=True) is buffer.lines[2]
    texts = [getattr(model.marks.select(-1), "text", None) for _ in range(4)]
    assert texts == ["three", "two", "one", "one"]
    assert model.marks.aimed(buffer, own=False) is buffer.lines[0]
    assert model.marks.aimed(buffer, own=True) is None  # bob's message is selected
    assert "\u25b6" in render_line(buffer.lines[0], selected=True).prefix.plain
    assert model.marks.select(1) is buffer.lines[2]
    assert model.marks.select(1) is buffer.lines[3]
    assert model.marks.select(1) is None  # past the last: back to none
    model.marks.select(-1)
    assert model.marks.unselect() and buffer.selected is None


def test_the_terminal_commands_aim_and_the_batch_ones_name_ids() -> None:
    tui = cmd.Frontend.TUI
    assert cmd.parse_line("/reply sure thing", tui) == cmd.Aimed(cmd.AimVerb.REPLY, "sure thing")
    assert cmd.parse_line("/react 👩‍💻", tui) == cmd.Aimed(cmd.AimVerb.REACT, "👩‍💻")
    assert cmd.parse_line("/unreact 👍", tui) == cmd.Aimed(cmd.AimVerb.UNREACT, "👍")
    assert cmd.parse_line("/edit fixed", tui) == cmd.Aimed(cmd.AimVerb.EDIT, "fixed")
    assert cmd.parse_line("/unsend", tui) == cmd.Aimed(cmd.AimVerb.UNSEND)
    assert cmd.parse_line("/me waves", tui) == cmd.SendAction("waves")
    assert cmd.parse_line("/reply m1 hi") == cmd.Reply("m1", "hi")
    for bad in ("/react", "/react a b", "/unsend now", "/edit  "):
        try:
            cmd.parse_line(bad, tui)
        except cmd.CommandError:
            continue
        raise AssertionError(f"{bad!r} was accepted")


def test_history_lines_come_back_in_their_latest_state_with_quotes() -> None:
    def stored(row: int, **fields: object) -> StoredEntry:
        base = {"conversation": "#lobby", "sent_at": 1.0, "received_at": 1.0}
        return StoredEntry(row, HistoryEntry(**(base | fields)))  # type: ignore[arg-type]

    lines = history_lines(
        [
            stored(1, sender="bob", text="fixed", msg_id="b1", edited=True),
            stored(2, sender="bob", text="", msg_id="b2", deleted=True),
            stored(3, sender="alice", text="ok", msg_id="a1", own=True, reply_to=("bob", "b1")),
            stored(4, sender="bob", text="waves", msg_id="b3", me=True),
            stored(5, sender="carol", text="hi", msg_id="c1", reactions=(("bob", "👍"),)),
        ],
        Buffer(LOBBY),
    )
    assert lines[0].edited and lines[0].msg_id == "b1"
    assert lines[1].deleted
    assert lines[2].quote == "bob: fixed"
    assert lines[3].text == "* bob waves"
    assert lines[4].reactions == (("bob", "👍"),)


def test_a_changed_message_is_redrawn_in_its_row_and_the_waiting_changes_are_bounded() -> None:
    model = a_room()
    model.apply(MessageReceived("lobby", "bob", "one", 1000.0, "b1"))
    model.apply(MessageReceived("lobby", "bob", "two", 1000.0, "b2"))
    view = LogView()
    rows, _ = view.rows(list(model.buffers.current.lines))
    model.apply(MessageEdited("lobby", "bob", "b1", "uno", 2.0))
    ((_, old, new),) = model.marks.replaced
    replaced = view.replace(old, new)
    assert replaced is not None
    index, row = replaced
    assert "one" in rows[index].body.plain and "uno (edited)" in row.body.plain
    assert view.replace(old, new) is None  # drawn once; the new line holds the row now
    for n in range(MAX_REPLACED + 10):
        on = n % 2 == 0  # put, taken back, put...: each one a change
        model.apply(ReactionChanged("lobby", "carol", MessageRef("bob", "b2"), "👍", on, 1.0))
    assert len(model.marks.replaced) <= MAX_REPLACED + 1
    assert LOBBY in model.rebuilt  # too many waited: the buffer is drawn anew instead
