"""The relay and address privacy with real ``python -m peer --batch`` processes.

Each peer is its own process with its own sockets; the tracker runs in the test, with a
:class:`tests.e2e.relay_tap.RelayTap` on its relay decision where a test needs to see
(or tamper with) what the tracker relays.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TrackerFactory
from tests.e2e.batch_process import BatchProcess
from tests.e2e.relay_tap import RelayTap, flip_bit
from tracker.server.server import TrackerServer

SECRET = "the eagle lands at midnight, bring the 7f3a crate"
#: A refused dial goes to the relay at once; an unanswered one after 1.5 s
#: (``PeerConfig.direct_timeout``); then one relayed handshake. The stated bound:
FALLBACK_WITHIN = 3.0


async def start(tracker: TrackerServer, tmp_path: Path, name: str, *extra: str) -> BatchProcess:
    return await BatchProcess.logged_in(tracker, tmp_path / name, name, extra)


async def stop(*procs: BatchProcess) -> None:
    for proc in procs:
        await proc.stop()


async def test_a_peer_without_a_listener_chats_both_ways_in_a_room_and_privately(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    """zoe has no listener: bob (who leads in the room) and carol (no room-mate) reach
    her through the relay, and she them; every message gets its receipt."""
    zoe = await start(tracker, tmp_path, "zoe", "--no-listen")
    bob = await start(tracker, tmp_path, "bob")
    carol = await start(tracker, tmp_path, "carol")
    try:
        assert tracker.state.online["zoe"].port is None  # no address to publish
        bob.send("/create lobby")
        await bob.expect("room_created", room="lobby")
        zoe.send("/join lobby")
        await zoe.expect("joined", room="lobby")
        assert (await bob.expect("channel_opened", user="zoe"))["path"] == "relay"
        assert (await zoe.expect("channel_opened", user="bob"))["path"] == "relay"

        zoe.send("hello room")
        bob.send("hello zoe")
        zoe.send("/msg carol hello carol")
        to_room = await zoe.expect("sent", room="lobby")
        to_carol = await zoe.expect("sent", to="carol")
        from_bob = await bob.expect("sent", room="lobby")
        await bob.expect("message", text="hello room", **{"from": "zoe"})
        await zoe.expect("message", text="hello zoe", **{"from": "bob"})
        got = await carol.expect("message", text="hello carol")
        assert got["room"] is None
        assert (await carol.expect("channel_opened", user="zoe"))["path"] == "relay"
        carol.send("/msg zoe hello zoe, privately")
        from_carol = await carol.expect("sent", to="zoe")
        await zoe.expect("message", text="hello zoe, privately", **{"from": "carol"})
        await zoe.expect("delivered", msg_id=to_room["msg_id"], user="bob")
        await zoe.expect("delivered", msg_id=to_carol["msg_id"], user="carol")
        await bob.expect("delivered", msg_id=from_bob["msg_id"], user="zoe")
        await carol.expect("delivered", msg_id=from_carol["msg_id"], user="zoe")
        zoe.send("/users")
        users = await zoe.expect("users")
        assert users["paths"] == {"bob": "relay", "carol": "relay"}
    finally:
        await stop(zoe, bob, carol)


@pytest.mark.parametrize("port_fixture", ["unused_port", "blackholed_port"])
async def test_an_unreachable_advertised_port_falls_back_to_the_relay_in_bounded_time(
    tracker: TrackerServer, tmp_path: Path, request: pytest.FixtureRequest, port_fixture: str
) -> None:
    """bob's advertised port refuses connections (or never answers): alice, who dials
    him, is on the relay within FALLBACK_WITHIN seconds of joining."""
    port = request.getfixturevalue(port_fixture)
    bob = await start(tracker, tmp_path, "bob", "--advertise-port", str(port))
    alice = await start(tracker, tmp_path, "alice")
    try:
        bob.send("/create lobby")
        await bob.expect("room_created", room="lobby")
        alice.send("/join lobby")
        joined = await alice.expect("joined", room="lobby")
        opened = await alice.expect("channel_opened", user="bob")
        assert opened["path"] == "relay"
        assert opened["_read_at"] - joined["_read_at"] < FALLBACK_WITHIN
        alice.send("made it")
        await bob.expect("message", text="made it")
    finally:
        await stop(alice, bob)


async def test_the_tracker_sees_no_text_and_no_username_inside_relayed_frames(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    tap = RelayTap(tracker)
    amelia = await start(tracker, tmp_path, "amelia_wirecheck", "--relay-only")
    zoe = await start(tracker, tmp_path, "zoe_wirecheck", "--relay-only")
    try:
        zoe.send("/create wire")
        await zoe.expect("room_created")
        amelia.send("/join wire")
        await amelia.expect("channel_opened", user="zoe_wirecheck")
        amelia.send(SECRET)
        zoe.send(SECRET + " (reply)")
        amelia.send("/msg zoe_wirecheck private " + SECRET)
        await zoe.expect("message", text=SECRET)
        await zoe.expect("message", text="private " + SECRET)
        await amelia.expect("message", text=SECRET + " (reply)")
    finally:
        await stop(amelia, zoe)
    bodies = tap.bodies()
    assert len(bodies) >= 8 and sum(map(len, bodies)) > 2500  # handshakes and chat
    recorded = b"".join(bodies)
    for needle in (SECRET, "eagle", "amelia", "zoe", "wirecheck", "wire"):
        assert needle.encode() not in recorded
        assert needle.encode("utf-16-le") not in recorded
    # The relay's envelope names who talks to whom, and nothing more.
    senders = {who for who, _ in tap.frames}
    assert senders == {"amelia_wirecheck", "zoe_wirecheck"}


async def test_a_relayed_frame_tampered_by_a_hostile_tracker_is_never_delivered(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    """The tracker flips one bit of every chat message amelia relays (her bodies on a
    link: message 1, message 3, then chat): zoe's channel closes at the first one, she
    shows nothing, and amelia is told the message did not arrive."""

    def tamper(sender: str, index: int, data: str) -> list[str]:
        return [flip_bit(data)] if sender == "amelia" and index >= 2 else [data]

    RelayTap(tracker, tamper)
    amelia = await start(tracker, tmp_path, "amelia", "--relay-only")
    zoe = await start(tracker, tmp_path, "zoe", "--relay-only")
    try:
        zoe.send("/create lobby")
        await zoe.expect("room_created")
        amelia.send("/join lobby")
        await amelia.expect("channel_opened", user="zoe")
        amelia.send("one")
        sent = await amelia.expect("sent", room="lobby")
        closed = await zoe.expect("channel_closed", user="amelia")
        assert "authentication" in closed["reason"]
        await amelia.expect("failed", msg_id=sent["msg_id"], user="zoe", timeout=30)
        zoe.send("/users")
        await zoe.expect("users")
        assert [o for o in zoe.seen if o["event"] == "message"] == []
    finally:
        await stop(amelia, zoe)


async def test_a_stranger_gets_no_address_from_the_directory(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    bob = await start(tracker, tmp_path, "bob")
    stranger = await start(tracker, tmp_path, "stranger")
    try:
        bob_port = str(tracker.state.online["bob"].port)
        stranger.send("/peers")
        peers = (await stranger.expect("peers"))["peers"]
        assert {p["user"] for p in peers} == {"bob", "stranger"}
        assert all(set(p) == {"user", "room", "fingerprint"} for p in peers)
        stranger.send("/msg bob hello, whoever you are")
        assert (await stranger.expect("channel_opened", user="bob"))["path"] == "relay"
        await bob.expect("message", text="hello, whoever you are")
        stranger.send("/quit")
        await stranger.expect("bye")
        everything = json.dumps(stranger.seen)
        assert bob_port not in everything
    finally:
        await stop(bob, stranger)


async def test_relay_to_direct_mid_conversation_delivers_every_message_exactly_once(
    tracker_factory: TrackerFactory, tmp_path: Path
) -> None:
    """alice and bob share no room: their private conversation starts on the relay,
    which is slow here (40 frames/s each), so that many messages are still on it when
    bob verifies alice: his client then offers its address inside the channel, alice
    dials it, and the direct channel takes over mid-stream. Each side gets every
    message of the other once, in order, with a receipt for each."""
    tracker = await tracker_factory(relay_frames_per_second=40.0, relay_burst_frames=40.0)
    alice = await start(tracker, tmp_path, "alice")
    bob = await start(tracker, tmp_path, "bob")
    count = 300
    try:
        alice.send("/msg bob a-start")
        kept = [(bob, await bob.expect("message", text="a-start"))]
        assert (await alice.expect("channel_opened", user="bob"))["path"] == "relay"
        assert (await bob.expect("channel_opened", user="alice"))["path"] == "relay"
        for n in range(count):
            alice.send(f"/msg bob a{n}")
        for n in range(20):
            bob.send(f"/msg alice b{n}")
        kept.append((bob, await bob.expect("message", text="a20", timeout=30)))
        bob.send("/verify alice")
        for n in range(20, count):
            bob.send(f"/msg alice b{n}")
        await bob.expect("verified", user="alice", timeout=30)
        assert (await alice.expect("channel_opened", user="bob", timeout=30))["path"] == "direct"
        assert (await bob.expect("channel_opened", user="alice", timeout=30))["path"] == "direct"
        relayed = tracker.state.relay_stats.frames
        kept.append((bob, await bob.expect("message", text=f"a{count - 1}", timeout=60)))
        kept.append((alice, await alice.expect("message", text=f"b{count - 1}", timeout=60)))
        for proc, obj in kept:  # back where they were read, for the order check
            proc.seen.append(obj)
            proc.seen.sort(key=lambda o: o["_read_at"])
        for proc, theirs, other in ((alice, "b", "bob"), (bob, "a", "alice")):
            got = [o["text"] for o in proc.seen if o["event"] == "message"]
            assert [t for t in got if t != "a-start"] == [f"{theirs}{n}" for n in range(count)]
            proc.send("/quit")
            await proc.expect("bye", timeout=60)
            sent = {o["msg_id"] for o in proc.seen if o["event"] == "sent"}
            delivered = {o["msg_id"] for o in proc.seen if o["event"] == "delivered"}
            assert len(sent) >= count and sent <= delivered
            assert [o for o in proc.seen if o["event"] == "failed"] == []
            assert all(o.get("user") == other for o in proc.seen if o["event"] == "delivered")
        # The switch came mid-stream: most of the conversation never went through the relay.
        assert relayed < count
    finally:
        await stop(alice, bob)
