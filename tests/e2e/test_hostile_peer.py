"""A hostile peer against a real client's P2P listener and channels (loopback only).

Alice and Bob are real ChatClients in room ``lobby`` with a channel between them.
Mallory is a registered, logged-in user (so the tracker lists her key and Bob accepts
her channel) who then speaks the wire protocol by hand. Every test checks that Bob
refuses the attack and that the Alice-Bob channel keeps working: one hostile peer never
crashes the client or disturbs another channel.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from commons.codec import encode_object
from crypto.channel import PATTERN, PROLOGUE
from crypto.identity import IdentityKey
from crypto.keystore import load_or_create_identity
from crypto.noise import HandshakeState
from peer.channels.inbound_limits import DEFAULT_PER_SOURCE, DEFAULT_TOTAL
from peer.channels.link import LinkClosedError, P2PLink, TcpTransport
from peer.core.frames import Accept, Ack, Ping, Pong, decode_frame, encode_chat_frame
from peer.events import (
    ChannelClosed,
    ChannelOpened,
    MemberJoined,
    MessageDelivered,
    MessageReceived,
)
from tests.peers import PeerFactory, PeerHandle, hand_dial
from tracker.server.server import TrackerServer

TIMEOUT = 5.0
MALLORY_PASSWORD = "mallory-password"
LONG = 60.0  # a handshake timeout no test can reach: any close we see is the defence


async def _room(
    tracker: TrackerServer, peer_factory: PeerFactory, **bob_config: Any
) -> tuple[PeerHandle, PeerHandle]:
    bob = await peer_factory(tracker, "bob", **bob_config)
    alice = await peer_factory(tracker, "alice")
    await bob.client.create_room("lobby")
    await alice.client.join_room("lobby")
    await asyncio.wait_for(alice.client.wait_channels(), TIMEOUT)
    await asyncio.wait_for(bob.client.wait_channels(), TIMEOUT)
    return alice, bob


async def _still_chatting(alice: PeerHandle, bob: PeerHandle, text: str) -> None:
    """The Alice-Bob channel is undisturbed: a message goes through, exactly once."""
    await alice.client.send_room("lobby", text)
    got = await bob.wait_for(MessageReceived, lambda e: e.text == text)
    assert [(e.sender, e.room) for e in got] == [("alice", "lobby")]
    assert "alice" in bob.client.connected_peers


async def _mallory_with_client(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path, name: str = "mallory"
) -> tuple[PeerHandle, IdentityKey]:
    """A hostile user's real, logged-in client and her identity key (from her key file)."""
    home = tmp_path / f"home-{name}"
    handle = await peer_factory(tracker, name, MALLORY_PASSWORD, home=home)
    identity, created = load_or_create_identity(home, name, MALLORY_PASSWORD)
    assert not created
    return handle, identity


async def _mallory(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> IdentityKey:
    return (await _mallory_with_client(tracker, peer_factory, tmp_path))[1]


async def _dial(bob: PeerHandle, identity: IdentityKey, claim: str = "mallory") -> P2PLink:
    """A hand-driven channel to Bob; returns once Bob has sent ``accept``."""
    opened = len([e for e in bob.of(ChannelOpened) if e.username == claim])
    link = await hand_dial(bob, claim, identity)
    answer = decode_frame(await asyncio.wait_for(link.receive(), TIMEOUT), "bob")
    assert isinstance(answer, Accept)
    await bob.wait_for(ChannelOpened, lambda e: e.username == claim, count=opened + 1)
    return link


def _id(n: int) -> str:
    return f"00000000000000aa-{n}"


def _chat(**changes: Any) -> bytes:
    frame: dict[str, Any] = {
        "type": "private",
        "room": None,
        "from": "mallory",
        "text": "hello",
        "ts": 1.0,
        "msg_id": "00000000000000aa-1",
    }
    frame.update(changes)
    return encode_object(frame)


async def _closed_by_bob(reader: asyncio.StreamReader) -> bytes:
    """Bob closes the socket: EOF (or a reset) well before any timeout of his.

    Returns what Bob sent before closing."""
    received = bytearray()
    try:
        while data := await asyncio.wait_for(reader.read(65536), TIMEOUT):
            received += data
    except ConnectionError:
        pass
    return bytes(received)


async def _assert_link_closed(link: P2PLink) -> None:
    with pytest.raises(LinkClosedError):
        await asyncio.wait_for(link.receive(), TIMEOUT)


# ---------------------------------------------------------------- chat frames


async def test_forged_sender_closes_only_that_channel(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    alice, bob = await _room(tracker, peer_factory)
    link = await _dial(bob, await _mallory(tracker, peer_factory, tmp_path))
    link.send_nowait(_chat(type="chat", room="lobby", **{"from": "alice"}, text="FORGED"))
    closed = await bob.wait_for(ChannelClosed, lambda e: e.username == "mallory")
    assert "forbidden" in closed[0].reason
    await _assert_link_closed(link)
    await _still_chatting(alice, bob, "still alice")
    assert [e for e in bob.of(MessageReceived) if e.text == "FORGED"] == []


async def test_forged_sender_in_a_private_message_is_refused(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    alice, bob = await _room(tracker, peer_factory)
    link = await _dial(bob, await _mallory(tracker, peer_factory, tmp_path))
    link.send_nowait(_chat(**{"from": "alice"}, text="FORGED"))
    await bob.wait_for(ChannelClosed, lambda e: e.username == "mallory")
    await _still_chatting(alice, bob, "still alice")
    assert [e for e in bob.of(MessageReceived) if e.text == "FORGED"] == []


async def test_room_message_from_a_non_member_is_not_delivered(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    alice, bob = await _room(tracker, peer_factory)
    link = await _dial(bob, await _mallory(tracker, peer_factory, tmp_path))
    link.send_nowait(_chat(type="chat", room="lobby", text="NOT A MEMBER", msg_id=_id(1)))
    link.send_nowait(_chat(text="sentinel", msg_id=_id(2)))
    # Frames on one channel are handled in order: once the sentinel is delivered, the
    # room message before it has been dealt with.
    await bob.wait_for(MessageReceived, lambda e: e.text == "sentinel")
    assert [e.text for e in bob.of(MessageReceived) if e.sender == "mallory"] == ["sentinel"]
    assert "mallory" in bob.client.connected_peers  # ignored, not an error
    assert bob.client.members == ["alice", "bob"]
    await _still_chatting(alice, bob, "still alice")


async def test_room_message_for_a_room_we_are_not_in_is_ignored(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """Aaron is a member of Bob's room, so only the room name can stop his message. His
    name sorts before Bob's, so Bob lets a new channel from him replace the old one."""
    alice, bob = await _room(tracker, peer_factory)
    aaron, identity = await _mallory_with_client(tracker, peer_factory, tmp_path, "aaron")
    await aaron.client.join_room("lobby")
    await asyncio.wait_for(bob.client.wait_channels(), TIMEOUT)
    link = await _dial(bob, identity, "aaron")  # replaces the channel of the real client
    sender = {"from": "aaron"}
    link.send_nowait(_chat(type="chat", room="elsewhere", text="OTHER", msg_id=_id(7), **sender))
    link.send_nowait(_chat(type="chat", room="lobby", text="sentinel", msg_id=_id(8), **sender))
    await bob.wait_for(MessageReceived, lambda e: e.text == "sentinel")
    assert [e.text for e in bob.of(MessageReceived) if e.sender == "aaron"] == ["sentinel"]
    await _still_chatting(alice, bob, "still alice")


@pytest.mark.parametrize(
    "plaintext",
    [
        b"not json",
        encode_object({"type": "admin", "from": "mallory"}),
        _chat(ts=10**400),
        _chat(text="x" * 4001),
        _chat(msg_id="1"),
        encode_object({"type": "accept"}),
        encode_object({"type": "ack", "ids": [_id(n) for n in range(1, 130)]}),
        encode_object({"type": "ack", "ids": []}),
        encode_object({"type": "ack", "ids": ["not-an-id"]}),
    ],
    ids=[
        "not_json",
        "unknown_type",
        "huge_ts",
        "text_too_long",
        "bad_msg_id",
        "late_accept",
        "ack_too_many_ids",
        "ack_no_ids",
        "ack_bad_id",
    ],
)
async def test_malformed_frame_closes_only_that_channel(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path, plaintext: bytes
) -> None:
    alice, bob = await _room(tracker, peer_factory)
    link = await _dial(bob, await _mallory(tracker, peer_factory, tmp_path))
    link.send_nowait(plaintext)
    await bob.wait_for(ChannelClosed, lambda e: e.username == "mallory")
    await _assert_link_closed(link)
    assert "mallory" not in bob.client.connected_peers
    await _still_chatting(alice, bob, "still alice")


async def test_flood_of_frames_with_replays_is_delivered_exactly_once(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """2,000 messages in one burst, each of the first 200 sent twice (same msg_id):
    Bob delivers each once, in order, and Alice's channel is unaffected."""
    alice, bob = await _room(tracker, peer_factory)
    link = await _dial(bob, await _mallory(tracker, peer_factory, tmp_path))
    for n in range(1, 2001):
        link.send_nowait(_chat(text=f"m{n}", msg_id=f"00000000000000aa-{n}"))
        if n <= 200:
            link.send_nowait(_chat(text=f"m{n}", msg_id=f"00000000000000aa-{n}"))
    await link.drain()
    await bob.wait_for(MessageReceived, lambda e: e.text == "m2000")
    texts = [e.text for e in bob.of(MessageReceived) if e.sender == "mallory"]
    assert texts == [f"m{n}" for n in range(1, 2001)]
    await _still_chatting(alice, bob, "still alice")


# ---------------------------------------------------------------- before and during the handshake


@pytest.mark.parametrize("announced", [65536, 2**32 - 1])
async def test_oversized_length_prefix_is_refused_before_buffering(
    tracker: TrackerServer, peer_factory: PeerFactory, announced: int
) -> None:
    """Bob closes as soon as the header announces too much, without waiting for (or
    buffering) the body: the body is never sent and his handshake timeout is 60 s."""
    alice, bob = await _room(tracker, peer_factory, handshake_timeout=LONG)
    assert bob.client.listen_address is not None
    reader, writer = await asyncio.open_connection(*bob.client.listen_address)
    writer.write(struct.pack(">I", announced) + b"\x00" * 16)
    assert await _closed_by_bob(reader) == b""
    writer.close()
    await _still_chatting(alice, bob, "still alice")


async def test_oversized_length_prefix_on_an_open_channel_closes_it(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    alice, bob = await _room(tracker, peer_factory)
    link = await _dial(bob, await _mallory(tracker, peer_factory, tmp_path))
    assert isinstance(link.transport, TcpTransport)
    link.transport.writer.write(struct.pack(">I", 65536))
    closed = await bob.wait_for(ChannelClosed, lambda e: e.username == "mallory")
    assert "frame_too_large" in closed[0].reason
    await _still_chatting(alice, bob, "still alice")


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: bob\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),  # a TLS ClientHello
        struct.pack(">I", 10) + os.urandom(10),  # a truncated Noise message 1
        struct.pack(">I", 100) + os.urandom(100),  # message 1 with a payload
        struct.pack(">I", 0),  # an empty frame
    ],
    ids=["http", "tls", "short_msg1", "msg1_with_payload", "empty_frame"],
)
async def test_garbage_before_the_handshake_is_dropped(
    tracker: TrackerServer, peer_factory: PeerFactory, garbage: bytes
) -> None:
    alice, bob = await _room(tracker, peer_factory, handshake_timeout=LONG)
    assert bob.client.listen_address is not None
    reader, writer = await asyncio.open_connection(*bob.client.listen_address)
    writer.write(garbage)
    assert await _closed_by_bob(reader) == b""
    writer.close()
    await _still_chatting(alice, bob, "still alice")
    assert bob.of(ChannelOpened) == [ChannelOpened("alice")]


async def _stalled_after_msg2(
    address: tuple[str, int], source: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a valid message 1, read Bob's message 2 (so Bob is mid-handshake), stall."""
    local = None if source is None else (source, 0)
    reader, writer = await asyncio.open_connection(*address, local_addr=local)
    noise = HandshakeState(PATTERN, True, PROLOGUE, s=X25519PrivateKey.generate())
    msg1 = noise.write_message(b"")
    writer.write(struct.pack(">I", len(msg1)) + msg1)
    (length,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), TIMEOUT))
    await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    return reader, writer


async def test_slowloris_handshakes_are_closed_at_the_timeout(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    alice, bob = await _room(tracker, peer_factory, handshake_timeout=0.5)
    address = bob.client.listen_address
    assert address is not None
    half_header_reader, half_header = await asyncio.open_connection(*address)
    half_header.write(b"\x00\x00")
    stalled_reader, stalled = await _stalled_after_msg2(address)
    await _closed_by_bob(half_header_reader)
    await _closed_by_bob(stalled_reader)
    half_header.close()
    stalled.close()
    await _still_chatting(alice, bob, "still alice")


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = TIMEOUT) -> None:
    """Retry ``check`` until it returns True; fail after ``timeout`` seconds."""

    async def loop() -> None:
        while not await check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


async def _refused_at_once(address: tuple[str, int], source: str) -> bool:
    """A connection from ``source`` gets no message 2: closed at once, not held."""
    reader, writer = await asyncio.open_connection(*address, local_addr=(source, 0))
    msg1 = HandshakeState(PATTERN, True, PROLOGUE, s=X25519PrivateKey.generate())
    body = msg1.write_message(b"")
    writer.write(struct.pack(">I", len(body)) + body)
    refused = await _closed_by_bob(reader) == b""
    writer.close()
    return refused


async def test_handshakes_in_progress_are_capped_per_source_and_in_all(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """8 per source (the 9th closed at once), 64 in all; a newcomer from a quieter source
    takes the place of the busiest source's oldest handshake."""
    alice, bob = await _room(tracker, peer_factory, handshake_timeout=LONG)
    address = bob.client.listen_address
    assert address is not None
    sources = [f"127.0.0.{n}" for n in range(2, 2 + DEFAULT_TOTAL // DEFAULT_PER_SOURCE)]
    stalled = {
        source: [await _stalled_after_msg2(address, source) for _ in range(DEFAULT_PER_SOURCE)]
        for source in sources
    }
    assert await _refused_at_once(address, sources[0])  # that source is at its cap
    assert len(bob.client._shell._listener.slots) == DEFAULT_TOTAL

    # Every slot is taken: a new source takes the place of the busiest's oldest one.
    newcomer = await _stalled_after_msg2(address, "127.0.0.200")
    oldest_reader = stalled[sources[0]][0][0]
    await _closed_by_bob(oldest_reader)
    assert len(bob.client._shell._listener.slots) == DEFAULT_TOTAL
    await _still_chatting(alice, bob, "during the flood")

    for pairs in stalled.values():
        for _, writer in pairs:
            writer.close()
    newcomer[1].close()

    async def slot_free() -> bool:
        try:
            _, probe = await _stalled_after_msg2(address, sources[0])
        except (asyncio.IncompleteReadError, ConnectionError):
            return False
        probe.close()
        return True

    await _eventually(slot_free)


async def test_messages_held_for_a_non_member_are_bounded(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """Room messages that beat the tracker's ROOM_UPDATE are held, at most 32 per sender,
    and delivered once the sender is a member: 40 sent early, the first 32 arrive."""
    alice, bob = await _room(tracker, peer_factory)
    mallory, identity = await _mallory_with_client(tracker, peer_factory, tmp_path)
    link = await _dial(bob, identity)
    for n in range(1, 41):
        link.send_nowait(_chat(type="chat", room="lobby", text=f"early {n}", msg_id=_id(n)))
    # Another session id, so that delivering it does not make the held ones look old.
    link.send_nowait(_chat(text="sentinel", msg_id="00000000000000bb-1"))
    await bob.wait_for(MessageReceived, lambda e: e.text == "sentinel")
    await mallory.client.join_room("lobby")
    await bob.wait_for(MemberJoined, lambda e: e.username == "mallory")
    await _still_chatting(alice, bob, "after the join")  # queued after the held ones
    texts = [e.text for e in bob.of(MessageReceived) if e.sender == "mallory"]
    assert texts == ["sentinel"] + [f"early {n}" for n in range(1, 33)]


# ---------------------------------------------------------------- receipts and keepalive


async def test_ping_flood_is_answered_with_few_pongs(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """1,000 pings in one burst: Bob answers with at most one pong per read, never more
    than he was sent, and his other channel is undisturbed."""
    alice, bob = await _room(tracker, peer_factory)
    link = await _dial(bob, await _mallory(tracker, peer_factory, tmp_path))
    ping = encode_chat_frame(Ping())
    for _ in range(1000):
        link.send_nowait(ping)
    link.send_nowait(_chat(text="sentinel", msg_id=_id(1)))
    await link.drain()
    pongs = 0
    while True:
        frame = decode_frame(await asyncio.wait_for(link.receive(), TIMEOUT), "bob")
        if isinstance(frame, Pong):
            pongs += 1
        elif isinstance(frame, Ack) and _id(1) in frame.ids:
            break
    assert 1 <= pongs <= 100
    await _still_chatting(alice, bob, "after the ping flood")


async def test_receipts_count_only_from_the_recipient_and_for_what_it_was_sent(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """Mallory acknowledges Alice's room message (she is not in the room) and ids Alice
    never sent: nothing is reported delivered to Mallory, and Bob's real receipt is the
    only one for that message."""
    bob = await peer_factory(tracker, "bob")
    alice = await peer_factory(tracker, "alice")
    await bob.client.create_room("lobby")
    await alice.client.join_room("lobby")
    await asyncio.wait_for(alice.client.wait_channels(), TIMEOUT)
    link = await _dial(alice, await _mallory(tracker, peer_factory, tmp_path))
    sent = await alice.client.send_room("lobby", "for bob only")
    forged = (sent.msg_id, sent.msg_id.split("-")[0] + "-999", "ffffffffffffffff-1")
    link.send_nowait(encode_chat_frame(Ack(forged)))
    link.send_nowait(_chat(text="sentinel", msg_id=_id(1)))
    await alice.wait_for(MessageReceived, lambda e: e.text == "sentinel")
    delivered = await alice.wait_for(MessageDelivered, lambda e: e.msg_id == sent.msg_id)
    assert [e.username for e in alice.of(MessageDelivered)] == ["bob"]
    assert delivered[0].username == "bob"
