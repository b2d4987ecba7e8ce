from __future__ import annotations

import asyncio

from peer.events import MessageReceived
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer


async def test_two_peers_chat(tracker: TrackerServer, peer_factory: PeerFactory) -> None:
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob")
    await alice.client.create_room("lobby")
    await bob.client.join_room("lobby")
    await asyncio.wait_for(bob.client.wait_channels(), 5)
    await asyncio.wait_for(alice.client.wait_channels(), 5)
    await bob.client.send_room("lobby", "hello alice")
    got = await alice.wait_for(MessageReceived)
    assert got[0].text == "hello alice" and got[0].sender == "bob" and got[0].room == "lobby"
    await alice.client.send_private("bob", "psst")
    got = await bob.wait_for(MessageReceived)
    assert got[0].text == "psst" and got[0].room is None
