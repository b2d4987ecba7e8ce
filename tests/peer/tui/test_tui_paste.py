"""Pasting into the input line, against a real tracker and a real second peer.

A one-line field would keep only the first line of a paste and silently drop the rest;
the chat asks instead, then sends one message per line, as text, never as commands.
"""

from __future__ import annotations

from pathlib import Path

from textual import events

from peer.events import MessageReceived
from peer.tui.app import ChatApp
from peer.tui.chat_screen import ChatScreen
from peer.tui.widgets import ChatInput, PasteDialog
from tests.peer.tui.conftest import PASSWORD, click, make_client, until
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer


async def test_multi_line_paste_asks_then_sends_each_line_as_text(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    await bob.client.create_room("lobby")
    client = make_client(tracker, tmp_path / "home-alice")
    await client.connect()
    await client.register("alice", PASSWORD)
    await client.login("alice", PASSWORD)
    await client.join_room("lobby")
    app = ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}")

    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "chat screen")
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        assert chat.model.buffers.current.id.label == "#lobby"  # the client's room is shown
        field = chat.query_one(ChatInput)

        # -- one line is an ordinary paste into the field --------------------------------
        field.post_message(events.Paste("just one line"))
        await until(pilot, lambda: field.value == "just one line", "single-line paste")
        field.value = ""
        field.post_message(events.Paste("\n\n  only this one\n"))
        await until(pilot, lambda: field.value == "  only this one", "after blank lines")
        field.value = ""

        # -- cancelled: nothing goes out ---------------------------------------------------
        field.post_message(events.Paste("never\nsent\n"))
        await until(pilot, lambda: isinstance(app.screen, PasteDialog), "paste dialog")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is chat, "dialog closed")
        notices = [line.text for line in chat.model.buffers.current.lines]
        assert "paste of 2 lines not sent" in notices

        # -- confirmed: one message per non-blank line, in order, none run as a command ---
        field.post_message(events.Paste("first line\n\n/delete lobby\r\nthird line"))
        await until(pilot, lambda: isinstance(app.screen, PasteDialog), "paste dialog")
        await click(pilot, "#send")
        received = await bob.wait_for(MessageReceived, count=3)
        assert [e.text for e in received] == ["first line", "/delete lobby", "third line"]
        assert all(e.room == "lobby" and e.sender == "alice" for e in received)
        assert "lobby" in {room.name for room in (await bob.client.list_rooms()).rooms}

        # what was typed goes after the paste, and nothing from the cancelled one came
        await pilot.press(*"typed after", "enter")
        later = await bob.wait_for(MessageReceived, count=4)
        assert [e.text for e in later][3:] == ["typed after"]
        assert not any(e.text in ("never", "sent") for e in bob.of(MessageReceived))
        await client.close()
