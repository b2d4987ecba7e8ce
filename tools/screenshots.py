"""Draw the documentation's screenshots: the chat, history after a restart, and search.

``python3 -m tools.screenshots [FOLDER]`` (default ``docs/screenshots``) starts a real
tracker on 127.0.0.1 in a temporary folder, logs in alice in the terminal UI (headless)
and bob and carol as plain clients, has them talk in a room and privately, and saves
what alice sees (``chat.svg``). Then alice quits and starts the chat again: her buffers
come back from her encrypted history (``history.svg``), and Ctrl+R searches it
(``search.svg``). Nothing is staged: every line went through the encrypted channels
and the history file.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crypto.keystore import TEST_KDF_PARAMS
from peer.client.chat_client import ChatClient
from peer.config import PeerConfig
from peer.tui.app import ChatApp
from peer.tui.chat_screen import ChatScreen
from peer.tui.message_log import MessageLog
from peer.tui.model.buffers import room_buffer
from peer.tui.model.receipts import MarkKind
from peer.tui.search_screen import SearchScreen
from tracker.config import TrackerConfig
from tracker.server.server import TrackerServer

SIZE = (104, 20)
DEADLINE = 15.0


async def _until(pilot: Any, condition: Callable[[], object]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the screenshot scene did not come together")
        await pilot.pause(0.02)


async def _type(pilot: Any, line: str) -> None:
    await pilot.press(*line, "enter")


def _chat(app: ChatApp) -> ChatScreen:
    assert app.chat is not None
    return app.chat


async def draw() -> dict[str, str]:
    """Play the scenes and return the SVG of each of alice's screens, by file name."""
    password = secrets.token_urlsafe(12)  # throwaway accounts in a throwaway tracker
    svgs: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tracker = TrackerServer(
            TrackerConfig(host="127.0.0.1", port=0).with_changes(data_dir=root / "tracker")
        )
        await tracker.start()
        label = f"127.0.0.1:{tracker.port}"

        def client(name: str) -> ChatClient:
            config = PeerConfig(
                tracker=("127.0.0.1", tracker.port), home=root / name, cafile=tracker.cert_path
            )
            return ChatClient(config, kdf_params=TEST_KDF_PARAMS)

        others = {name: client(name) for name in ("bob", "carol")}
        alice = client("alice")
        try:
            for name, other in others.items():
                await other.connect()
                await other.register(name, password)
                await other.login(name, password)
            await alice.connect()
            await alice.register("alice", password)
            await alice.login("alice", password)
            app = ChatApp(alice, tracker_label=label, home=root / "alice")
            async with app.run_test(size=SIZE) as pilot:
                await _until(pilot, lambda: app.chat is not None and app.chat.is_mounted)
                chat = _chat(app)
                await _type(pilot, "/create lobby")
                await _until(pilot, lambda: chat.model.room == "lobby")
                for other in others.values():
                    await other.join_room("lobby")
                await _until(pilot, lambda: len(chat.model.members) == 3)
                await alice.wait_channels()
                await _type(pilot, "morning both! coffee's on me today")
                await others["bob"].send_room("lobby", "alice: you're a hero")
                await others["carol"].send_room("lobby", "did anyone look at the tracker logs?")
                await _type(pilot, "carol: yes, nothing but PINGs. no message ever goes there")
                await others["bob"].send_room("lobby", "end-to-end, as promised")
                await alice.verify("bob", alice.key_to_verify("bob"))
                chat.controller.refresh_trust("bob")
                await others["bob"].send_private("alice", "lunch later?")
                await _until(pilot, lambda: chat.model.buffers.current.total >= 8)
                await _until(pilot, lambda: "@bob(1)" in str(chat.query_one("#bufferbar").render()))

                def delivered() -> bool:  # both own lines acknowledged, their marks drawn
                    own = chat.model.receipts.latest(room_buffer("lobby"), 5)
                    done = all(r.mark() == ("\u2713", MarkKind.DONE) for r in own)
                    return len(own) == 2 and done and not chat.model.redraw

                await _until(pilot, delivered)
                await pilot.press(*"bob: see you at noon")
                svgs["chat.svg"] = app.export_screenshot(title="p2pchat")
                await pilot.press("ctrl+u")
                await app.shutdown()

            # -- the next morning: alice starts the chat again ---------------------------
            alice = client("alice")
            await alice.connect()
            await alice.login("alice", password)
            app = ChatApp(alice, tracker_label=label, home=root / "alice")
            async with app.run_test(size=SIZE) as pilot:
                await _until(pilot, lambda: app.chat is not None and app.chat.is_mounted)
                chat = _chat(app)

                def lobby_restored() -> bool:
                    lobby = chat.model.buffers.get(room_buffer("lobby"))
                    return lobby is not None and lobby.restored and len(lobby.lines) >= 5

                await _until(pilot, lobby_restored)
                await _type(pilot, "/join lobby")
                await _until(pilot, lambda: chat.model.room == "lobby")
                await alice.wait_channels()
                await others["carol"].send_room(
                    "lobby", "welcome back alice, the tracker logs are clean"
                )
                await _until(pilot, lambda: "welcome back" in chat.query_one(MessageLog).text())
                svgs["history.svg"] = app.export_screenshot(title="p2pchat: history")
                await pilot.press("ctrl+r", *"track")
                await _until(
                    pilot,
                    lambda: (
                        isinstance(app.screen, SearchScreen)
                        and "match" in str(app.screen.query_one("#search-status").render())
                    ),
                )
                svgs["search.svg"] = app.export_screenshot(title="p2pchat: search (Ctrl+R)")
                await pilot.press("escape")
                await app.shutdown()
        finally:
            for other in others.values():
                await other.close()
            await alice.close()
            await tracker.stop()
    return svgs


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path("docs/screenshots")
    svgs = asyncio.run(draw())
    out.mkdir(parents=True, exist_ok=True)
    for name, svg in svgs.items():
        (out / name).write_text(svg, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
