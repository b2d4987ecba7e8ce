"""Hostile text on the real screen: marks instead of invisible or direction-changing
characters, a long message clipped with a visible way to read all of it."""

from __future__ import annotations

from pathlib import Path

from commons.untrusted_text import is_unsafe_for_display
from peer.tui.app import ChatApp
from peer.tui.chat_screen import ChatScreen
from peer.tui.log_display import MAX_LOG_ROWS
from peer.tui.message_log import MessageLog
from peer.tui.model.buffers import MAX_SCROLLBACK, REQUESTS, private_buffer
from peer.tui.model.rendering import MAX_SHOWN_LINES
from tests.peer.tui.conftest import PASSWORD, make_client, until
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer


def log_text(screen: ChatScreen) -> str:
    return screen.query_one("#log", MessageLog).text()


async def test_a_long_hostile_message_is_clipped_marked_and_expandable(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    home = tmp_path / "home-alice"
    client = make_client(tracker, home)
    await client.connect()
    await client.register("alice", PASSWORD)
    await client.login("alice", PASSWORD)
    app = ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}", home=home)
    lines = [f"line {n} \u202eevil\u200b\u061c" for n in range(1, 201)]

    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "chat screen")
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        await bob.client.send_private("alice", "\n".join(lines))
        await until(pilot, lambda: chat.model.buffers.get(REQUESTS), "a stranger's request")
        await pilot.press(*"/query bob", "enter")  # opening it moves bob's lines to @bob
        await until(pilot, lambda: chat.model.buffers.current.id == private_buffer("bob"), "@bob")
        await until(pilot, lambda: "more lines" in log_text(chat), "clipped message")
        shown = log_text(chat)
        assert f"line {MAX_SHOWN_LINES} " in shown and f"line {MAX_SHOWN_LINES + 1} " not in shown
        hidden = "".join(lines[MAX_SHOWN_LINES:])
        assert f"{200 - MAX_SHOWN_LINES} more lines, {len(hidden):,} more characters:" in shown
        assert "\u27e8U+202E\u27e9evil\u27e8U+200B\u27e9\u27e8U+061C\u27e9" in shown
        assert not any(is_unsafe_for_display(c) for c in shown if c != "\n")

        await pilot.press(*"/expand", "enter")
        await until(pilot, lambda: "line 200 " in log_text(chat), "whole message")
        shown = log_text(chat)
        assert "the whole message from bob (200 lines)" in shown
        assert all(f"line {n} " in shown for n in (25, 100, 199))
        assert not any(is_unsafe_for_display(c) for c in shown if c != "\n")

        # A flood of messages never grows the log past its bound: it is rebuilt from the
        # buffer's scrollback (which forgets old lines) once it holds MAX_LOG_ROWS rows.
        log = chat.query_one("#log", MessageLog)
        biggest = 0
        for burst in range(MAX_LOG_ROWS // MAX_SCROLLBACK + 2):
            for n in range(MAX_SCROLLBACK):
                chat.model.own_message(private_buffer("bob"), f"flood {burst}.{n}")
            chat.sync()
            biggest = max(biggest, log.row_count)
        await pilot.pause()
        assert MAX_LOG_ROWS < biggest <= MAX_LOG_ROWS + MAX_SCROLLBACK + 10
        assert log.row_count <= MAX_LOG_ROWS
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "app exit")
