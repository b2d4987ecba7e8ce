"""Trust decisions in batch mode (a real ``p2pchat --batch`` process): what the script
was shown is what gets pinned, and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

from peer.events import MessageReceived
from tests.e2e.test_batch_process import BatchProcess
from tests.peers import PeerFactory, PeerHandle
from tracker.server.server import TrackerServer

BOB_PASSWORD = "bob-password-1"


async def _bob_moves(tracker: TrackerServer, peer_factory: PeerFactory, home: Path) -> PeerHandle:
    moved = await peer_factory(tracker, "bob", login=False, home=home)
    await moved.client.login("bob", BOB_PASSWORD, replace_key=True)
    return moved


async def test_a_key_arriving_between_fingerprint_and_trust_is_never_pinned(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob", BOB_PASSWORD)
    await bob.client.create_room("lobby")
    old = bob.client.fingerprint()
    alice = await BatchProcess.start(tracker, tmp_path / "alice")
    try:
        await alice.expect("ready")
        alice.send("/register alice pw-alice-123")
        alice.send("/login alice pw-alice-123")
        alice.send("/join lobby")
        await alice.expect("channel_opened", user="bob")
        await bob.close()

        bob2 = await _bob_moves(tracker, peer_factory, tmp_path / "bob2")
        second = bob2.client.fingerprint()
        await alice.expect("key_changed", user="bob", fingerprint=second, pending=[second])
        alice.send("/fingerprint bob")
        shown = await alice.expect("fingerprint", user="bob")
        assert shown["fingerprint"] == second and shown["pinned"] == old
        assert [p["fingerprint"] for p in shown["pending"]] == [second]
        assert shown["trust"] == "key_changed"

        # Before the script types /trust, yet another key arrives.
        bob3 = await _bob_moves(tracker, peer_factory, tmp_path / "bob3")
        third = bob3.client.fingerprint()
        await alice.expect("key_changed", user="bob", fingerprint=third, pending=[second, third])
        alice.send("/trust bob")
        refused = await alice.expect("error", code="ambiguous_key")
        assert second in refused["message"] and third in refused["message"]
        alice.send("/fingerprint bob")
        now = await alice.expect("fingerprint", user="bob")
        assert now["pinned"] == old and now["trust"] == "key_changed"

        # Naming a key that is not in question changes nothing.
        alice.send(f"/trust bob {old}")
        await alice.expect("error", code="key_not_pending")

        # Keep the old key; then trust the new one by the fingerprint the script saw.
        alice.send("/reject bob")
        rejected = await alice.expect("rejected", user="bob")
        assert rejected["kept"] == old and rejected["refused"] == [second, third]
        alice.send("/trust bob")
        await alice.expect("error", code="key_not_pending")
        alice.send(f"/trust bob {third.replace(' ', '').lower()}")
        trusted = await alice.expect("trusted", user="bob")
        assert trusted["fingerprint"] == third
        alice.send("/msg bob hello new bob")
        await alice.expect("sent", to="bob")
        got = await bob3.wait_for(MessageReceived, lambda m: m.sender == "alice")
        assert got[0].text == "hello new bob"
        alice.send("/verify bob")
        verified = await alice.expect("verified", user="bob")
        assert verified["fingerprint"] == third
    finally:
        alice.proc.kill()
        await alice.proc.wait()


async def test_tampered_pin_store_and_symlinked_key_file_refuse_login_clearly(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    home = tmp_path / "carol"
    carol = await BatchProcess.start(tracker, home)
    try:
        await carol.expect("ready")
        carol.send("/register carol pw-carol-123")
        carol.send("/login carol pw-carol-123")
        await carol.expect("logged_in", user="carol")
    finally:
        carol.proc.kill()
        await carol.proc.wait()
    pins = home / "carol" / "known_peers.json"
    assert pins.exists()
    pins.write_text(pins.read_text().replace('"contacts":{}', '"contacts":{"x":1}'))

    again = await BatchProcess.start(tracker, home)
    try:
        await again.expect("ready")
        again.send("/login carol pw-carol-123")
        error = await again.expect("error", code="pin_store_tampered")
        assert "integrity" in error["message"] and str(pins) in error["message"]
        pins.unlink()

        key_file = home / "carol" / "identity.key"
        moved = tmp_path / "elsewhere.key"
        key_file.rename(moved)
        os.symlink(moved, key_file)
        again.send("/login carol pw-carol-123")
        error = await again.expect("error", code="insecure_key_file")
        assert "symbolic link" in error["message"]

        key_file.unlink()
        moved.rename(key_file)
        key_file.chmod(0o644)
        again.send("/login carol pw-carol-123")
        error = await again.expect("error", code="insecure_key_file")
        assert "0644" in error["message"] and "chmod 600" in error["message"]
        key_file.chmod(0o600)
        again.send("/login carol pw-carol-123")
        await again.expect("logged_in", user="carol")
    finally:
        again.proc.kill()
        await again.proc.wait()


async def test_short_verify_of_an_unpinned_contact_is_refused_and_forget_removes_one(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """Issue 20: batch ``/verify NAME`` without a fingerprint, for a contact never pinned,
    verified whatever key the tracker listed at that moment; and no command removed a
    contact. Now the first is refused (``key_not_pinned``), ``/forget`` exists."""
    bob = await peer_factory(tracker, "bob", BOB_PASSWORD)
    alice = await BatchProcess.start(tracker, tmp_path / "alice")
    try:
        await alice.expect("ready")
        alice.send("/register alice pw-alice-123")
        alice.send("/login alice pw-alice-123")
        await alice.expect("logged_in")
        alice.send("/verify bob")
        refused = await alice.expect("error", code="key_not_pinned")
        assert "FINGERPRINT" in refused["message"]
        alice.send("/fingerprint bob")
        shown = await alice.expect("fingerprint", user="bob")
        assert shown["trust"] is None and shown["pinned"] is None  # nothing was marked

        alice.send("/msg bob hello")  # writing to bob makes him a contact: pinned
        await bob.wait_for(MessageReceived)
        await alice.expect("trust_changed", user="bob", trust="unverified")
        alice.send("/forget bob")
        forgotten = await alice.expect("forgotten", user="bob")
        assert forgotten["fingerprint"] == bob.client.fingerprint()
        alice.send("/fingerprint bob")
        after = await alice.expect("fingerprint", user="bob")
        assert after["trust"] is None and after["pinned"] is None
        alice.send("/forget bob")
        await alice.expect("error", code="invalid_field")
    finally:
        await alice.stop()
