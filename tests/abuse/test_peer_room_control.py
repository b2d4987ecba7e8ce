"""Room control from the chat's own commands: the owner kicks, bans and invites.

The tracker's side (``test_room_squatting.py``) speaks the protocol by hand; here the
owner, the squatters and the friend are real clients running the shared command table
(the API and the batch mode), and each one's chat follows: the squatter's client leaves
the room when told, the owner's members and channels follow, the friend gets in.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from commons.errors import ErrorCode, P2PChatError
from peer.commands import results as res
from peer.commands.runner import execute
from peer.commands.table import parse_line
from peer.events import MemberLeft, MessageReceived, RemovedFromRoom
from tests.conftest import TrackerFactory
from tests.e2e.batch_process import BatchProcess
from tests.peers import PeerFactory, PeerHandle
from tracker.server.server import TrackerServer


async def _run(peer: PeerHandle, line: str) -> res.Result:
    command = parse_line(line)
    assert command is not None
    return await execute(peer.client, command)  # type: ignore[arg-type]


async def test_owner_kicks_and_bans_squatters_and_the_chat_follows(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory(room_capacity=3)
    owner = await peer_factory(tracker, "owner")
    await _run(owner, "/create general")
    squatters = [await peer_factory(tracker, f"squat{i}") for i in range(2)]
    for squatter in squatters:
        await squatter.client.join_room("general")
    await asyncio.wait_for(owner.client.wait_channels(["squat0", "squat1"]), 10)
    friend = await peer_factory(tracker, "friend")
    with pytest.raises(P2PChatError) as full:
        await friend.client.join_room("general")
    assert full.value.code is ErrorCode.ROOM_FULL

    kicked = await _run(owner, "/kick squat0")
    assert res.result_to_json(kicked) == {"event": "kicked", "room": "general", "user": "squat0"}
    removed = await squatters[0].wait_for(RemovedFromRoom)
    assert removed == [RemovedFromRoom("general", "owner", "kicked")]
    assert squatters[0].client.room is None
    await owner.wait_for(MemberLeft, lambda e: e.username == "squat0")

    banned = await _run(owner, "/ban squat1 general")
    assert res.result_to_json(banned)["event"] == "banned"
    await squatters[1].wait_for(RemovedFromRoom, lambda e: e.reason == "banned")
    with pytest.raises(P2PChatError) as refused:
        await squatters[1].client.join_room("general")
    assert refused.value.code is ErrorCode.BANNED
    access = await _run(owner, "/access")
    assert res.result_to_json(access) == {
        "event": "room_access",
        "room": "general",
        "invite_only": False,
        "invited": [],
        "banned": ["squat1"],
    }

    await friend.client.join_room("general")
    await asyncio.wait_for(owner.client.wait_channels(["friend"]), 10)
    await owner.client.send_room("general", "welcome")
    await friend.wait_for(MessageReceived, lambda e: e.text == "welcome")
    assert owner.client.members == ["friend", "owner"]
    assert "squat1" not in owner.client.connected_peers
    with pytest.raises(P2PChatError) as not_owner:
        await _run(friend, "/kick owner")
    assert not_owner.value.code is ErrorCode.NOT_OWNER


async def test_invite_only_rooms_and_rate_limits_in_the_batch_mode(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    owner = await BatchProcess.logged_in(tracker, tmp_path / "owner", "owner")
    friend = await BatchProcess.logged_in(tracker, tmp_path / "friend", "friend")
    try:
        owner.send("/create private --invite-only")
        created = await owner.expect("room_created", room="private")
        assert created["invite_only"] is True
        friend.send("/join private")
        await friend.expect("error", code="not_invited", command="join")
        owner.send("/invite friend")
        invited = await owner.expect("invited", room="private", user="friend")
        assert (invited["member_count"], invited["capacity"], invited["full"]) == (1, 16, False)
        await friend.expect("invited_to_room", room="private", by="owner")
        friend.send("/join private")
        await friend.expect("joined", room="private")
        owner.send("/invite-only off")
        await owner.expect("room_mode", room="private", invite_only=False)
        owner.send("/list")
        rooms = await owner.expect("rooms")
        assert rooms["total"] == 1 and rooms["next"] is None
        assert rooms["rooms"][0]["invite_only"] is False

        # Room commands take a token each (10 at once, then 1 a second): the refusal
        # says when to try again, as a number and in words.
        for _ in range(6):
            friend.send("/leave")
            friend.send("/join private")
        limited = await friend.expect("error", code="rate_limited")
        assert 0 < limited["retry_after"] <= 1.0
        assert limited["message"].endswith("try again in 1 second")

        owner.send("/kick friend")
        await owner.expect("kicked", room="private", user="friend")
        removed = await friend.expect("removed_from_room", room="private")
        assert removed == {**removed, "by": "owner", "reason": "kicked"}
    finally:
        await asyncio.gather(owner.stop(), friend.stop())


async def test_a_banned_member_whose_client_ignores_the_ban_reads_no_more_room_messages(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """Carol keeps a private channel with the owner alive and her client ignores
    ``KICKED``: the ban must still take effect at every member, whose own clients stop
    sending the room's messages to her (the tracker's update says she was banned)."""
    from peer.session.messages import KickedPush

    owner = await peer_factory(tracker, "owner")
    await owner.client.create_room("general")
    bob = await peer_factory(tracker, "bob")
    carol = await peer_factory(tracker, "carol")
    for member in (bob, carol):
        await member.client.join_room("general")
    await asyncio.wait_for(owner.client.wait_channels(["bob", "carol"]), 10)
    await carol.client.send_private("owner", "a private word")
    await owner.wait_for(MessageReceived, lambda e: e.text == "a private word")

    driver = carol.client._driver
    assert driver is not None
    honest_pushed = driver.pushed
    driver.pushed = lambda push: None if isinstance(push, KickedPush) else honest_pushed(push)  # type: ignore[method-assign]

    await _run(owner, "/ban carol")
    for member in (owner, bob):
        gone = await member.wait_for(MemberLeft, lambda e: e.username == "carol")
        assert gone[-1].reason == "banned"
    assert carol.client.room == "general"  # her client still thinks she is in

    sent = await owner.client.send_room("general", "members only from now on")
    assert sent.recipients == ("bob",)
    await bob.wait_for(MessageReceived, lambda e: e.text == "members only from now on")
    await owner.client.send_private("carol", "this one is for you")
    await carol.wait_for(MessageReceived, lambda e: e.text == "this one is for you")
    texts = [e.text for e in carol.of(MessageReceived)]
    assert "members only from now on" not in texts
    assert "carol" in owner.client.connected_peers  # the private conversation goes on
