"""A room member stops reading: the others go on chatting, and the client still quits.

The original client blocked in ``drain()`` for ever once about 3.7 MB waited for one
member; it stopped answering even ``/quit``. Here mallory is a real batch process,
frozen with SIGSTOP (her sockets stay open, nothing is read), while alice sends long
messages to the room. Once what waits for mallory fills the kernel's buffers and alice's
own, the write deadline (``write_timeout``, 2 s here) drops her as ``connection_lost``,
"they stopped reading"; bob got every message all along. The keepalive is set long
(90 s) so that only the write deadline can be what drops her.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from peer.core.actions import CloseReason
from peer.core.liveness import Keepalive
from peer.core.settings import CoreSettings
from peer.events import ChannelClosed, MemberLeft, MessageReceived
from tests.conftest import TrackerFactory
from tests.e2e.batch_process import BatchProcess
from tests.peers import PeerFactory

#: JSON escapes each of these as six bytes: 24 KB on the wire per message.
TEXT = "\x01" * 4000
MESSAGES = 4000  # up to 96 MB to each member: more than loopback's socket buffers take


async def test_a_member_that_stops_reading_is_dropped_and_the_room_goes_on(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    tracker = await tracker_factory()
    patient = CoreSettings(keepalive=Keepalive(30.0, 3), max_pending=MESSAGES)
    alice = await peer_factory(tracker, "alice", write_timeout=2.0, core=patient)
    bob = await peer_factory(tracker, "bob", core=patient)
    await alice.client.create_room("lobby")
    await bob.client.join_room("lobby")
    mallory = await BatchProcess.logged_in(tracker, tmp_path / "mallory", "mallory")
    try:
        mallory.send("/join lobby")
        await mallory.expect("joined", room="lobby")
        await asyncio.wait_for(alice.client.wait_channels(["bob", "mallory"]), 10)
        mallory.freeze()

        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = 0
        while "mallory" in alice.client.connected_peers and sent < MESSAGES:
            await asyncio.wait_for(alice.client.send_room("lobby", TEXT), 5)  # never blocks longer
            sent += 1
        closed = await alice.wait_for(ChannelClosed, lambda e: e.username == "mallory")
        assert str(CloseReason.STALLED) in closed[0].reason
        assert "read nothing we sent for 2 s" in closed[0].reason  # the deadline, not the cap
        left = await alice.wait_for(MemberLeft, lambda e: e.username == "mallory")
        assert left[0].reason == "connection_lost"
        assert loop.time() - started < 60  # the keepalive (90 s) had no part in it

        await bob.wait_for(MessageReceived, lambda e: e.text == TEXT, count=sent)
        after = await asyncio.wait_for(alice.client.send_room("lobby", "still here?"), 1)
        assert "bob" in after.recipients  # (mallory too: she is being dialled again)
        await bob.wait_for(MessageReceived, lambda e: e.text == "still here?")

        await asyncio.wait_for(alice.client.close(), 5)  # /quit answers at once
    finally:
        await mallory.stop()
