"""Channel protocol 2 against a peer that still speaks protocol 1 (plain Noise XX), on
real sockets: the new client refuses it, names the versions and says to update p2pchat,
in whichever direction the connection goes. Nothing falls back to the old handshake.
"""

from __future__ import annotations

import asyncio
import logging
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from commons.errors import P2PChatError
from commons.framing import FrameDecoder
from crypto.noise import HandshakeState
from peer.events import ChannelOpened, ErrorEvent, MessageReceived
from tests.conftest import UserFactory
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer

TIMEOUT = 10.0
V1_PROLOGUE = b"p2pchat/1 Noise_XX_25519_AESGCM_SHA256"


async def test_version_1_dialler_is_refused_with_a_message_naming_the_version(
    tracker: TrackerServer, peer_factory: PeerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="peer")
    bob = await peer_factory(tracker, "bob")
    alice = await peer_factory(tracker, "alice")
    assert bob.client.listen_address is not None
    reader, writer = await asyncio.open_connection(*bob.client.listen_address)
    old = HandshakeState("XX", True, V1_PROLOGUE, s=X25519PrivateKey.generate())
    msg1 = old.write_message(b"")
    writer.write(struct.pack(">I", len(msg1)) + msg1)
    # Bob answers nothing (no message 2 of either version) and closes.
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    writer.close()
    refusals = [r.getMessage() for r in caplog.records if "inbound channel refused" in r.msg]
    assert len(refusals) == 1
    assert "protocol 1" in refusals[0] and "protocol 2" in refusals[0]
    assert "update p2pchat" in refusals[0]
    assert bob.of(ChannelOpened) == []
    # Bob is undisturbed: a current client still gets through.
    await alice.client.send_private("bob", "still here")
    await bob.wait_for(MessageReceived, lambda e: e.text == "still here")


async def test_dialling_a_version_1_peer_tells_the_user_to_update(
    tracker: TrackerServer, peer_factory: PeerFactory, user: UserFactory
) -> None:
    """``oldie``'s advertised port is a protocol-1 listener: it reads message 1 as plain
    XX would, finds a payload where version 1 allows none, and hangs up, as the old
    client does. (Oldie is a room-mate: only room-mates learn each other's address.)"""
    refused = asyncio.Event()

    async def version_1_listener(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        decoder = FrameDecoder(65535)
        bodies: list[bytes] = []
        while not bodies and (data := await reader.read(65536)):
            bodies += decoder.feed(data)
        responder = HandshakeState("XX", False, V1_PROLOGUE, s=X25519PrivateKey.generate())
        if bodies and responder.read_message(bodies[0]) != b"":
            refused.set()
        writer.close()

    server = await asyncio.start_server(version_1_listener, "127.0.0.1", 0)
    try:
        port = int(server.sockets[0].getsockname()[1])
        oldie = await user(tracker, "oldie", port=port)
        amelia = await peer_factory(tracker, "amelia")
        await amelia.client.create_room("old")
        assert (await oldie.request("JOIN_ROOM", room="old"))["status"] == "OK"
        await asyncio.wait_for(refused.wait(), TIMEOUT)  # amelia dials her room-mate
        refused.clear()
        with pytest.raises(P2PChatError, match="update p2pchat"):
            await amelia.client.send_private("oldie", "hello?")
        await asyncio.wait_for(refused.wait(), TIMEOUT)
        errors = await amelia.wait_for(ErrorEvent, lambda e: "update p2pchat" in e.message)
        assert "protocol 2" in errors[0].message
        assert amelia.of(ChannelOpened) == []
    finally:
        server.close()
        await server.wait_closed()
