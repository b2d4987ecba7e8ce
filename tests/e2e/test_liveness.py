"""A frozen member, with three real `python -m peer --batch` processes.

SIGSTOP leaves every socket of the process open (as a closed laptop lid or a hung
machine does): the kernel keeps acknowledging TCP, so only the keepalives can tell (the
tracker's heartbeat, then the channels' own). The peers run with the default keepalive
(5 s, 3 misses); the tracker drops silent sessions after 3 heartbeats of 2 s here, so
that the frozen user's return is a real re-login.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import TrackerFactory
from tests.e2e.batch_process import BatchProcess

GONE_WITHIN = 20.0


async def test_frozen_member_is_dropped_within_20_s_then_comes_back(
    tracker_factory: TrackerFactory, tmp_path: Path
) -> None:
    tracker = await tracker_factory(heartbeat_interval=2.0)
    names = ("alice", "bob", "carol")
    procs = [await BatchProcess.logged_in(tracker, tmp_path / name, name) for name in names]
    alice, bob, carol = procs
    try:
        alice.send("/create lobby")
        await alice.expect("room_created", room="lobby")
        for proc in (bob, carol):
            proc.send("/join lobby")
            await proc.expect("joined", room="lobby")
        for proc, name in zip(procs, names, strict=True):
            for other in names:
                if other != name:
                    await proc.expect("channel_opened", user=other)

        loop = asyncio.get_running_loop()
        frozen_at = loop.time()
        carol.freeze()
        alice.send("while carol is frozen")
        from_alice = await alice.expect("sent", room="lobby")
        bob.send("me too")
        from_bob = await bob.expect("sent", room="lobby")
        assert from_alice["recipients"] == ["bob", "carol"]

        for proc in (alice, bob):
            # The tracker's heartbeat expiry (6 s here) says so before the channel's
            # keepalive (15 s): carol goes offline and stays a member, and her channel
            # closing later adds no second notice.
            gone = await proc.expect("member_offline", user="carol", timeout=GONE_WITHIN + 5)
            assert gone["room"] == "lobby"
            assert gone["_read_at"] - frozen_at < GONE_WITHIN
            # Messages still go to her while her channel lives; its keepalive ends it.
            closed = await proc.expect("channel_closed", user="carol", timeout=GONE_WITHIN + 5)
            assert closed["_read_at"] - frozen_at < GONE_WITHIN
            assert not [o for o in proc.seen if o["event"] == "member_left"]
            proc.send("/users")
            users = await proc.expect("users")
            assert "carol" not in users["members"]
        await alice.expect("failed", msg_id=from_alice["msg_id"], user="carol")
        await alice.expect("delivered", msg_id=from_alice["msg_id"], user="bob")
        await bob.expect("failed", msg_id=from_bob["msg_id"], user="carol")
        await bob.expect("delivered", msg_id=from_bob["msg_id"], user="alice")

        carol.thaw()
        await carol.expect("reconnected", timeout=30)
        for proc in (alice, bob):
            await proc.expect("member_online", user="carol", timeout=30)
        for other in ("alice", "bob"):
            await carol.expect("channel_opened", user=other, timeout=30)

        carol.send("back again")
        from_carol = await carol.expect("sent", room="lobby")
        for proc in (alice, bob):
            got = await proc.expect("message", text="back again")
            assert got["from"] == "carol"
        for other in ("alice", "bob"):
            await carol.expect("delivered", msg_id=from_carol["msg_id"], user=other)
        alice.send("welcome back")
        welcome = await alice.expect("sent", room="lobby")
        await carol.expect("message", text="welcome back")
        await alice.expect("delivered", msg_id=welcome["msg_id"], user="carol")
        # What was reported failed for carol did not reach her after all: the frames her
        # kernel buffered while she was frozen arrive on a channel she has given up too.
        late = [o["text"] for o in carol.seen if o["event"] == "message"]
        assert "while carol is frozen" not in late and "me too" not in late
    finally:
        for proc in procs:
            await proc.stop()
