"""The original's screenshots as assertions: three real peers and a real TLS tracker.

Register, log in, list peers, create a room, two others join and a fourth is refused
(capacity 3), everyone chats and every message reaches both others exactly once, a
private chat, a member leaves and the others are told, the owner deletes the room, a
peer is killed and the others are told (it stays a member, offline).
"""

from __future__ import annotations

import asyncio

import pytest

from commons.errors import ErrorCode, P2PChatError, RoomError
from peer.core.rooms import RoomMember
from peer.events import MemberJoined, MemberLeft, MemberOffline, MessageReceived, RoomDeleted
from tests.conftest import TrackerFactory
from tests.peers import PeerFactory, PeerHandle

ROUNDS = 5


def room_messages(handle: PeerHandle, sender: str) -> list[str]:
    return [m.text for m in handle.of(MessageReceived) if m.room and m.sender == sender]


async def test_three_peers_scenario(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory(room_capacity=3)  # a room of three: dave finds it full
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob")
    carol = await peer_factory(tracker, "carol")
    dave = await peer_factory(tracker, "dave")
    peers = {p.username for p in (await alice.client.list_peers()).peers}
    assert peers == {"alice", "bob", "carol", "dave"}

    await alice.client.create_room("lobby")
    assert [r.name for r in (await bob.client.list_rooms()).rooms] == ["lobby"]
    await bob.client.join_room("lobby")
    await carol.client.join_room("lobby")
    with pytest.raises(RoomError) as refused:
        await dave.client.join_room("lobby")
    assert refused.value.code is ErrorCode.ROOM_FULL
    await alice.wait_for(MemberJoined, lambda e: e.username == "carol")
    trio = {"alice": alice, "bob": bob, "carol": carol}
    for handle in trio.values():
        await asyncio.wait_for(handle.client.wait_channels(), 10)
        assert handle.client.members == ["alice", "bob", "carol"]

    # Everyone talks at once; each message must reach both others exactly once, in order.
    async def talk(name: str) -> None:
        for i in range(ROUNDS):
            await trio[name].client.send_room("lobby", f"{name} says {i} ✓")

    await asyncio.gather(*(talk(name) for name in trio))
    for handle in trio.values():
        await handle.wait_for(MessageReceived, lambda m: m.room == "lobby", count=2 * ROUNDS)
    # A barrier: messages after which no earlier duplicate could still be in flight.
    for name in trio:
        await trio[name].client.send_room("lobby", f"{name} done")
    for name, handle in trio.items():
        others = [o for o in trio if o != name]
        await handle.wait_for(MessageReceived, lambda m: m.text.endswith("done"), count=2)
        for other in others:
            expected = [f"{other} says {i} ✓" for i in range(ROUNDS)] + [f"{other} done"]
            assert room_messages(handle, other) == expected
        assert room_messages(handle, name) == []
    assert dave.of(MessageReceived) == []

    # Private chat between bob and carol: alice sees nothing.
    await bob.client.send_private("carol", "just between us")
    await carol.client.send_private("bob", "agreed")
    got = await carol.wait_for(MessageReceived, lambda m: m.room is None)
    assert (got[0].sender, got[0].text) == ("bob", "just between us")
    got = await bob.wait_for(MessageReceived, lambda m: m.room is None)
    assert (got[0].sender, got[0].text) == ("carol", "agreed")

    # Carol leaves: alice and bob are told once.
    await carol.client.leave_room()
    assert carol.client.room is None
    for handle in (alice, bob):
        left = await handle.wait_for(MemberLeft, lambda e: e.username == "carol")
        assert left[0].reason == "left"
    # Dave can now join (capacity freed); the tracker's update does not repeat the notice.
    await dave.client.join_room("lobby")
    await alice.wait_for(MemberJoined, lambda e: e.username == "dave")
    for handle in (alice, bob):
        assert len([e for e in handle.of(MemberLeft) if e.username == "carol"]) == 1

    # Only the owner may delete; then every member is told.
    with pytest.raises(P2PChatError) as not_owner:
        await bob.client.delete_room("lobby")
    assert not_owner.value.code is ErrorCode.NOT_OWNER
    await alice.client.delete_room("lobby")
    for handle in (bob, dave):
        deleted = await handle.wait_for(RoomDeleted)
        assert deleted[0].room == "lobby"
        assert handle.client.room is None
    assert (await alice.client.list_rooms()).rooms == []

    # A peer is killed: the others hear it within seconds, from the channel close
    # (MemberLeft) and from the tracker (issue 21: a PRESENCE push, MemberOffline).
    await alice.client.create_room("second")
    await bob.client.join_room("second")
    await carol.client.join_room("second")
    for handle in (alice, bob, carol):
        await asyncio.wait_for(handle.client.wait_channels(), 10)
    carol.client.abort()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for handle in (alice, bob):
        gone = await handle.wait_for(
            MemberLeft, lambda e: e.room == "second" and e.username == "carol"
        )
        assert gone[0].reason == "connection_lost"
        await handle.wait_for(MemberOffline, lambda e: e.room == "second" and e.username == "carol")
    assert loop.time() - started < 3.0
    assert "carol" not in tracker.state.online  # the tracker ended her session
    # Membership outlasts the connection: the tracker keeps carol a member, offline,
    # and says so once per room-mate (a presence change, not a membership change).
    rooms = (await alice.client.list_rooms()).rooms
    assert rooms[0].name == "second" and rooms[0].members == ("alice", "bob", "carol")
    assert alice.client.room_members("second") == [
        RoomMember("alice", True),
        RoomMember("bob", True),
        RoomMember("carol", False),
    ]
    assert alice.client.members == ["alice", "bob"]
    for handle in (alice, bob):
        assert [e for e in handle.of(MemberOffline) if e.username == "carol"] == [
            MemberOffline("second", "carol")
        ]
