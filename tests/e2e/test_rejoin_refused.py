"""A peer banned from its room while the tracker was away reconnects without its room.

Before bans existed, a failed rejoin other than "room gone" or "full" made the whole
reconnect fail and start over, for ever.
"""

from __future__ import annotations

import asyncio
import sqlite3

from peer.events import ErrorEvent, Reconnected
from tests.conftest import TrackerFactory
from tests.peers import PeerFactory
from tracker.storage.sqlite_file import DB_FILE_NAME


async def test_ban_during_an_outage_drops_the_room_on_reconnect(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory()
    port, data_dir = tracker.port, tracker.config.data_dir
    alice = await peer_factory(tracker, "alice", reconnect_initial_delay=0.1)
    bob = await peer_factory(tracker, "bob", reconnect_initial_delay=0.1)
    await alice.client.create_room("lobby")
    await bob.client.join_room("lobby")
    await asyncio.wait_for(bob.client.wait_channels(), 10)

    await tracker.stop()
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        # What a BAN stores (issue 21: it also ends the durable membership).
        conn.execute("INSERT INTO room_bans VALUES ('lobby', 'bob', 0)")
        conn.execute("DELETE FROM room_members WHERE room = 'lobby' AND username = 'bob'")
    await tracker_factory(port=port, data_dir=data_dir)

    refused = await bob.wait_for(ErrorEvent, lambda e: e.code == "banned")
    assert "lobby" in refused[0].message
    await bob.wait_for(Reconnected)
    assert bob.client.tracker_connected
    assert bob.client.room is None
    await alice.wait_for(Reconnected)
    assert alice.client.room == "lobby"
