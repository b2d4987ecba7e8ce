"""A peer that claims another user's name with its own key is refused.

The refusal happens inside the handshake, before bob accepts message 3: the impersonator
never gets a single transport message back (not even an encrypted ``reject``), only the
closed connection.
"""

from __future__ import annotations

import asyncio

import pytest

from commons.errors import ErrorCode
from peer.channels.link import LinkClosedError
from peer.events import ChannelOpened, ErrorEvent, MessageReceived
from tests.peers import PeerFactory, hand_dial
from tracker.server.server import TrackerServer


async def test_impersonator_refused(tracker: TrackerServer, peer_factory: PeerFactory) -> None:
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob")
    assert {p.username for p in (await bob.client.list_peers()).peers} == {"alice", "bob"}
    assert bob.client.listen_address is not None

    link = await hand_dial(bob, "alice")
    with pytest.raises(LinkClosedError):
        await asyncio.wait_for(link.receive(), 5)
    refused = await bob.wait_for(ErrorEvent, lambda e: e.code == ErrorCode.KEY_MISMATCH)
    assert "alice" in refused[0].message
    assert bob.of(ChannelOpened) == []
    assert "alice" not in bob.client.connected_peers

    # The real alice still gets through.
    await alice.client.send_private("bob", "it is really me")
    got = await bob.wait_for(MessageReceived)
    assert (got[0].sender, got[0].text) == ("alice", "it is really me")


async def test_claiming_an_offline_user_refused(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    bob = await peer_factory(tracker, "bob")
    link = await hand_dial(bob, "ghost")
    with pytest.raises(LinkClosedError):
        await asyncio.wait_for(link.receive(), 5)
    refused = await bob.wait_for(ErrorEvent, lambda e: e.code == ErrorCode.KEY_MISMATCH)
    assert "ghost" in refused[0].message
    link.close()
