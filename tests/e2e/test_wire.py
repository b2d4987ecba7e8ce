"""What an attacker on the wire sees and can do: nothing readable, no undetected change."""

from __future__ import annotations

import asyncio

from peer.events import (
    ChannelClosed,
    ChannelOpened,
    MemberJoined,
    MemberLeft,
    MessageDelivered,
    MessageFailed,
    MessageReceived,
)
from tests.e2e.proxy import FramingProxy, Mutator
from tests.peers import PeerFactory, PeerHandle
from tracker.server.server import TrackerServer

# "amelia..." sorts first, so she dials "zoe..." - through the proxy Zoe advertises.
DIALLER = "amelia_wirecheck"
LISTENER = "zoe_wirecheck"
SECRET = "the eagle lands at midnight, bring the 7f3a crate"


async def pair_through_proxy(
    tracker: TrackerServer, peer_factory: PeerFactory, mutate: Mutator | None = None
) -> tuple[PeerHandle, PeerHandle, FramingProxy]:
    proxy = FramingProxy(mutate)
    port = await proxy.start()
    zoe = await peer_factory(tracker, LISTENER, login=False, advertise_port=port)
    assert zoe.client.listen_address is not None
    proxy.target = zoe.client.listen_address
    await zoe.client.register(LISTENER, "pw-zoe-123")
    await zoe.client.login(LISTENER, "pw-zoe-123")
    amelia = await peer_factory(tracker, DIALLER)
    await zoe.client.create_room("wire")
    await amelia.client.join_room("wire")
    return amelia, zoe, proxy


async def test_wire_shows_no_text_and_no_username(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    amelia, zoe, proxy = await pair_through_proxy(tracker, peer_factory)
    try:
        await asyncio.wait_for(amelia.client.wait_channels(), 10)
        await amelia.client.send_room("wire", SECRET)
        await zoe.client.send_room("wire", SECRET + " (reply)")
        await amelia.client.send_private(LISTENER, "private " + SECRET)
        await zoe.wait_for(MessageReceived, count=2)
        await amelia.wait_for(MessageReceived)
    finally:
        await proxy.close()
    wire = bytes(proxy.recorded)
    assert len(wire) > 500  # the conversation did go through the proxy
    for needle in (SECRET, "eagle", DIALLER, LISTENER, "wirecheck", "lobby", "wire"):
        assert needle.encode() not in wire
        assert needle.encode("utf-16-le") not in wire


async def test_flipped_bit_is_not_delivered_and_closes_the_channel(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    # Outbound frames: 0 = Noise msg 1, 1 = msg 3, 2 = the first chat message.
    def flip(direction: str, index: int, body: bytes) -> bytes:
        if direction == "out" and index == 2:
            return body[:10] + bytes([body[10] ^ 0x01]) + body[11:]
        return body

    amelia, zoe, proxy = await pair_through_proxy(tracker, peer_factory, flip)
    try:
        await asyncio.wait_for(amelia.client.wait_channels(), 10)
        await amelia.client.send_room("wire", SECRET)
        closed = await zoe.wait_for(ChannelClosed, lambda e: e.username == DIALLER)
        assert "authentication" in closed[0].reason
        await amelia.wait_for(ChannelClosed, lambda e: e.username == LISTENER)
        assert zoe.of(MessageReceived) == []
        assert DIALLER not in zoe.client.connected_peers
    finally:
        await proxy.close()


async def _attacked_first_chat(
    tracker: TrackerServer, peer_factory: PeerFactory, attack: Mutator
) -> tuple[PeerHandle, PeerHandle]:
    """Amelia sends "one" then "two"; ``attack`` rewrites outbound frames from index 2 on."""
    amelia, zoe, proxy = await pair_through_proxy(tracker, peer_factory, attack)
    try:
        await asyncio.wait_for(amelia.client.wait_channels(), 10)
        await amelia.client.send_room("wire", "one")
        await amelia.client.send_room("wire", "two")
        closed = await zoe.wait_for(ChannelClosed, lambda e: e.username == DIALLER)
        assert "authentication" in closed[0].reason
    finally:
        await proxy.close()
    return amelia, zoe


async def test_replayed_frame_on_the_wire_closes_the_channel(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """The proxy sends the first chat frame again in place of the second."""
    seen: dict[int, bytes] = {}

    def replay(direction: str, index: int, body: bytes) -> bytes:
        if direction != "out":
            return body
        seen[index] = body
        return seen[2] if index == 3 else body

    _amelia, zoe = await _attacked_first_chat(tracker, peer_factory, replay)
    assert [e.text for e in zoe.of(MessageReceived)] == ["one"]


async def test_truncated_frame_on_the_wire_closes_the_channel(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    def truncate(direction: str, index: int, body: bytes) -> bytes:
        return body[:-1] if direction == "out" and index == 2 else body

    _amelia, zoe = await _attacked_first_chat(tracker, peer_factory, truncate)
    assert zoe.of(MessageReceived) == []


async def test_cut_connection_is_dialled_again_and_chat_resumes(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """Neither peer left: after a blip the channel comes back on its own, freshly keyed."""
    amelia, zoe, proxy = await pair_through_proxy(tracker, peer_factory)
    try:
        await asyncio.wait_for(amelia.client.wait_channels(), 10)
        proxy.cut()
        for handle, other in ((amelia, LISTENER), (zoe, DIALLER)):
            lost = await handle.wait_for(MemberLeft, lambda e, o=other: e.username == o)
            assert lost[0].reason == "connection_lost"
            await handle.wait_for(MemberJoined, lambda e, o=other: e.username == o)
            await handle.wait_for(ChannelOpened, lambda e, o=other: e.username == o, count=2)
        await amelia.client.send_room("wire", "after the blip")
        await zoe.client.send_room("wire", "heard you")
        got = await zoe.wait_for(MessageReceived)
        assert [e.text for e in got] == ["after the blip"]
        assert [e.text for e in await amelia.wait_for(MessageReceived)] == ["heard you"]
        assert proxy.connections == 2  # the new channel went through the same route
    finally:
        await proxy.close()


async def test_burst_across_a_cut_connection_is_delivered_exactly_once_in_order(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """500 messages; the connection is cut with 150 of them lost in flight and 150 more
    written during the outage. Every one reaches zoe once, in order, and amelia gets a
    receipt for every one (the lost ones are sent again after the re-dial)."""
    amelia, zoe, proxy = await pair_through_proxy(tracker, peer_factory)
    try:
        await asyncio.wait_for(amelia.client.wait_channels(), 10)
        ids = [(await amelia.client.send_room("wire", f"m{n}")).msg_id for n in range(200)]
        await zoe.wait_for(MessageReceived, count=200)
        proxy.hold()
        ids += [(await amelia.client.send_room("wire", f"m{n}")).msg_id for n in range(200, 350)]
        await proxy.wait_swallowed(150)
        proxy.cut()
        ids += [(await amelia.client.send_room("wire", f"m{n}")).msg_id for n in range(350, 500)]
        await zoe.wait_for(MessageReceived, lambda e: e.text == "m499")
        assert [e.text for e in zoe.of(MessageReceived)] == [f"m{n}" for n in range(500)]
        delivered = await amelia.wait_for(MessageDelivered, count=500)
        assert sorted(e.msg_id for e in delivered) == sorted(ids)
        assert {e.username for e in delivered} == {LISTENER}
        assert amelia.of(MessageFailed) == []
        assert proxy.connections == 2
    finally:
        await proxy.close()
