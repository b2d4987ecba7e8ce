"""The terminal chat shows which members it reaches through the tracker's relay."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Static

from peer.tui.app import ChatApp
from peer.tui.chat_screen import ChatScreen
from peer.tui.message_log import MessageLog
from tests.peer.tui.conftest import PASSWORD, make_client, until
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer


async def test_relayed_members_are_marked_in_the_panel_and_in_users(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob", no_listen=True)  # reachable only by relay
    carol = await peer_factory(tracker, "carol")
    await bob.client.create_room("lobby")
    await carol.client.join_room("lobby")
    client = make_client(tracker, tmp_path / "home-alice")
    await client.connect()
    await client.register("alice", PASSWORD)
    await client.login("alice", PASSWORD)
    await client.join_room("lobby")
    await asyncio.wait_for(client.wait_channels(), 10)
    assert client.channel_paths == {"bob": "relay", "carol": "direct"}
    app = ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}")

    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "chat screen")
        chat = app.screen
        assert isinstance(chat, ChatScreen)

        def panel() -> list[str]:
            return str(chat.query_one("#members", Static).render()).splitlines()

        await until(pilot, lambda: any("relay" in line for line in panel()), "relay mark")
        assert "\u21c4 relay" in next(line for line in panel() if "bob" in line)
        assert "relay" not in next(line for line in panel() if "carol" in line)

        await pilot.press(*"/users", "enter")
        log = chat.query_one("#log", MessageLog)

        def listed() -> str:
            return "\n".join(strip.text for strip in log.lines)

        await until(pilot, lambda: "(relay)" in listed(), "/users with paths")
        assert "bob [unverified] (relay)" in listed()
        assert "carol [unverified] (direct)" in listed()
