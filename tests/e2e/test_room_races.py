"""Room changes that race a user's own join: the member list ends up the tracker's latest."""

from __future__ import annotations

import asyncio

from peer.events import MemberJoined
from tests.conftest import TrackerFactory, UserFactory
from tests.peers import TIMEOUT, PeerFactory, PeerHandle
from tracker.server.server import TrackerServer


async def lists(peer: PeerHandle, expected: list[str]) -> None:
    """Wait until ``peer`` lists exactly ``expected`` (the last pushes may still be on
    their way; whether a member came in the reply or a push does not matter)."""

    async def listed() -> None:
        while sorted(peer.client.members) != expected:
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(listed(), TIMEOUT)
    except TimeoutError:
        missing = sorted(set(expected) - set(peer.client.members))
        raise AssertionError(f"{peer.client.username} never listed {missing}") from None


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
    await lists(alice, ["alice", "bob", "carol"])


async def test_a_burst_of_joiners_racing_our_join_is_all_seen(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory, user: UserFactory
) -> None:
    """30 accounts join in the same instant as alice: whatever number of pushes races
    her join, what she keeps is the newest (the latest list, not the first 16)."""
    tracker = await tracker_factory(room_capacity=40)
    bob = await peer_factory(tracker, "bob")
    await bob.client.create_room("lobby")
    alice = await peer_factory(tracker, "alice")
    others = [await user(tracker, f"u{i:02d}", port=None) for i in range(30)]

    async def burst() -> None:
        join = {"cmd": "JOIN_ROOM", "id": 99, "room": "lobby"}
        await asyncio.gather(*(other.send(join) for other in others))

    await asyncio.gather(alice.client.join_room("lobby"), burst())
    for other in others:
        assert (await other.reply())["status"] == "OK"
    await bob.wait_for(MemberJoined, count=31)  # alice and the 30: the tracker is done
    await lists(alice, sorted(["alice", "bob", *(f"u{i:02d}" for i in range(30))]))
