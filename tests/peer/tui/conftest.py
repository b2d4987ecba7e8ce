"""Helpers for the terminal UI tests, which run the app beside real peers.

The other peers come from the ``peer_factory`` fixture (``tests/conftest.py``); the
app's own client from :func:`make_client`, since the app reads its events itself.
:func:`until` lets Textual process its messages while polling a condition, bounded by
a deadline; :func:`click` clicks a widget once it is really drawn; :func:`burst` types
keys all at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App
from textual.errors import NoWidget
from textual.keys import _character_to_key
from textual.pilot import Pilot

from crypto.keystore import TEST_KDF_PARAMS
from peer.client.chat_client import ChatClient
from tests.peers import peer_config
from tracker.server.server import TrackerServer

DEADLINE = 10.0
#: The password the app's own user types (the other peers use the factory's default).
PASSWORD = "correcthorse42"


async def until(pilot: Pilot[Any], condition: Callable[[], object], what: str) -> None:
    """Let the app run until ``condition()`` holds; fail after :data:`DEADLINE` s."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await pilot.pause(0.02)


async def click(pilot: Pilot[Any], selector: str) -> None:
    """Click ``selector`` once the compositor draws it, and fail if the click missed.

    A freshly pushed screen is in the stack before it has composed its widgets and
    before its first layout; a click aimed at it then lands on whatever was drawn there.
    """
    screen = pilot.app.screen

    def drawn() -> bool:
        matches = screen.query(selector)
        if not matches or matches.first().region.area == 0:
            return False
        widget = matches.first()
        region = widget.region
        try:
            under, _ = screen.get_widget_at(
                region.x + region.width // 2, region.y + region.height // 2
            )
        except NoWidget:
            return False
        return under is widget or widget in under.ancestors

    await until(pilot, drawn, f"{selector} drawn")
    assert await pilot.click(screen.query_one(selector)), f"the click on {selector} missed"


def burst(app: App[Any], keys: Sequence[str]) -> None:
    """Queue ``keys`` all at once, as a password manager's auto-type or ``tmux send-keys``
    delivers them (``pilot.press`` lets the app settle after every key, which hides
    ordering bugs)."""
    driver = app._driver
    assert driver is not None
    for key in keys:
        character = key if len(key) == 1 else None
        event = events.Key(
            _character_to_key(key) if character and not key.isalnum() else key, character
        )
        event.set_sender(app)
        driver.send_message(event)


def make_client(tracker: TrackerServer, home: Path) -> ChatClient:
    return ChatClient(peer_config(tracker, home), kdf_params=TEST_KDF_PARAMS)
