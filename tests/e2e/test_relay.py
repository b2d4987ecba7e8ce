"""Channels through the tracker's relay, with real clients and a real tracker: the same
channel as a direct one (identity checks, tamper, replay and reorder detection,
receipts, resend), what each option reveals, and how a direct channel takes over.

A :class:`tests.e2e.relay_tap.RelayTap` records (or rewrites) what the tracker relays.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from commons.errors import ErrorCode
from crypto.errors import KeyChangedError
from crypto.identity import IdentityKey
from peer.channels.link import LinkClosedError
from peer.core.liveness import Keepalive
from peer.core.settings import CoreSettings
from peer.errors import ChannelRefusedError
from peer.events import (
    ChannelClosed,
    ChannelOpened,
    ErrorEvent,
    KeyChanged,
    MessageDelivered,
    MessageFailed,
    MessageReceived,
)
from tests.conftest import ClientFactory, TrackerFactory
from tests.e2e.proxy import FramingProxy
from tests.e2e.relay_tap import RelayTap, flip_bit, relay_hand_dial
from tests.peers import PeerFactory, PeerHandle
from tracker.server.server import TrackerServer

TIMEOUT = 10.0


async def relayed_room(
    tracker: TrackerServer, peer_factory: PeerFactory, **changes: object
) -> tuple[PeerHandle, PeerHandle]:
    """alice and bob, neither listening, in room ``lobby``: alice dials bob (relay)."""
    alice = await peer_factory(tracker, "alice", no_listen=True, **changes)
    bob = await peer_factory(tracker, "bob", no_listen=True, **changes)
    await bob.client.create_room("lobby")
    await alice.client.join_room("lobby")
    await asyncio.wait_for(alice.client.wait_channels(), TIMEOUT)
    await asyncio.wait_for(bob.client.wait_channels(), TIMEOUT)
    return alice, bob


async def test_peers_without_listeners_chat_through_the_relay_with_receipts(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    alice, bob = await relayed_room(tracker, peer_factory)
    assert alice.client.listen_address is None and bob.client.listen_address is None
    assert (
        alice.client.channel_paths
        == {"bob": "relay"}
        == {u.replace("alice", "bob"): p for u, p in bob.client.channel_paths.items()}
    )
    assert [e.path for e in alice.of(ChannelOpened)] == ["relay"]
    to_room = await alice.client.send_room("lobby", "hello room")
    to_bob = await alice.client.send_private("bob", "hello bob")
    from_bob = await bob.client.send_private("alice", "hello alice")
    await bob.wait_for(MessageReceived, count=2)
    await alice.wait_for(MessageReceived, lambda e: e.text == "hello alice")
    delivered = await alice.wait_for(MessageDelivered, count=2)
    assert {e.msg_id for e in delivered} == {to_room.msg_id, to_bob.msg_id}
    await bob.wait_for(MessageDelivered, lambda e: e.msg_id == from_bob.msg_id)


@pytest.mark.parametrize(
    ("attack", "delivered"),
    [
        ("flip", []),
        ("replay", ["one"]),
        ("reorder", []),
        ("drop", ["one"]),
    ],
)
async def test_a_hostile_relay_cannot_change_the_conversation_unnoticed(
    tracker: TrackerServer, peer_factory: PeerFactory, attack: str, delivered: list[str]
) -> None:
    """alice's relayed bodies: 0 = message 1, 1 = message 3, 2 = "one", 3 = "two",
    4 = "three". The tracker tampers with, replays, reorders or drops them."""
    held: dict[int, str] = {}

    def rewrite(sender: str, index: int, data: str) -> list[str]:
        if sender != "alice" or index < 2:
            return [data]
        held[index] = data
        if attack == "flip" and index == 2:
            return [flip_bit(data)]
        if attack == "replay" and index == 3:
            return [held[2]]
        if attack == "reorder":
            return [] if index == 2 else [data, held[2]] if index == 3 else [data]
        if attack == "drop" and index == 3:
            return []
        return [data]

    RelayTap(tracker, rewrite)
    alice, bob = await relayed_room(tracker, peer_factory)
    for text in ("one", "two", "three"):
        await alice.client.send_room("lobby", text)
    closed = await bob.wait_for(ChannelClosed, lambda e: e.username == "alice")
    assert "authentication" in closed[0].reason or "decrypt" in closed[0].reason
    assert [e.text for e in bob.of(MessageReceived)] == delivered


async def test_an_impersonator_through_the_relay_is_refused(
    tracker: TrackerServer, peer_factory: PeerFactory, connect: ClientFactory
) -> None:
    alice = await peer_factory(tracker, "alice", no_listen=True)
    await peer_factory(tracker, "bob", no_listen=True)
    mallory = await connect(tracker)
    await mallory.register("mallory")
    await mallory.login("mallory")
    link = await relay_hand_dial(mallory, "alice", "bob", IdentityKey.generate())
    with pytest.raises(LinkClosedError):
        await asyncio.wait_for(link.receive(), TIMEOUT)  # no accept, no reject: nothing
    refused = await alice.wait_for(ErrorEvent, lambda e: e.code == ErrorCode.KEY_MISMATCH)
    assert "bob" in refused[0].message
    assert alice.of(ChannelOpened) == []


async def _moved_bob(tracker: TrackerServer, peer_factory: PeerFactory, home: Path) -> PeerHandle:
    moved = await peer_factory(tracker, "bob", login=False, home=home, no_listen=True)
    await moved.client.login("bob", "bob-password-1", replace_key=True)
    return moved


async def test_a_key_conflicting_with_the_pin_is_refused_inside_the_relayed_handshake(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """As on a direct channel: the initiator never relays message 3; the responder
    never answers it (the tracker's own record shows it)."""
    tap = RelayTap(tracker)
    alice = await peer_factory(tracker, "alice", no_listen=True)
    bob = await peer_factory(tracker, "bob", "bob-password-1", no_listen=True)
    await alice.client.send_private("bob", "hi")  # over the relay: alice pins bob's key
    await bob.wait_for(MessageReceived)
    await bob.close()
    await alice.wait_for(ChannelClosed)

    moved = await _moved_bob(tracker, peer_factory, tmp_path / "bob-new")
    before = dict(tap.links("alice"))
    with pytest.raises(KeyChangedError):  # alice dials: refused before message 3
        await alice.client.send_private("bob", "are you there?")
    new_links = {k: n for k, n in tap.links("alice").items() if k not in before}
    assert list(new_links.values()) == [1]  # message 1 only
    await alice.wait_for(KeyChanged)

    before = dict(tap.links("alice"))
    with pytest.raises(ChannelRefusedError):  # bob dials: alice never answers message 3
        await moved.client.send_private("alice", "it is me, new key")
    new_links = {k: n for k, n in tap.links("alice").items() if k not in before}
    assert list(new_links.values()) == [1]  # message 2 only: not even a refusal
    assert not any(m.text == "it is me, new key" for m in alice.of(MessageReceived))


async def test_a_cut_tracker_link_closes_the_relayed_channels_and_nothing_is_lost(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """bob's tracker connection drops with 130 of alice's messages lost in flight: his
    relayed channel dies with it, is dialled again once he is back, and every message
    arrives once, in order, with its receipt. (Room messages sent while he is away would
    fail as ``left``: to the tracker he has left the room; private ones wait.)"""
    holding = False

    def swallow(sender: str, index: int, data: str) -> list[str]:
        return [] if holding and sender == "alice" else [data]

    RelayTap(tracker, swallow)
    alice, bob = await relayed_room(tracker, peer_factory, reconnect_initial_delay=0.05)
    ids = [(await alice.client.send_private("bob", f"m{n}")).msg_id for n in range(20)]
    await bob.wait_for(MessageReceived, count=20)
    holding = True
    ids += [(await alice.client.send_private("bob", f"m{n}")).msg_id for n in range(20, 150)]
    writer = bob.client._session._link._writer  # the network under bob goes away
    assert writer is not None
    writer.transport.abort()
    holding = False
    await bob.wait_for(MessageReceived, lambda e: e.text == "m149")
    assert [e.text for e in bob.of(MessageReceived)] == [f"m{n}" for n in range(150)]
    delivered = await alice.wait_for(MessageDelivered, count=150)
    assert sorted(e.msg_id for e in delivered) == sorted(ids)
    assert alice.of(MessageFailed) == []
    assert [e.path for e in alice.of(ChannelOpened)] == ["relay", "relay"]


async def test_a_silent_relayed_channel_is_declared_dead_by_the_keepalive_and_comes_back(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """The tracker holds back everything on the first relayed link (both sessions stay
    logged in): the keepalive (0.5 s x 3 here) closes it on both ends, the channel is
    dialled again over a new link, and the message caught in it arrives once."""
    held: set[int] = set()  # link numbers whose bodies the tracker swallows

    def hold(sender: str, index: int, data: str) -> list[str]:
        _, frame = tap.frames[-1]  # the frame being decided
        return [] if frame.link in held else [data]

    tap = RelayTap(tracker, hold)
    keepalive = CoreSettings(keepalive=Keepalive(0.5, 3), redial_delays=(0.2, 0.5, 1.0))
    alice, bob = await relayed_room(tracker, peer_factory, core=keepalive)
    held.update(link for link, _ in tap.links("alice"))
    sent = await alice.client.send_room("lobby", "held by the relay")
    reasons = [
        (await handle.wait_for(ChannelClosed, lambda e, o=other: e.username == o))[0].reason
        for handle, other in ((alice, "bob"), (bob, "alice"))
    ]
    # The first to time out closes the link; the other may hear of that first (the
    # tracker holds bodies, not ends).
    assert any("no traffic" in reason for reason in reasons), reasons
    await bob.wait_for(MessageReceived, lambda e: e.text == "held by the relay")
    await alice.wait_for(MessageDelivered, lambda e: e.msg_id == sent.msg_id)
    assert len(bob.of(MessageReceived)) == 1
    assert [e.path for e in alice.of(ChannelOpened)] == ["relay", "relay"]


async def test_a_slow_receiver_costs_the_sender_its_channel_with_a_clear_reason(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory(
        relay_bytes_per_second=1024 * 1024 * 1024.0,
        relay_burst_bytes=1024 * 1024 * 1024.0,
        relay_frames_per_second=1_000_000.0,
        relay_burst_frames=1_000_000.0,
    )
    alice, bob = await relayed_room(tracker, peer_factory)
    writer = bob.client._session._link._writer
    assert writer is not None
    # Small kernel buffers on both ends of bob's tracker link: with autotuning (up to
    # tens of MiB on loopback) the kernel could swallow everything alice sends, and the
    # tracker's own queue, the limit under test, would never fill.
    bobs_side = tracker.connections[tracker.state.online["bob"].session].transport
    assert bobs_side is not None
    bobs_side.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    writer.transport.pause_reading()  # bob's machine stops reading from the tracker
    text = "\u00e9\u4e2d" * 2000  # ~10 kB per message
    for _ in range(512):
        await alice.client.send_private("bob", text)
        if alice.of(ChannelClosed):
            break
    closed = await alice.wait_for(ChannelClosed, lambda e: e.username == "bob")
    assert "does not read fast enough" in closed[0].reason
    assert tracker.state.relay_stats.dropped >= 1
    writer.transport.resume_reading()


async def test_a_relay_only_client_never_connects_to_anyone_directly(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """aaron's name sorts first, so he would dial alice; relay-only, he never does, and
    alice (whose listener is behind a counting proxy) only ever sees the relay."""
    proxy = FramingProxy()
    port = await proxy.start()
    try:
        alice = await peer_factory(tracker, "alice", login=False, advertise_port=port)
        proxy.target = alice.client.listen_address
        await alice.client.register("alice", "alice-password")
        await alice.client.login("alice", "alice-password")
        aaron = await peer_factory(tracker, "aaron", relay_only=True)
        assert aaron.client.listen_address is None
        await alice.client.create_room("lobby")
        await aaron.client.join_room("lobby")
        await asyncio.wait_for(aaron.client.wait_channels(), TIMEOUT)
        await aaron.client.send_room("lobby", "hi, from nowhere")
        await alice.wait_for(MessageReceived)
        assert aaron.client.channel_paths == {"alice": "relay"}
        assert proxy.connections == 0
    finally:
        await proxy.close()


async def test_without_a_relay_a_client_with_no_listener_is_told_why_it_is_unreachable(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory(relay_enabled=False)
    alice = await peer_factory(tracker, "alice")
    await peer_factory(tracker, "bob", no_listen=True)
    with pytest.raises(ChannelRefusedError, match="does not relay"):
        await alice.client.send_private("bob", "hello?")
    hermit = await peer_factory(tracker, "hermit", relay_only=True)
    await hermit.wait_for(ErrorEvent, lambda e: e.code == ErrorCode.RELAY_UNAVAILABLE)


async def test_a_stranger_reaches_a_listening_user_through_the_relay_until_trusted(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """bob listens, but shares no room with alice: she never learns his address from the
    tracker. Once bob verifies alice (``--direct-private verified``, the default), his
    client offers it inside the channel and alice's direct dial replaces the relay."""
    proxy = FramingProxy()
    port = await proxy.start()
    try:
        bob = await peer_factory(tracker, "bob", login=False, advertise_port=port)
        proxy.target = bob.client.listen_address
        await bob.client.register("bob", "bob-password")
        await bob.client.login("bob", "bob-password")
        alice = await peer_factory(tracker, "alice")
        peers = {p.username: p for p in (await alice.client.list_peers()).peers}
        assert set(peers["bob"].__slots__) == {"username", "identity_key", "room"}
        await alice.client.send_private("bob", "hi stranger")
        await bob.wait_for(MessageReceived)
        assert alice.client.channel_paths == {"bob": "relay"}
        await alice.client.send_private("bob", "still relayed")
        await bob.wait_for(MessageReceived, count=2)
        assert proxy.connections == 0  # bob's address never reached alice

        # alice is no contact of bob's (nothing pinned): he verifies the fingerprint
        # she reads out to him, never "whatever the tracker lists now".
        said = alice.client.fingerprint()
        await bob.client.verify("alice", bob.client.key_to_verify("alice", said))
        await alice.wait_for(ChannelOpened, lambda e: e.path == "direct")
        await bob.wait_for(ChannelOpened, lambda e: e.path == "direct")
        assert proxy.connections == 1
        await alice.client.send_private("bob", "now direct")
        await bob.wait_for(MessageReceived, lambda e: e.text == "now direct")
        assert [e.text for e in bob.of(MessageReceived)] == [
            "hi stranger",
            "still relayed",
            "now direct",
        ]
        assert alice.of(ChannelClosed) == [] and alice.of(MessageFailed) == []
    finally:
        await proxy.close()


async def test_a_refused_direct_dial_falls_back_to_the_relay_at_once(
    tracker: TrackerServer, peer_factory: PeerFactory, unused_port: int
) -> None:
    bob = await peer_factory(tracker, "bob", advertise_port=unused_port)
    alice = await peer_factory(tracker, "alice")
    await bob.client.create_room("lobby")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await alice.client.join_room("lobby")  # alice leads: she dials bob's dead port
    await asyncio.wait_for(alice.client.wait_channels(), TIMEOUT)
    assert loop.time() - started < 3.0
    assert alice.client.channel_paths == {"bob": "relay"}
