"""A peer banned from its room while the tracker was away reconnects without its room.

Before bans existed, a failed rejoin other than "room gone" or "full" made the whole
reconnect fail and start over, for ever. Since issue 21 the client does not rejoin: the
tracker's RESUME/LOGIN reply lists the rooms it is still a member of, and a ban ends the
membership, so the banned room is simply not given back (and stays closed to it).
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from commons.errors import ErrorCode, RoomError
from peer.core.rooms import RoomMember
from peer.errors import NotInRoomError
from peer.events import Reconnected, RoomLost, RoomsRestored
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
    assert bob.client.rooms == ["lobby"]

    await tracker.stop()
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        # What a BAN stores (issue 21: it also ends the durable membership).
        conn.execute("INSERT INTO room_bans VALUES ('lobby', 'bob', 0)")
        conn.execute("DELETE FROM room_members WHERE room = 'lobby' AND username = 'bob'")
    await tracker_factory(port=port, data_dir=data_dir)

    # bob is back, without the room: the tracker no longer lists him in it.
    await bob.wait_for(Reconnected)
    assert bob.client.tracker_connected
    assert bob.of(RoomsRestored)[-1] == RoomsRestored(())
    assert bob.of(RoomLost) == [RoomLost("lobby")]  # told, not silently dropped
    assert bob.client.rooms == []
    assert bob.client.room is None
    assert bob.client.connected_peers == []  # alice was a room-mate only: channel closed
    with pytest.raises(NotInRoomError):
        await bob.client.send_room("lobby", "still here?")
    # The ban holds: bob cannot simply walk back in.
    with pytest.raises(RoomError) as refused:
        await bob.client.join_room("lobby")
    assert refused.value.code is ErrorCode.BANNED
    assert bob.client.rooms == []

    # alice keeps the room, with bob gone from its roster: her messages no longer go to him.
    await alice.wait_for(Reconnected)
    assert alice.of(RoomsRestored)[-1] == RoomsRestored(("lobby",))
    assert alice.client.room == "lobby"
    assert alice.client.room_members("lobby") == [RoomMember("alice", True)]
    sent = await alice.client.send_room("lobby", "bob is out")
    assert sent.recipients == ()
