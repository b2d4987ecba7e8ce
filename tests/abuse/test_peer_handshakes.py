"""Strangers with sockets against a peer's P2P listener.

The original listener had one global cap of 64 handshakes in progress and no limit per
source: 64 idle sockets made a peer unreachable, without an account. And every refused
handshake became an error event and a log line: 6,510 handshakes claiming to be "alice"
gave bob 6,509 alarming events in 5 s.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from commons.errors import ErrorCode
from crypto.keystore import load_or_create_identity
from peer.channels.inbound_limits import DEFAULT_PER_SOURCE, DEFAULT_TOTAL
from peer.channels.link import LinkClosedError
from peer.core.settings import CoreSettings
from peer.events import ChannelOpened, ChannelsRefused, ErrorEvent, MessageReceived
from tests.peers import PeerFactory, hand_dial
from tracker.server.server import TrackerServer

SOURCES = [f"127.0.0.{n}" for n in range(2, 14)]  # 12 sources: more than 64 slots' worth


async def _idle_sockets(address: tuple[str, int], source: str, count: int) -> list[object]:
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection(*address, local_addr=(source, 0))
        writers.append(writer)
    return writers


async def test_idle_sockets_from_many_sources_do_not_keep_an_honest_user_out(
    tracker: TrackerServer, peer_factory: PeerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bob = await peer_factory(tracker, "bob")  # handshakes time out after 10 s
    alice = await peer_factory(tracker, "alice")
    address = bob.client.listen_address
    assert address is not None
    flood = []
    for source in SOURCES:  # each source opens more than its share
        flood += await _idle_sockets(address, source, DEFAULT_PER_SOURCE + 4)
    await asyncio.sleep(0)
    slots = bob.client._shell._listener.slots
    assert len(slots) <= DEFAULT_TOTAL
    assert all(slots.held_by(source) <= DEFAULT_PER_SOURCE for source in SOURCES)

    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(alice.client.send_private("bob", "let me in"), 5)
    await bob.wait_for(MessageReceived, lambda e: e.text == "let me in")
    assert loop.time() - started < 5  # not after the flood's 10 s handshake timeout
    for writer in flood:
        writer.close()  # type: ignore[attr-defined]
    # Well over a hundred connections were dropped or pushed out: a few log lines.
    lines = [r for r in caplog.records if r.name == "peer.channels.listener"]
    assert 1 <= len(lines) <= 4


async def test_refused_handshakes_claiming_alice_give_one_notice_per_interval(
    tracker: TrackerServer,
    peer_factory: PeerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts = 25 * len(SOURCES)
    bob = await peer_factory(tracker, "bob", core=CoreSettings(refusal_summary_interval=5.0))
    await peer_factory(tracker, "alice")  # the real alice is online, with her own key
    await peer_factory(tracker, "mallory", "mallory-pw", home=tmp_path / "mallory")
    identity, _ = load_or_create_identity(tmp_path / "mallory", "mallory", "mallory-pw")
    caplog.set_level(logging.INFO)

    async def claim_alice(source: str) -> None:
        link = await hand_dial(bob, "alice", identity, source)  # mallory's key, alice's name
        with pytest.raises(LinkClosedError):
            await asyncio.wait_for(link.receive(), 10)

    for _ in range(attempts // len(SOURCES)):
        await asyncio.gather(*(claim_alice(source) for source in SOURCES))

    refused = [e for e in bob.of(ErrorEvent) if "alice" in e.message]
    assert [e.code for e in refused] == [ErrorCode.KEY_MISMATCH]  # one, in full
    summary = await bob.wait_for(ChannelsRefused)
    assert (summary[0].username, summary[0].code) == ("alice", "key_mismatch")
    assert summary[0].count == attempts - 1
    assert bob.of(ChannelOpened) == []
    lines = [
        r for r in caplog.records if r.name == "peer.channels.shell" and "refused" in r.message
    ]
    assert 1 <= len(lines) <= 2  # at most one line per 10 s for the whole flood


async def test_made_up_names_cannot_spend_an_honest_newcomers_lookups(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """Each unknown name costs bob a LOOKUP; a stranger spends its own source's budget
    (5, then 1 a second), never the one a newcomer from elsewhere needs."""
    bob = await peer_factory(tracker, "bob")
    for index in range(50):
        link = await hand_dial(bob, f"ghost{index}", source="127.0.0.2")
        with pytest.raises(LinkClosedError):
            await asyncio.wait_for(link.receive(), 10)
    carol = await peer_factory(tracker, "carol")  # dials from 127.0.0.1
    await asyncio.wait_for(carol.client.send_private("bob", "hello"), 5)
    await bob.wait_for(MessageReceived, lambda e: e.text == "hello")
