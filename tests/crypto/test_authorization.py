"""The identity policy (name, tracker-listed key, pin), decided inside the handshake."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto.authorization import Admission, decide
from crypto.channel import SecureChannel
from crypto.errors import KeyChangedError, KeyMismatchError
from crypto.fingerprint import safety_number
from crypto.identity import IdentityKey
from crypto.pinning import PinStore, TrustState

ALICE = IdentityKey.generate()
BOB = IdentityKey.generate()
BOB_NEW = IdentityKey.generate()
MALLORY = IdentityKey.generate()


@pytest.fixture
def pins(tmp_path: Path) -> PinStore:
    return PinStore(tmp_path / "pins.json", ALICE, "alice")


def verdict(
    pins: PinStore,
    presented: IdentityKey,
    tracker: IdentityKey | None,
    name: str = "bob",
    expected: str | None = "bob",
) -> tuple[type[Exception] | None, bool, bytes | None]:
    decision = decide(
        name,
        presented.public_bytes,
        local_username="alice",
        expected_username=expected,
        tracker_key=None if tracker is None else tracker.public_bytes,
        pins=pins,
    )
    error = None if decision.error is None else type(decision.error)
    return error, decision.pin_first, decision.new_key


def test_first_contact_accepts_the_tracker_key_and_writes_nothing(pins: PinStore) -> None:
    assert verdict(pins, BOB, BOB) == (None, True, None)
    assert pins.state("bob") is None and pins.revision == 0  # pinned only once accepted


def test_name_tracker_and_self_are_checked_before_anything(pins: PinStore) -> None:
    assert verdict(pins, MALLORY, MALLORY, name="mallory")[0] is KeyMismatchError
    assert verdict(pins, MALLORY, BOB)[0] is KeyMismatchError
    assert verdict(pins, BOB, None)[0] is KeyMismatchError
    assert verdict(pins, ALICE, ALICE, name="alice", expected=None)[0] is KeyMismatchError
    assert pins.revision == 0


def test_pinned_key_accepted_while_the_tracker_agrees(pins: PinStore) -> None:
    pins.observe("bob", BOB.public_bytes)
    assert verdict(pins, BOB, BOB) == (None, False, None)


def test_a_key_conflicting_with_the_pin_is_refused_and_put_before_the_user(
    pins: PinStore,
) -> None:
    pins.observe("bob", BOB.public_bytes)
    assert verdict(pins, BOB_NEW, BOB_NEW) == (KeyChangedError, False, BOB_NEW.public_bytes)
    assert verdict(pins, MALLORY, BOB)[0] is KeyMismatchError  # not even the tracker's
    assert pins.pending_keys("bob") == ()  # decide() writes nothing


def test_old_key_refused_once_the_tracker_lists_a_new_one(pins: PinStore) -> None:
    """bob replaced a stolen key: the thief still holds the pinned one."""
    pins.observe("bob", BOB.public_bytes)
    assert verdict(pins, BOB, BOB_NEW) == (KeyChangedError, False, BOB_NEW.public_bytes)


def test_rejecting_the_tracker_key_lets_the_pinned_key_back(pins: PinStore) -> None:
    """A lying tracker lists MALLORY for bob; alice rejects it and keeps talking to bob."""
    pins.observe("bob", BOB.public_bytes)
    pins.observe("bob", MALLORY.public_bytes)
    assert verdict(pins, BOB, MALLORY)[0] is KeyChangedError  # undecided: refused
    pins.reject("bob")
    assert verdict(pins, BOB, MALLORY) == (None, False, None)
    assert verdict(pins, MALLORY, MALLORY)[0] is KeyMismatchError  # the rejected key
    assert verdict(pins, BOB_NEW, BOB_NEW)[0] is KeyChangedError  # yet another key: ask


def test_pinned_key_refused_while_a_change_is_undecided(pins: PinStore) -> None:
    pins.observe("bob", BOB.public_bytes)
    pins.observe("bob", BOB_NEW.public_bytes)
    assert verdict(pins, BOB, BOB) == (KeyChangedError, False, None)


# ------------------------------------------------------------------ inside the handshake


def _admission(pins: PinStore, tracker: IdentityKey) -> Admission:
    return Admission(
        pins,
        local_username="alice",
        expected_username="bob",
        listed_key=lambda _name: tracker.public_bytes,
    )


@pytest.mark.parametrize("defer", [False, True])
def test_initiator_refuses_a_conflicting_key_before_writing_message_3(
    pins: PinStore, defer: bool
) -> None:
    pins.observe("bob", BOB.public_bytes)
    admission = _admission(pins, BOB_NEW)
    alice = SecureChannel(
        initiator=True,
        identity=ALICE,
        username="alice",
        authorize=admission.authorize,
        defer_authorize=defer,
    )
    answerer = SecureChannel(
        initiator=False, identity=BOB_NEW, username="bob", authorize=lambda _u, _k: None
    )
    message2 = answerer.receive(alice.start()).send[0]
    with pytest.raises(KeyChangedError):
        output = alice.receive(message2)
        assert output.identified == ("bob", BOB_NEW.public_bytes) and output.send == []
        alice.authorize_remote()
    assert alice.closed and not alice.established and alice.remote_static is None
    assert admission.decision is not None and admission.decision.new_key == BOB_NEW.public_bytes
    assert pins.pending_keys("bob") == ()


@pytest.mark.parametrize("defer", [False, True])
def test_responder_refuses_a_conflicting_key_before_accepting_message_3(
    pins: PinStore, defer: bool
) -> None:
    pins.observe("bob", BOB.public_bytes)
    admission = Admission(
        pins,
        local_username="alice",
        expected_username=None,
        listed_key=lambda _name: BOB_NEW.public_bytes,
    )
    alice = SecureChannel(
        initiator=False,
        identity=ALICE,
        username="alice",
        authorize=admission.authorize,
        defer_authorize=defer,
    )
    dialler = SecureChannel(
        initiator=True, identity=BOB_NEW, username="bob", authorize=lambda _u, _k: None
    )
    message2 = alice.receive(dialler.start()).send[0]
    message3 = dialler.receive(message2).send[0]
    with pytest.raises(KeyChangedError):
        output = alice.receive(message3)
        assert output.identified is not None and not output.established
        alice.authorize_remote()
    assert alice.closed and not alice.established


def test_deferred_authorization_holds_the_handshake_until_asked(pins: PinStore) -> None:
    admission = _admission(pins, BOB)
    alice = SecureChannel(
        initiator=True,
        identity=ALICE,
        username="alice",
        authorize=admission.authorize,
        defer_authorize=True,
    )
    bob = SecureChannel(
        initiator=False, identity=BOB, username="bob", authorize=lambda _u, _k: None
    )
    output = alice.receive(bob.receive(alice.start()).send[0])
    assert output.identified == ("bob", BOB.public_bytes)
    assert output.send == [] and not alice.established and admission.decision is None
    final = alice.authorize_remote()
    assert final.established and len(final.send) == 1
    assert bob.receive(final.send[0]).established
    assert admission.decision is not None and admission.decision.pin_first


def test_lying_tracker_at_first_contact_shows_in_the_safety_number(pins: PinStore) -> None:
    assert verdict(pins, MALLORY, MALLORY)[0] is None  # nothing local can tell yet
    pins.observe("bob", MALLORY.public_bytes)
    assert pins.state("bob") is TrustState.UNVERIFIED
    seen_by_alice = safety_number("alice", ALICE.public_bytes, "bob", MALLORY.public_bytes)
    seen_by_bob = safety_number("bob", BOB.public_bytes, "alice", ALICE.public_bytes)
    assert seen_by_alice != seen_by_bob
