"""The conversation in the terminal chat, end to end: a real tracker on 127.0.0.1 with
TLS, bob a real peer, alice the app driven by Pilot. Replies, reactions, edits,
deletes, ``/me``, typing and read markers each way, the selection keys, and a restart
that shows the latest state from the sealed history."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from peer.events import (
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    MessageRef,
    ReactionChanged,
    ReadUpTo,
    TypingChanged,
)
from peer.tui.chat_screen import ChatScreen
from peer.tui.model import conversation_marks
from peer.tui.model.buffers import Line, private_buffer, room_buffer
from peer.tui.widgets import ChatInput
from tests.peer.tui.conftest import burst, until
from tests.peer.tui.test_tui_daily_use import (
    SIZE,
    chat_of,
    history_open,
    log_text,
    logged_in_app,
)
from tests.peers import PeerFactory, PeerHandle
from tracker.server.server import TrackerServer


def bar(chat: ChatScreen) -> str:
    return str(chat.query_one("#bufferbar", Static).render())


def lobby_lines(chat: ChatScreen) -> list[Line]:
    buffer = chat.model.buffers.get(room_buffer("lobby"))
    assert buffer is not None
    return list(buffer.lines)


def line_of(chat: ChatScreen, text: str) -> Line:
    return next(ln for ln in reversed(lobby_lines(chat)) if text in ln.text)


async def type_line(pilot: Pilot[Any], text: str) -> None:
    """Type ``text`` key by key, as the terminal delivers it (Pilot.press cannot name an
    emoji), and Enter; return once the input line has taken it."""
    burst(pilot.app, [*text, "enter"])
    field = pilot.app.screen.query_one(ChatInput)
    await until(pilot, lambda: field.value == "", f"{text!r} submitted")


async def in_the_lobby(
    tracker: TrackerServer, peer_factory: PeerFactory, pilot: Pilot[Any], chat: ChatScreen
) -> PeerHandle:
    bob = await peer_factory(tracker, "bob")
    await type_line(pilot, "/create lobby")
    await until(pilot, lambda: "lobby" in chat.model.joined, "lobby created")
    await bob.client.join_room("lobby")
    await chat.client.wait_channels()
    await until(pilot, lambda: "bob" in chat.model.members, "bob in the member list")
    return bob


async def test_reply_react_edit_unsend_and_me_from_the_input_line_reach_bob(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        bob = await in_the_lobby(tracker, peer_factory, pilot, chat)
        first = await bob.client.send_room("lobby", "lunch at noon?")
        await until(pilot, lambda: "lunch at noon?" in log_text(chat), "bob's message")

        await type_line(pilot, "/react 👍")
        got = await bob.wait_for(ReactionChanged)
        assert got[0].target == MessageRef("bob", first.msg_id) and got[0].emoji == "👍"
        await until(pilot, lambda: "👍 1" in log_text(chat), "the reaction drawn")

        await type_line(pilot, "/reply yes, where?")
        (reply,) = await bob.wait_for(MessageReceived, lambda e: e.text == "yes, where?")
        assert reply.reply_to == MessageRef("bob", first.msg_id)
        await until(pilot, lambda: "\u21aa bob: lunch at noon?" in log_text(chat), "the quote")

        await type_line(pilot, "/edit yes! where?")
        (edit,) = await bob.wait_for(MessageEdited)
        assert (edit.msg_id, edit.text) == (reply.msg_id, "yes! where?")
        await until(pilot, lambda: "yes! where? (edited)" in log_text(chat), "edited drawn")

        await type_line(pilot, "/me waves")
        (action,) = await bob.wait_for(MessageReceived, lambda e: e.me)
        assert action.text == "waves"
        await until(pilot, lambda: "* alice waves" in log_text(chat), "the action drawn")

        await type_line(pilot, "/unsend")  # the last of ours: the action
        (deleted,) = await bob.wait_for(MessageDeleted)
        assert deleted.msg_id == action.msg_id
        await until(pilot, lambda: "* alice waves" not in log_text(chat), "deleted")
        assert "message deleted" in log_text(chat)

        # Alt+Up twice from none: the message before the last (deleted ones are skipped).
        await pilot.press("alt+up", "alt+up")
        buffer = chat.model.buffers.current
        assert buffer.selected is not None and buffer.selected.text == "lunch at noon?"
        assert "\u25b6" in log_text(chat)
        await type_line(pilot, "/react 🎉")
        more = await bob.wait_for(ReactionChanged, count=2)
        assert more[1].target == MessageRef("bob", first.msg_id) and more[1].emoji == "🎉"
        await until(pilot, lambda: "👍 1  🎉 1" in log_text(chat), "both reactions drawn")
        assert buffer.selected is None  # the command done, the selection ends
        await pilot.press("alt+up", "escape")
        assert buffer.selected is None
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")


async def test_bobs_reply_edit_delete_reaction_typing_and_read_marker_show(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        bob = await in_the_lobby(tracker, peer_factory, pilot, chat)
        await type_line(pilot, "who is in?")
        (mine,) = await bob.wait_for(MessageReceived, lambda e: e.text == "who is in?")

        assert bob.client.typing(True, room="lobby")
        await until(pilot, lambda: "bob is typing\u2026" in bar(chat), "typing shown")
        answer = await bob.client.reply(mine.msg_id, "me")
        await until(pilot, lambda: "\u21aa alice: who is in?" in log_text(chat), "the quote")
        assert "typing" not in bar(chat)  # his message ends it

        # Shown, so alice marks it read; bob marks hers read too.
        got = await bob.wait_for(ReadUpTo)
        assert got[-1].up_to == MessageRef("bob", answer.msg_id)
        assert bob.client.mark_read(mine.msg_id)
        await until(pilot, lambda: "seen by bob" in bar(chat), "seen by bob")

        await bob.client.react(mine.msg_id, "❤️")
        await until(pilot, lambda: "❤️ 1" in log_text(chat), "bob's reaction")
        await bob.client.edit(answer.msg_id, "me too")
        await until(pilot, lambda: "me too (edited)" in log_text(chat), "bob's edit")
        await bob.client.delete(answer.msg_id)
        await until(pilot, lambda: "me too" not in log_text(chat), "bob's delete")
        assert "message deleted" in log_text(chat)

        # Alice typing a message (not a command) tells bob, and clearing the line stops it.
        def count(active: bool) -> int:
            return sum(e.active is active for e in bob.of(TypingChanged))

        started, stopped = count(True), count(False)
        await pilot.press(*"hel")
        typing = await bob.wait_for(TypingChanged, lambda e: e.active, count=started + 1)
        assert (typing[-1].room, typing[-1].username) == ("lobby", "alice")
        await pilot.press("backspace", "backspace", "backspace")
        await bob.wait_for(TypingChanged, lambda e: not e.active, count=stopped + 1)
        await pilot.press(*"/react ")  # a command being typed is no message: no typing
        await bob.client.send_room("lobby", "sync")  # bob's channel is in order: after it...
        await until(pilot, lambda: "sync" in log_text(chat), "bob's sync")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")
    assert count(True) == started + 1


async def test_a_restart_shows_the_latest_state_from_the_history(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    home = tmp_path / "home-alice"
    app = await logged_in_app(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        await history_open(pilot, chat)
        bob = await in_the_lobby(tracker, peer_factory, pilot, chat)
        hello = await bob.client.send_room("lobby", "helo all")
        await until(pilot, lambda: "helo all" in log_text(chat), "bob's message")
        await bob.client.edit(hello.msg_id, "hello all")
        await until(pilot, lambda: "hello all (edited)" in log_text(chat), "bob's edit")
        gone = await bob.client.send_room("lobby", "oops wrong room")
        await until(pilot, lambda: "oops wrong room" in log_text(chat), "bob's slip")
        await bob.client.delete(gone.msg_id)
        await until(pilot, lambda: "oops" not in log_text(chat), "bob's delete")
        await pilot.press("alt+up", "alt+up")  # over the deleted one: bob's hello
        await type_line(pilot, "/react 👋")
        await bob.wait_for(ReactionChanged)
        await type_line(pilot, "/reply hi bob")
        await bob.wait_for(MessageReceived, lambda e: e.text == "hi bob")
        await type_line(pilot, "/edit hi bob!")
        await bob.wait_for(MessageEdited)
        await type_line(pilot, "typo here")
        await bob.wait_for(MessageReceived, lambda e: e.text == "typo here")
        await type_line(pilot, "/unsend")
        await bob.wait_for(MessageDeleted)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")

    app = await logged_in_app(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        await until(pilot, lambda: any(ln.history for ln in lobby_lines(chat)), "history back")
        hello_line = line_of(chat, "hello all")
        assert hello_line.edited and hello_line.reactions == (("alice", "👋"),)
        ours = line_of(chat, "hi bob!")
        assert ours.edited and ours.quote == "bob: hello all"
        assert [ln.deleted for ln in lobby_lines(chat)].count(True) == 2
        text = log_text(chat)
        assert "oops" not in text and "typo here" not in text
        assert "hello all (edited)" in text and "👋 1" in text
        # Still aimed at after the restart: the client learns where the message is.
        await type_line(pilot, "/react 👍")
        await until(pilot, lambda: "👍 1" in log_text(chat), "a reaction after the restart")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")


async def test_typing_expires_on_screen_without_news_from_the_typist(
    tracker: TrackerServer,
    peer_factory: PeerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Shown 0.5 s instead of 6 s: the screen's own timer ends it, no event needed.
    monkeypatch.setattr(conversation_marks, "TYPING_SHOWN", 0.5)
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        bob = await in_the_lobby(tracker, peer_factory, pilot, chat)
        assert bob.client.typing(True, room="lobby")
        await until(pilot, lambda: "bob is typing\u2026" in bar(chat), "typing shown")
        started = time.monotonic()
        await until(pilot, lambda: "typing" not in bar(chat), "typing expired")
        assert time.monotonic() - started < 3.0
        assert not [e for e in bob.of(TypingChanged) if not e.active]  # bob never stopped
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")


async def test_the_conversation_in_a_private_buffer(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        bob = await peer_factory(tracker, "bob")
        await type_line(pilot, "/msg bob hi bob")
        (hi,) = await bob.wait_for(MessageReceived, lambda e: e.text == "hi bob")
        await pilot.press("f2")  # @bob
        assert chat.model.buffers.current.id == private_buffer("bob")
        psst = await bob.client.reply(hi.msg_id, "psst")
        await until(pilot, lambda: "\u21aa alice: hi bob" in log_text(chat), "private quote")
        read = await bob.wait_for(ReadUpTo)  # shown: alice marks it read
        assert read[-1].room is None and read[-1].up_to == MessageRef("bob", psst.msg_id)

        assert bob.client.typing(True, user="alice")
        await until(pilot, lambda: "bob is typing\u2026" in bar(chat), "private typing")
        await type_line(pilot, "/react 👀")
        (reaction,) = await bob.wait_for(ReactionChanged)
        assert reaction.room is None and reaction.target == MessageRef("bob", psst.msg_id)
        await until(pilot, lambda: "👀 1" in log_text(chat), "private reaction")
        await type_line(pilot, "/me nods")
        (nod,) = await bob.wait_for(MessageReceived, lambda e: e.me)
        assert nod.room is None and nod.text == "nods"
        await type_line(pilot, "/edit hi bob, again")  # the last of ours: the action
        assert (await bob.wait_for(MessageEdited))[0].msg_id == nod.msg_id
        await until(pilot, lambda: "* alice hi bob, again (edited)" in log_text(chat), "edit")
        assert bob.client.mark_read(nod.msg_id)
        await until(pilot, lambda: "seen by bob" in bar(chat), "seen in private")
        await pilot.press("f1")
        await type_line(pilot, "/unsend")  # the status buffer is no conversation
        await until(pilot, lambda: "this is the status buffer" in log_text(chat), "refused")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")


async def test_no_read_marker_while_the_terminal_has_not_the_focus(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        bob = await in_the_lobby(tracker, peer_factory, pilot, chat)
        app.app_focus = False  # the user is in another window
        away = await bob.client.send_room("lobby", "are you there?")
        await until(pilot, lambda: "are you there?" in log_text(chat), "drawn, unseen")
        probe = await bob.client.send_room("lobby", "second")  # after the first, in order
        await until(pilot, lambda: "second" in log_text(chat), "second drawn")
        assert not bob.of(ReadUpTo)
        app.app_focus = True  # back: now the user sees it
        (read,) = await bob.wait_for(ReadUpTo)
        assert read.up_to == MessageRef("bob", probe.msg_id) and away.msg_id != probe.msg_id
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")
