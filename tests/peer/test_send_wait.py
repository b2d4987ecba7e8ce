"""The Python API's waiting sends: ``send_*(wait=True)`` holds a message until the
recipient's backlog has room, where a plain send fails it ``backlog_full``.

Real peers on a real tracker, with alice's backlog bound cut to one message, so that
every message must wait for the receipt of the one before.
"""

from __future__ import annotations

import asyncio

from peer.core.settings import CoreSettings
from peer.events import MessageDelivered, MessageFailed, MessageReceived
from tests.peers import TIMEOUT, PeerFactory
from tracker.server.server import TrackerServer

COUNT = 30


async def test_waiting_sends_are_all_delivered_in_order_where_plain_ones_fail(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    alice = await peer_factory(tracker, "alice", core=CoreSettings(max_pending=1))
    bob = await peer_factory(tracker, "bob")
    await alice.client.create_room("lab")
    await bob.client.join_room("lab")
    await asyncio.wait_for(alice.client.wait_channels(), TIMEOUT)

    # Plain sends, back to back: the second finds the first still awaiting its receipt.
    first = await alice.client.send_private("bob", "plain 1")
    second = await alice.client.send_private("bob", "plain 2")
    failed = await alice.wait_for(MessageFailed)
    assert [(f.msg_id, f.reason) for f in failed] == [(second.msg_id, "backlog_full")]
    await alice.wait_for(MessageDelivered, lambda d: d.msg_id == first.msg_id)

    sent = [
        await (
            alice.client.send_private("bob", f"p{i}", wait=True)
            if i % 2
            else alice.client.send_room("lab", f"r{i}", wait=True)
        )
        for i in range(COUNT)
    ]
    ids = {s.msg_id for s in sent}
    await alice.wait_for(MessageDelivered, lambda d: d.msg_id in ids, count=COUNT)
    assert len(alice.of(MessageFailed)) == 1  # still only the plain one
    got = await bob.wait_for(MessageReceived, lambda m: not m.text.startswith("plain"), count=COUNT)
    assert [m.text for m in got] == [f"{'p' if i % 2 else 'r'}{i}" for i in range(COUNT)]
    await asyncio.wait_for(alice.client.wait_for_room(["bob"]), TIMEOUT)  # room now
