"""Heartbeat expiry: a silent session is closed and leaves its room at once."""

from __future__ import annotations

import asyncio
import time


async def test_silent_session_expires_and_members_are_told(tracker_factory, user):
    tracker = await tracker_factory(heartbeat_interval=0.2)
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    await alice.request("CREATE_ROOM", room="lobby")
    await bob.request("JOIN_ROOM", room="lobby")
    await alice.push("ROOM_UPDATE")
    await alice.push("ROOM_UPDATE")
    bob_silent_since = time.monotonic()

    async def keep_alice_alive() -> None:
        while True:
            await alice.send({"cmd": "PING", "id": "hb"})
            await asyncio.sleep(0.1)

    heartbeat = asyncio.create_task(keep_alice_alive())
    try:
        update = await alice.push("PRESENCE", timeout=5)
    finally:
        heartbeat.cancel()
    silent_for = time.monotonic() - bob_silent_since
    assert (update["username"], update["online"], update["rooms"]) == ("bob", False, ["lobby"])
    assert silent_for >= 0.6 * 0.9
    await bob.wait_closed(5)
    assert not alice.eof.is_set()


async def test_pings_keep_a_session_alive(tracker_factory, user):
    tracker = await tracker_factory(heartbeat_interval=0.2)
    alice = await user(tracker, "alice")
    started = time.monotonic()
    while time.monotonic() - started < 1.2:  # two full expiry windows
        assert (await alice.request("PING"))["status"] == "OK"
        await asyncio.sleep(0.1)
    assert not alice.eof.is_set()
