"""Trust on first use: pin store states, persistence, and the authorize policy."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from crypto.authorization import check_remote_identity
from crypto.channel import SecureChannel
from crypto.errors import KeyChangedError, KeyFileError, KeyMismatchError, UnknownContactError
from crypto.fingerprint import safety_number
from crypto.identity import IdentityKey
from crypto.pinning import PinStore, TrustState

ALICE = IdentityKey.generate()
BOB = IdentityKey.generate()
BOB_NEW = IdentityKey.generate()
MALLORY = IdentityKey.generate()


def test_first_key_is_pinned_unverified(tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "pins.json")
    assert pins.state("bob") is None and pins.may_send("bob")
    assert pins.observe("bob", BOB.public_bytes) is TrustState.UNVERIFIED
    assert pins.pinned_key("bob") == BOB.public_bytes
    assert pins.observe("bob", BOB.public_bytes) is TrustState.UNVERIFIED
    assert pins.may_send("bob")


def test_changed_key_is_flagged_and_blocks_sending_until_accepted(tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "pins.json")
    pins.observe("bob", BOB.public_bytes)
    assert pins.observe("bob", BOB_NEW.public_bytes) is TrustState.KEY_CHANGED
    assert pins.state("bob") is TrustState.KEY_CHANGED
    assert not pins.may_send("bob")
    assert pins.pinned_key("bob") == BOB.public_bytes
    assert pins.pending_key("bob") == BOB_NEW.public_bytes
    # Seeing the old key again does not silently clear the alert.
    assert pins.observe("bob", BOB.public_bytes) is TrustState.KEY_CHANGED
    assert not pins.may_send("bob")
    pins.accept("bob")
    assert pins.state("bob") is TrustState.UNVERIFIED and pins.may_send("bob")
    assert pins.pinned_key("bob") == BOB_NEW.public_bytes
    assert pins.observe("bob", BOB.public_bytes) is TrustState.KEY_CHANGED


def test_reject_keeps_the_old_pin(tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "pins.json")
    pins.observe("bob", BOB.public_bytes)
    pins.observe("bob", MALLORY.public_bytes)
    pins.reject("bob")
    assert pins.state("bob") is TrustState.UNVERIFIED
    assert pins.pinned_key("bob") == BOB.public_bytes and pins.may_send("bob")


def test_verify_and_key_change_resets_verification(tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "pins.json")
    pins.observe("bob", BOB.public_bytes)
    pins.verify("bob")
    assert pins.state("bob") is TrustState.VERIFIED
    assert pins.observe("bob", BOB.public_bytes) is TrustState.VERIFIED
    assert pins.observe("bob", BOB_NEW.public_bytes) is TrustState.KEY_CHANGED
    with pytest.raises(KeyChangedError):
        pins.verify("bob")
    pins.accept("bob")
    assert pins.state("bob") is TrustState.UNVERIFIED
    with pytest.raises(UnknownContactError):
        pins.verify("carol")


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "alice" / "pins.json"
    pins = PinStore(path)
    pins.observe("bob", BOB.public_bytes)
    pins.verify("bob")
    pins.observe("carol", ALICE.public_bytes)
    pins.observe("carol", MALLORY.public_bytes)
    again = PinStore(path)
    assert again.state("bob") is TrustState.VERIFIED
    assert again.state("carol") is TrustState.KEY_CHANGED and not again.may_send("carol")
    assert again.usernames() == ["bob", "carol"]
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "content",
    [
        b"garbage",
        b'{"version": 7, "contacts": {}}',
        b'{"version": 1, "contacts": {"b": 1}}',
        b'{"version": 1, "contacts": {"../x": {"key": "", "verified": false, "pending": null}}}',
    ],
)
def test_corrupt_store_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "pins.json"
    path.write_bytes(content)
    with pytest.raises(KeyFileError):
        PinStore(path)


def test_policy_accepts_tracker_key_and_pins_it(tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "pins.json")
    state = check_remote_identity(
        "bob", BOB.public_bytes, expected_username="bob", tracker_key=BOB.public_bytes, pins=pins
    )
    assert state is TrustState.UNVERIFIED and pins.pinned_key("bob") == BOB.public_bytes


def test_policy_refuses_wrong_name_and_wrong_key(tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "pins.json")
    with pytest.raises(KeyMismatchError):
        check_remote_identity(
            "mallory",
            MALLORY.public_bytes,
            expected_username="bob",
            tracker_key=MALLORY.public_bytes,
            pins=pins,
        )
    with pytest.raises(KeyMismatchError):
        check_remote_identity(
            "bob",
            MALLORY.public_bytes,
            expected_username="bob",
            tracker_key=BOB.public_bytes,
            pins=pins,
        )
    with pytest.raises(KeyMismatchError):
        check_remote_identity(
            "bob", BOB.public_bytes, expected_username=None, tracker_key=None, pins=pins
        )
    assert pins.state("bob") is None


def _call(alice_pins: PinStore, tracker_says_bob_is: bytes, bob_identity: IdentityKey) -> None:
    """Alice dials 'bob'; whoever answers uses ``bob_identity``."""

    def alice_authorize(username: str, key: bytes) -> None:
        check_remote_identity(
            username,
            key,
            expected_username="bob",
            tracker_key=tracker_says_bob_is,
            pins=alice_pins,
        )

    alice = SecureChannel(
        initiator=True, identity=ALICE, username="alice", authorize=alice_authorize
    )
    answerer = SecureChannel(
        initiator=False, identity=bob_identity, username="bob", authorize=lambda _u, _k: None
    )
    alice.receive(answerer.receive(alice.start()).send[0])
    assert alice.established


def test_lying_tracker_after_first_contact_is_caught_by_the_pin(tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "pins.json")
    _call(pins, BOB.public_bytes, BOB)
    with pytest.raises(KeyChangedError):
        _call(pins, MALLORY.public_bytes, MALLORY)
    assert not pins.may_send("bob")
    assert pins.pinned_key("bob") == BOB.public_bytes


def test_lying_tracker_at_first_contact_shows_in_the_safety_number(tmp_path: Path) -> None:
    pins = PinStore(tmp_path / "pins.json")
    _call(pins, MALLORY.public_bytes, MALLORY)  # nothing local can tell yet
    seen_by_alice = safety_number("alice", ALICE.public_bytes, "bob", MALLORY.public_bytes)
    seen_by_bob = safety_number("bob", BOB.public_bytes, "alice", ALICE.public_bytes)
    assert seen_by_alice != seen_by_bob


def test_store_file_has_no_private_material(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    PinStore(path).observe("bob", BOB.public_bytes)
    document = json.loads(path.read_text())
    assert set(document["contacts"]["bob"]) == {"key", "verified", "pending"}
