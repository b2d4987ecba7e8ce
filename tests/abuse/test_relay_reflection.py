"""Hostile accounts against a peer's side of the relay (issue 20).

On main (ce030e7) any user could send ``RELAY`` frames to any online user on fresh link
numbers, and the victim's client answered each with a ``RELAY`` end: paid from the
*victim's* relay budget at the tracker (500 frames/s), past which the tracker stops
reading the victim, its PINGs time out and it drops its tracker link and every relayed
channel (6 accounts: dropped at 26 s and 51 s). Relayed handshake slots were 16 per user
and 64 in all, so 64 accounts holding one each kept a new contact out; a restarted
client's link numbers began at 1 again, and the other side dropped its first message as
belonging to a link closed lately; and every refused link was one log line.

Real tracker (TLS on 127.0.0.1), real clients, attackers as raw tracker sessions. Scaled
down where the rule is the same: the tracker's relay budget is 100 frames/s (not 500)
and its heartbeat 1 s, so a victim that must answer six accounts loses its link within a
few seconds instead of tens.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from commons.codec import encode_message
from commons.relay_frames import relay_request
from crypto.channel import MSG1_LEN, SecureChannel
from crypto.identity import IdentityKey
from peer.events import ConnectionLost, MessageDelivered, MessageReceived
from tests.conftest import TrackerFactory, UserFactory
from tests.peers import DEFAULT_PASSWORD, PeerFactory, PeerHandle, wait_until
from tests.tracker_client import TrackerTestClient
from tracker.server.server import TrackerServer

TIMEOUT = 10.0


def handshake_starts(count: int) -> list[bytes]:
    """Real first Noise messages (what an honest dialler sends first)."""
    starts = []
    for _ in range(count):
        channel = SecureChannel(
            initiator=True,
            identity=IdentityKey.generate(),
            username="mallory",
            authorize=lambda _n, _k: None,
        )
        starts.append(channel.start())
    assert all(len(start) == MSG1_LEN for start in starts)
    return starts


def receipt_of(msg_id: str) -> Callable[[MessageDelivered], bool]:
    return lambda event: event.msg_id == msg_id


def relay_frame(to: str, link: int, body: bytes) -> bytes:
    return encode_message(relay_request(to, link, False, body))


async def reflect(
    attacker: TrackerTestClient, victim: str, stop: asyncio.Event, starts: list[bytes]
) -> int:
    """Frames on fresh link numbers, as fast as the tracker takes them: mostly junk, and
    one real handshake start in ten. Returns how many were sent."""
    links = itertools.count(int.from_bytes(os.urandom(3)) + 1)
    sent = 0
    while not stop.is_set():
        for _ in range(20):
            body = starts[sent % len(starts)] if sent % 10 == 0 else os.urandom(48)
            attacker.writer.write(relay_frame(victim, next(links), body))
            sent += 1
        with contextlib.suppress(TimeoutError):  # the tracker shapes us; check stop again
            await asyncio.wait_for(attacker.writer.drain(), 0.2)
    return sent


async def come_back(
    peer_factory: PeerFactory, tracker: TrackerServer, name: str, home: Path
) -> PeerHandle:
    """A new client on ``name``'s home (a restart), logged in again."""
    handle = await peer_factory(tracker, name, login=False, home=home, no_listen=True)
    await handle.client.login(name, DEFAULT_PASSWORD)
    return handle


async def sybils(
    user: UserFactory, tracker: TrackerServer, count: int, prefix: str = "sybil"
) -> list[TrackerTestClient]:
    """Logged-in accounts, one after another (the tracker hashes passwords a few at a
    time and says ``busy`` beyond)."""
    return [await user(tracker, f"{prefix}{n}", source="127.0.0.1") for n in range(count)]


async def test_a_victim_and_a_friends_relayed_chat_hold_while_six_accounts_reflect(
    tracker_factory: TrackerFactory,
    peer_factory: PeerFactory,
    user: UserFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Six accounts send junk (and some real handshake starts) to bob on fresh links for
    5 s, 600 frames/s against bob's budget of 100. Without the fix bob answered each
    with an end, the tracker stopped reading him and his link dropped in about 2 s;
    now his link stays up, and alice's relayed messages, one every 0.2 s, all arrive
    with their receipts, each within a second."""
    tracker = await tracker_factory(
        relay_frames_per_second=100.0, relay_burst_frames=100.0, heartbeat_interval=1.0
    )
    alice = await peer_factory(tracker, "alice", no_listen=True, request_timeout=2.0)
    bob = await peer_factory(tracker, "bob", no_listen=True, request_timeout=2.0)
    await alice.client.send_private("bob", "before")
    await bob.wait_for(MessageReceived, lambda e: e.text == "before")
    assert alice.client.channel_paths == {"bob": "relay"}
    attackers = await sybils(user, tracker, 6, "mallory")
    starts = handshake_starts(8)
    caplog.set_level(logging.INFO)

    stop = asyncio.Event()
    floods = [asyncio.create_task(reflect(a, "bob", stop, starts)) for a in attackers]
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    try:
        for n in range(25):
            sent_at = loop.time()
            msg = await alice.client.send_private("bob", f"m{n}")
            await alice.wait_for(MessageDelivered, receipt_of(msg.msg_id))
            latencies.append(loop.time() - sent_at)
            await asyncio.sleep(max(0.0, sent_at + 0.2 - loop.time()))  # the friend's pace
    finally:
        stop.set()
        sent = sum(await asyncio.gather(*floods))
        for attacker in attackers:  # what the tracker has not read yet is dropped
            attacker.writer.transport.abort()
    assert sent > 6 * 100 * 3  # the flood ran at (at least) the tracker's pace
    assert bob.of(ConnectionLost) == [] and bob.client.tracker_connected
    assert [e.text for e in bob.of(MessageReceived)] == ["before"] + [f"m{n}" for n in range(25)]
    assert max(latencies) < 1.0, latencies
    assert alice.client.channel_paths == {"bob": "relay"}  # the same channel throughout
    lines = [r for r in caplog.records if r.name == "peer.channels.relay"]
    assert len(lines) <= 4  # one line per kind per 10 s


async def test_a_contact_reaches_the_victim_while_64_accounts_hold_relayed_handshake_slots(
    tracker: TrackerServer, peer_factory: PeerFactory, user: UserFactory, tmp_path: Path
) -> None:
    """64 accounts each start one relayed handshake with bob and never finish it (each
    holds a slot until bob's 10 s handshake timeout). carol, whom bob talked with
    before, comes back (a new client on her home) and writes: her message arrives at
    once. On main the 64 slots were all the strangers' and carol's dial was refused."""
    bob = await peer_factory(tracker, "bob", no_listen=True)
    carol = await peer_factory(tracker, "carol", no_listen=True, home=tmp_path / "carol")
    await carol.client.send_private("bob", "hi bob")
    await bob.wait_for(MessageReceived, lambda e: e.text == "hi bob")
    await bob.client.send_private("carol", "hi carol")  # bob answers: carol is a contact
    await carol.wait_for(MessageReceived, lambda e: e.text == "hi carol")
    assert bob.client.pinned_key("carol") is not None
    await carol.close()

    attackers = await sybils(user, tracker, 64)
    starts = handshake_starts(4)
    stop = asyncio.Event()

    async def hold_slots(attacker: TrackerTestClient) -> None:
        for link in itertools.count(1):  # a new start every 0.25 s, never message 3
            attacker.writer.write(relay_frame("bob", link, starts[link % len(starts)]))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)
            if stop.is_set():
                return

    holders = [asyncio.create_task(hold_slots(a)) for a in attackers]
    relay = bob.client._relay
    strangers_share = relay.slots.total - relay.slots.reserve  # on main: all 64
    try:
        await wait_until(lambda: relay.slots.held_by_strangers >= strangers_share)
        carol = await come_back(peer_factory, tracker, "carol", tmp_path / "carol")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(carol.client.send_private("bob", "let me in"), 5)
        await bob.wait_for(MessageReceived, lambda e: e.text == "let me in")
        assert loop.time() - started < 3.0  # not after a sybil's 10 s slot timed out
        assert relay.slots.held_by_strangers >= strangers_share - 1  # the sybils still hold
    finally:
        stop.set()
        await asyncio.gather(*holders)


async def test_after_a_restart_the_first_relayed_message_to_a_recent_contact_arrives(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """alice chats with bob over the relay, quits, starts again and writes at once. On
    main her new link was number 1 again, which bob had closed a moment ago: he dropped
    its first message and alice's handshake waited out its 10 s."""
    home = tmp_path / "alice"
    bob = await peer_factory(tracker, "bob", no_listen=True)
    alice = await peer_factory(tracker, "alice", no_listen=True, home=home)
    await alice.client.send_private("bob", "first run")
    await bob.wait_for(MessageReceived, lambda e: e.text == "first run")
    await alice.close()
    await wait_until(lambda: "alice" not in bob.client.connected_peers)

    alice = await come_back(peer_factory, tracker, "alice", home)
    loop = asyncio.get_running_loop()
    started = loop.time()
    msg = await asyncio.wait_for(alice.client.send_private("bob", "second run"), 5)
    await bob.wait_for(MessageReceived, lambda e: e.text == "second run")
    await alice.wait_for(MessageDelivered, lambda e: e.msg_id == msg.msg_id)
    assert loop.time() - started < 3.0


async def test_the_refusal_log_stays_bounded_under_a_flood_of_relayed_starts(
    tracker: TrackerServer,
    peer_factory: PeerFactory,
    user: UserFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three accounts send 1,500 handshake starts on fresh links: nearly all are refused
    (slots, rates). On main that was one log line each; now one line per 10 s."""
    bob = await peer_factory(tracker, "bob", no_listen=True)
    attackers = await sybils(user, tracker, 3)
    starts = handshake_starts(4)
    caplog.set_level(logging.INFO)
    relay = bob.client._relay
    for attacker in attackers:
        for link in range(1, 501):
            attacker.writer.write(relay_frame("bob", link, starts[link % len(starts)]))
        await attacker.writer.drain()
    # The last frame of each attacker reached bob (his table remembers it as refused).
    await wait_until(
        lambda: all(
            any(k.user == a.username and k.link == 500 for k in relay._recently_closed)
            for a in attackers
        )
    )
    lines = [r for r in caplog.records if r.name == "peer.channels.relay"]
    assert 1 <= len(lines) <= 2, [r.getMessage() for r in lines]
    # And bob answered a bounded number of them: starts within the rate, ends within theirs.
    answered = sum(
        1
        for a in attackers
        for push in a.pending_pushes()
        if push.get("event") == "RELAY" and push.get("from") == "bob"
    )
    assert answered <= 3 * 4
