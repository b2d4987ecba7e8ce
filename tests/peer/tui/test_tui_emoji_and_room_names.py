"""Emoji typed in the input line go out whole and are drawn whole, and a room in any
script is joined as IRC users write it (``/join #café``), on the real screen against a
real tracker and a real peer. Invisible characters that join nothing are still marked."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from peer.events import MemberJoined, MessageReceived
from peer.tui.app import ChatApp
from peer.tui.chat_screen import ChatScreen
from peer.tui.message_log import MessageLog
from peer.tui.model.buffers import room_buffer
from tests.commons.test_untrusted_text import WHOLE_EMOJI
from tests.peer.tui.conftest import PASSWORD, burst, make_client, until
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer

TYPED = "emoji " + " ".join(WHOLE_EMOJI)


def static_text(screen: ChatScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def log_text(screen: ChatScreen) -> str:
    return screen.query_one("#log", MessageLog).text()


async def test_emoji_typed_in_the_input_line_arrive_and_show_whole(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    await bob.client.create_room("café")
    home = tmp_path / "home-alice"
    client = make_client(tracker, home)
    await client.connect()
    await client.register("alice", PASSWORD)
    await client.login("alice", PASSWORD)
    app = ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}", home=home)

    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "chat screen")
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        await pilot.press(*"/join #café", "enter")
        await until(pilot, lambda: chat.model.room == "café", "joined café")
        assert chat.model.buffers.current.id == room_buffer("café")
        await until(pilot, lambda: "#café" in static_text(chat, "#bufferbar"), "buffer bar")
        assert "#café" in static_text(chat, "#topbar")
        await bob.wait_for(MemberJoined, lambda e: e.username == "alice")

        # typed key by key, as the terminal driver delivers them (Pilot.press cannot
        # name most emoji parts): the joiners and tags stay
        burst(app, [*TYPED, "enter"])
        got = await bob.wait_for(MessageReceived, lambda e: e.sender == "alice")
        assert got[0].text == TYPED, (ascii(got[0].text), ascii(TYPED))
        assert got[0].text.encode() == TYPED.encode() and got[0].room == "café"
        await until(pilot, lambda: TYPED in log_text(chat), "own line drawn whole")

        await bob.client.send_room("café", "from bob " + " ".join(WHOLE_EMOJI))
        await until(pilot, lambda: "from bob " + " ".join(WHOLE_EMOJI) in log_text(chat), "whole")
        assert "U+200D" not in log_text(chat) and "U+E00" not in log_text(chat)

        # joiners that join nothing are still shown by code point
        await bob.client.send_room("café", "lone a\u200db \U0001f469\u200d end\U000e0041")
        await until(pilot, lambda: "lone " in log_text(chat), "hostile line")
        assert "a\u27e8U+200D\u27e9b \U0001f469\u27e8U+200D\u27e9 end\u27e8U+E0041\u27e9" in (
            log_text(chat)
        )

        # a room in a script with no Latin letter at all, joined and drawn the same way
        await bob.client.create_room("東京")
        await pilot.press(*"/join 東京", "enter")
        await until(pilot, lambda: chat.model.room == "東京", "joined 東京")
        await until(pilot, lambda: "#東京" in static_text(chat, "#bufferbar"), "buffer bar")
        await bob.wait_for(MemberJoined, lambda e: e.room == "東京" and e.username == "alice")
        await bob.client.send_room("東京", "こんにちは")
        await until(pilot, lambda: "こんにちは" in log_text(chat), "message in 東京")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "app exit")
