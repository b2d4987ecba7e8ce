"""Draw the README's screenshot: the chat with three users, exported as SVG.

``python3 -m peer.tui.screenshot [docs/screenshots/chat.svg]`` starts a real tracker on
127.0.0.1 in a temporary folder, logs in alice in the terminal UI (headless) and bob and
carol as plain clients, has them talk in a room and privately, and saves what alice
sees. Nothing is staged: every line on the picture went through the encrypted channels.
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
from peer.client import ChatClient
from peer.config import PeerConfig
from peer.tui.app import ChatApp, ChatScreen
from peer.tui.buffers import room_buffer
from peer.tui.receipts import MarkKind
from tracker.config import TrackerConfig
from tracker.server import TrackerServer

SIZE = (104, 18)
DEADLINE = 15.0


async def _until(pilot: Any, condition: Callable[[], object]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the screenshot scene did not come together")
        await pilot.pause(0.02)


async def _type(pilot: Any, line: str) -> None:
    await pilot.press(*line, "enter")


async def draw() -> str:
    """Play the scene and return the SVG of alice's screen."""
    password = secrets.token_urlsafe(12)  # throwaway accounts in a throwaway tracker
    svg = ""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tracker = TrackerServer(
            TrackerConfig(host="127.0.0.1", port=0).with_changes(data_dir=root / "tracker")
        )
        await tracker.start()

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
            app = ChatApp(alice, tracker_label=f"127.0.0.1:{tracker.port}")
            async with app.run_test(size=SIZE) as pilot:
                await _until(pilot, lambda: isinstance(app.screen, ChatScreen))
                chat = app.screen
                assert isinstance(chat, ChatScreen)
                await _type(pilot, "/create lobby")
                await _until(pilot, lambda: chat.model.room == "lobby")
                for other in others.values():
                    await other.join_room("lobby")
                await _until(pilot, lambda: len(chat.model.members) == 3)
                await alice.wait_channels()
                await _type(pilot, "morning both! coffee's on me today")
                await others["bob"].send_room("alice: you're a hero")
                await others["carol"].send_room("did anyone look at the tracker logs?")
                await _type(pilot, "carol: yes, nothing but PINGs. no message ever goes there")
                await others["bob"].send_room("end-to-end, as promised")
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
                svg = app.export_screenshot(title="p2pchat")
                await app.shutdown()
        finally:
            for other in others.values():
                await other.close()
            await alice.close()
            await tracker.stop()
    return svg


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path("docs/screenshots/chat.svg")
    svg = asyncio.run(draw())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(svg, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
