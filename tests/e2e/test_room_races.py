"""Room changes that race a user's own join: the member list ends up the tracker's latest."""

from __future__ import annotations

import asyncio

from peer.events import MemberJoined
from tests.conftest import UserFactory
from tests.peers import PeerFactory
from tracker.server import TrackerServer


async def test_a_member_who_joins_right_after_us_is_not_lost(
    tracker: TrackerServer, peer_factory: PeerFactory, user: UserFactory
) -> None:
    """carol's JOIN_ROOM reaches the tracker together with alice's: alice's client reads
    the reply to her join and carol's ROOM_UPDATE in one go, and handles the push before
    her join_room call resumes. Adopting the reply's list then would drop carol for good
    (found in a tmux trial: alice never saw carol, and carol never got alice's messages)."""
    bob = await peer_factory(tracker, "bob")
    await bob.client.create_room("lobby")
    alice = await peer_factory(tracker, "alice")
    carol = await user(tracker, "carol", port=None)
    await asyncio.gather(
        alice.client.join_room("lobby"),
        carol.send({"cmd": "JOIN_ROOM", "id": 99, "room": "lobby"}),
    )
    assert (await carol.reply())["status"] == "OK"
    await bob.wait_for(MemberJoined, lambda e: e.username == "carol")
    await alice.wait_for(MemberJoined, lambda e: e.username == "carol")
    assert sorted(alice.client.members) == ["alice", "bob", "carol"]
