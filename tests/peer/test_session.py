"""The tracker session shell against a real TLS tracker: reconnect on demand before login.

The tracker closes a connection that has not logged in within ``auth_timeout`` (10 s by
default; 0.3 s here, so that no test sleeps). A client that connected at start and only
then waits for its user must still be able to register and log in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from peer.events import ConnectionLost, MemberJoined
from tests.conftest import TrackerFactory
from tests.e2e.batch_process import BatchProcess
from tests.peers import DEFAULT_PASSWORD, TIMEOUT, PeerFactory
from tracker.server.server import TrackerServer


async def _until_no_connections(tracker: TrackerServer) -> None:
    """Until the tracker has closed every connection (its unauthenticated timeout)."""

    async def wait() -> None:
        while tracker.connections:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), TIMEOUT)


async def _until(condition: Callable[[], bool]) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), TIMEOUT)


async def test_register_and_login_work_after_the_tracker_dropped_the_idle_link(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory(auth_timeout=0.3)
    alice = await peer_factory(tracker, "alice", login=False)
    assert alice.client.tracker_connected
    await _until_no_connections(tracker)
    await _until(lambda: not alice.client.tracker_connected)  # it reads the close a bit later
    await alice.client.register("alice", DEFAULT_PASSWORD)
    await _until_no_connections(tracker)  # idle again between the two commands
    await alice.client.login("alice", DEFAULT_PASSWORD)
    assert alice.client.tracker_connected
    assert alice.of(ConnectionLost) == []  # nothing was lost that the user had
    await alice.client.create_room("lobby")
    bob = await peer_factory(tracker, "bob")
    await bob.client.join_room("lobby")
    await alice.wait_for(MemberJoined, lambda e: e.username == "bob")


async def test_batch_script_that_waits_still_logs_in(
    tracker_factory: TrackerFactory, tmp_path: Path
) -> None:
    tracker = await tracker_factory(auth_timeout=0.3)
    proc = await BatchProcess.start(tracker, tmp_path / "dave")
    try:
        await proc.expect("ready")
        await _until_no_connections(tracker)
        proc.send("/register dave pw-dave-1")
        await proc.expect("registered", user="dave")
        await _until_no_connections(tracker)
        proc.send("/login dave pw-dave-1")
        await proc.expect("logged_in", user="dave")
        proc.send("/peers")
        peers = await proc.expect("peers")
        assert [p["user"] for p in peers["peers"]] == ["dave"]
        assert [o for o in proc.seen if o["event"] in ("connection_lost", "error")] == []
    finally:
        await proc.stop()
