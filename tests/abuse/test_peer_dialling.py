"""Where a peer dials, and how often: an advertised host is a claim, not an address.

The original client dialled whatever host a member advertised, link-local and any port
included, and as often as a member list or a re-dial schedule said.
"""

from __future__ import annotations

import asyncio

import pytest

from commons.errors import P2PChatError
from peer.channels.dial_policy import DIAL_BURST, DIAL_INTERVAL, AddressPolicy
from peer.events import ErrorEvent, MessageReceived
from tests.conftest import TrackerFactory
from tests.peers import PeerFactory
from tests.tracker_client import TrackerTestClient
from tracker.server.server import TrackerServer


async def test_loopback_members_are_not_dialled_when_the_tracker_is_elsewhere(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    """As seen by a client whose tracker is not on its machine (the policy is what it
    would build from a remote tracker's address), a member at 127.0.0.1 or at a name
    that resolves there is refused; the same members are dialled with a local tracker.
    (This tracker does not relay: with a relay, such a member is reached through it
    instead, as the next test shows.)"""
    tracker = await tracker_factory(room_capacity=8, relay_enabled=False)
    alice = await peer_factory(tracker, "alice")
    alice.client._shell.address_policy = AddressPolicy("198.51.100.7")
    await alice.client.create_room("lobby")
    bob = await peer_factory(tracker, "bob", advertise_host="localhost")
    carol = await peer_factory(tracker, "carol")
    for member in (bob, carol):
        await member.client.join_room("lobby")
        refused = await alice.wait_for(
            ErrorEvent, lambda e, m=member: m.client.username in e.message
        )
        assert "loopback address and the tracker is not on this machine" in refused[0].message

    local = await peer_factory(tracker, "aaron")  # an ordinary client: its tracker is local
    await local.client.join_room("lobby")
    await asyncio.wait_for(local.client.wait_channels(["bob", "carol"]), 10)


async def test_a_member_at_a_refused_address_is_reached_through_the_relay(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """bob's advertised address is one alice's policy refuses: she never connects to it,
    and still chats with him, through the tracker's relay."""
    alice = await peer_factory(tracker, "alice")
    alice.client._shell.address_policy = AddressPolicy("198.51.100.7")
    await alice.client.create_room("lobby")
    bob = await peer_factory(tracker, "bob")
    await bob.client.join_room("lobby")
    await asyncio.wait_for(alice.client.wait_channels(["bob"]), 10)
    assert alice.client.channel_paths == {"bob": "relay"}
    await alice.client.send_room("lobby", "hello over the relay")
    await bob.wait_for(MessageReceived)
    assert alice.of(ErrorEvent) == []


async def test_dials_to_one_address_are_rate_limited(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """A room-mate whose address accepts and drops every connection: the room's dial,
    then /msg after /msg, alice connects to it at most the burst of times, then is told
    the dials are rate-limited. (Only a room-mate's address is ever dialled.)"""
    accepted = 0

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ghost = await TrackerTestClient.connect("127.0.0.1", tracker.port, tracker.cert_path)
    try:
        assert (await ghost.register("ghost"))["status"] == "OK"
        assert (await ghost.login("ghost", port=port))["status"] == "OK"
        alice = await peer_factory(tracker, "alice")
        await alice.client.create_room("lobby")
        assert (await ghost.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
        await alice.wait_for(ErrorEvent, lambda e: e.code == "handshake_failed")  # she dialled
        failures = []
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(DIAL_BURST + 4):
            with pytest.raises(P2PChatError) as failed:
                await alice.client.send_private("ghost", "are you there?")
            failures.append(failed.value.message)
        refilled = int((loop.time() - started) / DIAL_INTERVAL)  # tokens that came back
        assert DIAL_BURST <= accepted <= DIAL_BURST + refilled
        # The room's dial was the first of them.
        assert sum("rate-limited" in f for f in failures) == len(failures) - (accepted - 1)
        bob = await peer_factory(tracker, "bob")  # other addresses are not affected
        await alice.client.send_private("bob", "hi bob")
        await bob.wait_for(MessageReceived)
    finally:
        await ghost.close()
        server.close()
