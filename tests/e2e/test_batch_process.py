"""`python -m peer --batch` as a real subprocess, next to in-process peers."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from argon2 import PasswordHasher

from crypto.login_secret import legacy_digest
from peer.batch import EXIT_LOGIN_FAILED
from peer.events import MemberLeft, MessageReceived
from tests.e2e.batch_process import PASSWORD, TIMEOUT, BatchProcess
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer


async def test_batch_process_chats_and_is_killed(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob")
    await alice.client.create_room("lobby")
    await bob.client.join_room("lobby")

    carol = await BatchProcess.start(tracker, tmp_path / "carol")
    try:
        await carol.expect("ready")
        carol.send("/register carol hunter2hunter2")
        await carol.expect("registered", user="carol")
        carol.send("/login carol hunter2hunter2")
        await carol.expect("logged_in", user="carol")
        carol.send("/peers")
        peers = await carol.expect("peers")
        assert {p["user"] for p in peers["peers"]} == {"alice", "bob", "carol"}
        carol.send("/join lobby")
        joined = await carol.expect("joined", room="lobby")
        assert joined["members"] == ["alice", "bob", "carol"]
        await carol.expect("channel_opened", user="alice")
        await carol.expect("channel_opened", user="bob")
        await asyncio.wait_for(alice.client.wait_channels(), TIMEOUT)
        await asyncio.wait_for(bob.client.wait_channels(), TIMEOUT)

        await alice.client.send_room("lobby", "hi carol 👋")
        got = await carol.expect("message", room="lobby", **{"from": "alice"})
        assert got["text"] == "hi carol 👋" and isinstance(got["msg_id"], str)
        carol.send("hello all")
        await carol.expect("sent", room="lobby")
        for handle in (alice, bob):
            msg = await handle.wait_for(MessageReceived, lambda m: m.sender == "carol")
            assert msg[0].text == "hello all"
        carol.send("/msg bob just you")
        await carol.expect("sent", to="bob")
        msg = await bob.wait_for(MessageReceived, lambda m: m.room is None)
        assert (msg[0].sender, msg[0].text) == ("carol", "just you")
        carol.send("x" * 4001)
        error = await carol.expect("error", code="message_too_long")
        assert "4000" in error["message"]
        carol.send("/join")
        await carol.expect("error", code="bad_request")
        carol.send("/fingerprint alice")
        fp = await carol.expect("fingerprint", user="alice")
        assert fp["fingerprint"] == alice.client.fingerprint()
        assert fp["safety_number"] == alice.client.safety_number("carol")

        carol.proc.send_signal(signal.SIGKILL)
        for handle in (alice, bob):
            gone = await handle.wait_for(MemberLeft, lambda e: e.username == "carol")
            assert gone[0].reason == "connection_lost"
    finally:
        if carol.proc.returncode is None:
            carol.proc.kill()
        await carol.proc.wait()


async def test_batch_end_of_input_quits(tracker: TrackerServer, tmp_path: Path) -> None:
    proc = await BatchProcess.start(tracker, tmp_path / "dave")
    proc.send("/register dave pw-dave-1")
    proc.send("/login dave pw-dave-1")
    proc.send("/users")
    assert proc.proc.stdin is not None
    proc.proc.stdin.close()
    await proc.expect("logged_in", user="dave")
    users = await proc.expect("users")
    assert users["room"] is None and users["members"] == []
    await proc.expect("bye")
    assert await asyncio.wait_for(proc.proc.wait(), TIMEOUT) == 0


async def test_batch_exits_non_zero_when_login_failed(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    proc = await BatchProcess.start(tracker, tmp_path / "erin")
    proc.send("/register erin pw-erin-1")
    proc.send("/login erin not-the-password")
    assert proc.proc.stdin is not None
    proc.proc.stdin.close()
    await proc.expect("registered", user="erin")
    error = await proc.expect("error", command="login")
    assert error["code"] in ("wrong_password", "auth_failed")
    await proc.expect("bye")
    assert await asyncio.wait_for(proc.proc.wait(), TIMEOUT) == EXIT_LOGIN_FAILED


async def test_a_failed_login_then_a_good_one_exits_zero(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    proc = await BatchProcess.start(tracker, tmp_path / "fred")
    proc.send("/register fred pw-fred-1")
    proc.send("/login fred typo")
    proc.send("/login fred pw-fred-1")
    assert proc.proc.stdin is not None
    proc.proc.stdin.close()
    await proc.expect("logged_in", user="fred")
    await proc.expect("bye")
    assert await asyncio.wait_for(proc.proc.wait(), TIMEOUT) == 0


async def test_a_restarted_batch_client_refuses_a_tracker_downgrading_its_login(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    home = tmp_path / "gina"
    first = await BatchProcess.logged_in(tracker, home, "gina")
    first.send("/quit")
    await first.expect("bye")
    assert await asyncio.wait_for(first.proc.wait(), TIMEOUT) == 0
    # The tracker's database goes back to before the account's upgrade.
    old_verifier = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(
        legacy_digest(PASSWORD)
    )
    await tracker.storage.set_password("gina", old_verifier, None, None)

    again = await BatchProcess.start(tracker, home, ["--allow-legacy-login"])
    await again.expect("ready")
    again.send(f"/login gina {PASSWORD}")
    assert again.proc.stdin is not None
    again.proc.stdin.close()
    error = await again.expect("error", command="login")
    assert error["code"] == "login_downgrade" and "downgrade attack" in error["message"]
    await again.expect("bye")
    assert await asyncio.wait_for(again.proc.wait(), TIMEOUT) == EXIT_LOGIN_FAILED
    user = await tracker.storage.get_user("gina")
    assert user is not None and user.salt is None  # the old digest never reached it


async def test_a_mistyped_password_on_a_fresh_home_does_not_lock_the_batch_client_out(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    """The newcomer's trap: on a new home, one typo at /login used to seal a new key with
    the typo before the tracker said no; the right password then failed forever."""
    first = await BatchProcess.logged_in(tracker, tmp_path / "first-machine", "nina")
    first.send("/quit")
    await first.expect("bye")
    assert await asyncio.wait_for(first.proc.wait(), TIMEOUT) == 0

    fresh = await BatchProcess.start(tracker, tmp_path / "new-machine")
    try:
        await fresh.expect("ready")
        fresh.send("/login nina not-my-password --replace-key")
        error = await fresh.expect("error", command="login")
        assert error["code"] == "auth_failed", error
        fresh.send(f"/login nina {PASSWORD} --replace-key")
        await fresh.expect("logged_in", user="nina")
    finally:
        fresh.send("/quit")
        await fresh.expect("bye")
        await asyncio.wait_for(fresh.proc.wait(), TIMEOUT)
    assert (tmp_path / "new-machine" / "nina" / "identity.key").exists()
