"""Fixtures for the terminal UI tests: real ChatClients next to the app under test.

Reuses the e2e helpers (``PeerHandle`` records a client's events so a test can wait for
one with a timeout) and adds :func:`until`, which lets Textual process its messages
while polling a condition, bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.errors import NoWidget
from textual.pilot import Pilot

from crypto.keystore import TEST_KDF_PARAMS
from peer.client import ChatClient
from tests.e2e.conftest import PeerHandle, peer_config
from tracker.server import TrackerServer

DEADLINE = 10.0
PASSWORD = "correcthorse42"

PeerMaker = Callable[..., Awaitable[PeerHandle]]


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


def make_client(tracker: TrackerServer, home: Path) -> ChatClient:
    return ChatClient(peer_config(tracker, home), kdf_params=TEST_KDF_PARAMS)


@pytest.fixture
async def peers(tmp_path: Path) -> AsyncIterator[PeerMaker]:
    """``await peers(tracker, name, home=..., replace_key=False, register=True)``."""
    handles: list[PeerHandle] = []

    async def make(
        tracker: TrackerServer,
        name: str,
        *,
        home: str | None = None,
        register: bool = True,
        replace_key: bool = False,
    ) -> PeerHandle:
        handle = PeerHandle(make_client(tracker, tmp_path / (home or f"home-{name}")))
        handles.append(handle)
        await handle.client.connect()
        if register:
            await handle.client.register(name, PASSWORD)
        await handle.client.login(name, PASSWORD, replace_key=replace_key)
        return handle

    yield make
    for handle in handles:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(handle.close(), 5)
