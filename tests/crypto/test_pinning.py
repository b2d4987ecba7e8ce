"""The pin store: states, decisions bound to the exact key, limits, and the file at rest."""

from __future__ import annotations

import base64
import hmac
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from commons.errors import ValidationError
from commons.private_file import write_private_file
from crypto import pinning
from crypto.errors import (
    AmbiguousKeyError,
    InsecureKeyFileError,
    KeyFileError,
    KeyNotPendingError,
    KeyNotPinnedError,
    PinStoreTamperedError,
    PinStoreUnauthenticatedError,
    UnknownContactError,
)
from crypto.fingerprint import fingerprint
from crypto.identity import IdentityKey
from crypto.pinning import MAX_PENDING_KEYS, MAX_REJECTED_KEYS, PinStore, TrustState

ALICE = IdentityKey.generate()
BOB = IdentityKey.generate().public_bytes
BOB_NEW = IdentityKey.generate().public_bytes
MALLORY = IdentityKey.generate().public_bytes
MALLORY_B64 = base64.b64encode(MALLORY).decode()
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def new_store(tmp_path: Path) -> PinStore:
    return PinStore(tmp_path / "alice" / "known_peers.json", ALICE, "alice")


def save(store: PinStore) -> None:
    write_private_file(store.path, store.dump())


def reload(store: PinStore, identity: IdentityKey = ALICE) -> PinStore:
    return PinStore.load(store.path, identity, "alice")


def changed(tmp_path: Path, *new_keys: bytes) -> PinStore:
    """alice pinned BOB, then saw ``new_keys`` for bob."""
    store = new_store(tmp_path)
    store.observe("bob", BOB)
    for key in new_keys:
        assert store.observe("bob", key) is TrustState.KEY_CHANGED
    return store


# ------------------------------------------------------------------ states


def test_first_key_is_pinned_unverified(tmp_path: Path) -> None:
    pins = new_store(tmp_path)
    assert pins.state("bob") is None and pins.may_send("bob")
    assert pins.observe("bob", BOB) is TrustState.UNVERIFIED
    assert pins.pinned_key("bob") == BOB
    assert pins.observe("bob", BOB) is TrustState.UNVERIFIED
    assert pins.may_send("bob")


def test_a_new_key_while_one_is_undecided_keeps_both(tmp_path: Path) -> None:
    pins = changed(tmp_path, BOB_NEW)
    assert pins.pending_keys("bob") == (BOB_NEW,) and not pins.may_send("bob")
    # A second new key does not replace the first: both stay in question.
    assert pins.observe("bob", MALLORY) is TrustState.KEY_CHANGED
    assert pins.pending_keys("bob") == (BOB_NEW, MALLORY)
    assert pins.pinned_key("bob") == BOB
    # Seeing the old key again does not silently clear the alert.
    assert pins.observe("bob", BOB) is TrustState.KEY_CHANGED


def test_undecided_keys_are_bounded(tmp_path: Path) -> None:
    """A tracker pushing a thousand keys for bob cannot grow alice's store without end."""
    flood = [IdentityKey.generate().public_bytes for _ in range(1000)]
    pins = changed(tmp_path, *flood)
    assert pins.pending_keys("bob") == tuple(flood[-MAX_PENDING_KEYS:])
    assert len(pins.dump()) < 2000


# ------------------------------------------------------------------ decisions name the key


def test_accept_pins_exactly_the_key_named(tmp_path: Path) -> None:
    pins = changed(tmp_path, BOB_NEW, MALLORY)
    pins.accept("bob", BOB_NEW)
    assert pins.pinned_key("bob") == BOB_NEW
    assert pins.state("bob") is TrustState.UNVERIFIED and pins.pending_keys("bob") == ()


def test_accept_refuses_a_key_no_longer_in_question(tmp_path: Path) -> None:
    """The user was shown MALLORY; by the time they confirm, MALLORY is not pending."""
    pins = changed(tmp_path, BOB_NEW)
    revision = pins.revision
    with pytest.raises(KeyNotPendingError, match="changed again"):
        pins.accept("bob", MALLORY)
    with pytest.raises(KeyNotPendingError, match="already pinned"):
        pins.accept("bob", BOB)
    assert pins.revision == revision
    assert pins.pinned_key("bob") == BOB and pins.pending_keys("bob") == (BOB_NEW,)


def test_decisions_compare_keys_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    constant_time = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return constant_time(a, b)

    pins = changed(tmp_path, BOB_NEW, MALLORY)
    monkeypatch.setattr(pinning.hmac, "compare_digest", recording)
    pins.accept("bob", MALLORY)
    # every candidate was compared, each through compare_digest, not ``==``
    assert (BOB_NEW, MALLORY) in compared and (MALLORY, MALLORY) in compared


def test_verify_marks_exactly_the_key_compared(tmp_path: Path) -> None:
    pins = new_store(tmp_path)
    pins.observe("bob", BOB)
    with pytest.raises(KeyNotPendingError):
        pins.verify("bob", MALLORY)
    assert pins.state("bob") is TrustState.UNVERIFIED
    pins.verify("bob", BOB)
    assert pins.state("bob") is TrustState.VERIFIED
    # A later change clears nothing silently: KEY_CHANGED until decided, then unverified.
    pins.observe("bob", BOB_NEW)
    assert pins.state("bob") is TrustState.KEY_CHANGED
    pins.accept("bob", BOB_NEW)
    assert pins.state("bob") is TrustState.UNVERIFIED


def test_verify_of_an_undecided_key_accepts_it(tmp_path: Path) -> None:
    pins = changed(tmp_path, BOB_NEW, MALLORY)
    pins.verify("bob", MALLORY)
    assert pins.pinned_key("bob") == MALLORY and pins.state("bob") is TrustState.VERIFIED


def test_verify_of_the_pinned_key_leaves_a_pending_change_in_question(tmp_path: Path) -> None:
    pins = changed(tmp_path, MALLORY)
    pins.verify("bob", BOB)
    assert pins.state("bob") is TrustState.KEY_CHANGED and not pins.may_send("bob")
    pins.reject("bob")
    assert pins.state("bob") is TrustState.VERIFIED


def test_verify_of_a_contact_never_seen_pins_the_compared_key(tmp_path: Path) -> None:
    pins = new_store(tmp_path)
    pins.verify("carol", MALLORY)
    assert pins.pinned_key("carol") == MALLORY and pins.state("carol") is TrustState.VERIFIED


# ------------------------------------------------------------------ reject


def test_reject_keeps_the_pin_and_the_rejected_key_stays_out(tmp_path: Path) -> None:
    pins = changed(tmp_path, MALLORY)
    pins.verify("bob", BOB)
    assert pins.reject("bob") == (MALLORY,)
    assert pins.pinned_key("bob") == BOB and pins.state("bob") is TrustState.VERIFIED
    assert pins.may_send("bob") and pins.is_rejected("bob", MALLORY)
    # The same key listed again does not bring the question back.
    assert pins.observe("bob", MALLORY) is TrustState.VERIFIED
    with pytest.raises(KeyNotPendingError):
        pins.reject("bob")
    # Only an explicit decision naming it undoes the refusal.
    pins.accept("bob", MALLORY)
    assert pins.pinned_key("bob") == MALLORY and not pins.is_rejected("bob", MALLORY)


def test_rejected_keys_are_bounded(tmp_path: Path) -> None:
    pins = new_store(tmp_path)
    pins.observe("bob", BOB)
    for _ in range(3 * MAX_REJECTED_KEYS):
        pins.observe("bob", IdentityKey.generate().public_bytes)
        pins.reject("bob")
    assert len(pins.rejected_keys("bob")) == MAX_REJECTED_KEYS
    with pytest.raises(UnknownContactError):
        pins.reject("carol")


# ------------------------------------------------------------------ what the user typed


def test_short_trust_is_refused_while_more_than_one_new_key_was_seen(tmp_path: Path) -> None:
    pins = changed(tmp_path, BOB_NEW)
    assert pins.key_to_trust("bob", None) == BOB_NEW
    pins.observe("bob", MALLORY)
    with pytest.raises(AmbiguousKeyError) as refused:
        pins.key_to_trust("bob", None)
    assert fingerprint(BOB_NEW) in refused.value.message
    assert fingerprint(MALLORY) in refused.value.message
    typed = fingerprint(BOB_NEW).replace(" ", "").lower()
    assert pins.key_to_trust("bob", typed) == BOB_NEW
    assert pins.key_to_trust("bob", fingerprint(MALLORY)) == MALLORY


def test_trust_by_fingerprint_only_matches_a_key_in_question(tmp_path: Path) -> None:
    pins = changed(tmp_path, BOB_NEW)
    for typed in (fingerprint(BOB), fingerprint(MALLORY)):
        with pytest.raises(KeyNotPendingError):
            pins.key_to_trust("bob", typed)
    with pytest.raises(ValidationError):
        pins.key_to_trust("bob", "ABCD")
    pins.accept("bob", BOB_NEW)
    with pytest.raises(KeyNotPendingError):
        pins.key_to_trust("bob", None)


def test_short_verify_means_the_pinned_key_and_only_while_nothing_is_pending(
    tmp_path: Path,
) -> None:
    pins = new_store(tmp_path)
    pins.observe("bob", BOB)
    assert pins.key_to_verify("bob", None, MALLORY) == BOB
    pins.observe("bob", BOB_NEW)
    with pytest.raises(AmbiguousKeyError):
        pins.key_to_verify("bob", None, BOB_NEW)
    assert pins.key_to_verify("bob", fingerprint(BOB_NEW), None) == BOB_NEW
    assert pins.key_to_verify("bob", fingerprint(BOB), None) == BOB
    with pytest.raises(KeyNotPendingError):
        pins.key_to_verify("bob", fingerprint(MALLORY), None)


def test_short_verify_of_a_contact_never_pinned_is_refused(tmp_path: Path) -> None:
    """Issue 20: ``/verify bob`` with no fingerprint and no pin verified whatever key the
    tracker listed at that moment (a lying tracker's, too). Now it is refused; with the
    fingerprint bob read out, only the listed key that has it is taken."""
    pins = new_store(tmp_path)
    for listed in (MALLORY, None):
        with pytest.raises(KeyNotPinnedError, match="FINGERPRINT"):
            pins.key_to_verify("bob", None, listed)
    assert pins.usernames() == []
    with pytest.raises(KeyNotPendingError):
        pins.key_to_verify("bob", fingerprint(BOB), MALLORY)
    assert pins.key_to_verify("bob", fingerprint(BOB), BOB) == BOB


def test_forget_removes_a_contact_and_survives_a_restart(tmp_path: Path) -> None:
    pins = new_store(tmp_path)
    pins.observe("bob", BOB)
    pins.verify("bob", BOB)
    pins.observe("bob", MALLORY)
    pins.observe("carol", BOB_NEW)
    save(pins)
    pins.forget("bob")
    assert pins.state("bob") is None and pins.may_send("bob")
    assert pins.pending_keys("bob") == () and pins.rejected_keys("bob") == ()
    save(pins)  # one appended record that removes bob
    again = reload(pins)
    assert again.usernames() == ["carol"]
    assert again.observe("bob", BOB_NEW) is TrustState.UNVERIFIED  # a first key again
    with pytest.raises(UnknownContactError):
        pins.forget("dave")


# ------------------------------------------------------------------ at rest


def test_state_survives_a_restart(tmp_path: Path) -> None:
    pins = new_store(tmp_path)
    pins.observe("bob", BOB)
    pins.verify("bob", BOB)
    pins.observe("carol", BOB_NEW)
    pins.observe("carol", MALLORY)
    pins.observe("dave", BOB_NEW)
    pins.observe("dave", MALLORY)
    pins.reject("dave")
    save(pins)
    again = reload(pins)
    assert again.state("bob") is TrustState.VERIFIED
    assert again.state("carol") is TrustState.KEY_CHANGED and not again.may_send("carol")
    assert again.pending_keys("carol") == (MALLORY,)
    assert again.rejected_keys("dave") == (MALLORY,)
    assert again.usernames() == ["bob", "carol", "dave"]
    if sys.platform != "win32":
        assert stat.S_IMODE(pins.path.stat().st_mode) == 0o600
    assert not [p for p in pins.path.parent.iterdir() if p.name.endswith(".tmp")]


def test_missing_store_is_empty(tmp_path: Path) -> None:
    assert new_store(tmp_path).usernames() == []
    assert reload(new_store(tmp_path)).usernames() == []


def _tamper(pins: PinStore, change: object) -> None:
    document = json.loads(pins.path.read_text())
    assert callable(change)
    change(document)
    pins.path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda d: d["contacts"]["bob"].update(key=MALLORY_B64), id="swapped pinned key"
        ),
        pytest.param(lambda d: d["contacts"]["bob"].update(verified=True), id="set verified"),
        pytest.param(lambda d: d["contacts"].pop("bob"), id="deleted contact"),
        pytest.param(
            lambda d: d["contacts"].update(
                mallory={"key": MALLORY_B64, "verified": True, "pending": [], "rejected": []}
            ),
            id="added contact",
        ),
        pytest.param(lambda d: d.pop("mac"), id="MAC removed"),
        pytest.param(lambda d: d.update(mac="00" * 32), id="MAC replaced"),
        pytest.param(lambda d: d.update(note="hi"), id="extra field"),
    ],
)
def test_tampered_store_is_refused_with_a_clear_message(tmp_path: Path, change: object) -> None:
    pins = new_store(tmp_path)
    pins.observe("bob", BOB)
    save(pins)
    _tamper(pins, change)
    with pytest.raises(PinStoreTamperedError) as refused:
        reload(pins)
    message = refused.value.message
    assert "integrity" in message and str(pins.path) in message and "mv " in message


def test_store_written_under_another_identity_key_is_refused(tmp_path: Path) -> None:
    pins = new_store(tmp_path)
    pins.observe("bob", BOB)
    save(pins)
    with pytest.raises(PinStoreTamperedError):
        reload(pins, IdentityKey.generate())


def test_mac_key_is_derived_with_its_own_label() -> None:
    key = pinning.pin_store_mac_key(ALICE)
    assert len(key) == 32 and key != ALICE.private_bytes()
    assert key != pinning.hkdf(b"", ALICE.private_bytes(), b"another label", 32)
    assert key == pinning.hkdf(b"", ALICE.private_bytes(), b"p2pchat/1 pin store MAC key", 32)


def test_an_unauthenticated_version_1_store_is_refused_never_imported(tmp_path: Path) -> None:
    """Issue 20: a version 1 file (no MAC) planted over the authenticated store was
    imported, its planted key pinned for bob. Now it is refused whole and left as it is."""
    path = tmp_path / "alice" / "known_peers.json"
    old = {"version": 1, "contacts": {"bob": {"key": MALLORY_B64, "verified": True}}}
    write_private_file(path, json.dumps(old).encode())
    with pytest.raises(PinStoreUnauthenticatedError, match="mv "):
        PinStore.load(path, ALICE, "alice")
    assert json.loads(path.read_text()) == old


@POSIX
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_store_others_can_access_is_refused(tmp_path: Path, mode: int) -> None:
    pins = new_store(tmp_path)
    pins.observe("bob", BOB)
    save(pins)
    pins.path.chmod(mode)
    with pytest.raises(InsecureKeyFileError) as refused:
        reload(pins)
    assert f"{mode:04o}" in refused.value.message and "chmod 600" in refused.value.message


@POSIX
def test_symlinked_store_is_refused(tmp_path: Path) -> None:
    elsewhere = new_store(tmp_path / "elsewhere")
    elsewhere.observe("bob", MALLORY)
    save(elsewhere)
    pins = new_store(tmp_path)
    pins.path.parent.mkdir(mode=0o700)
    os.symlink(elsewhere.path, pins.path)
    with pytest.raises(InsecureKeyFileError, match="symbolic link"):
        reload(pins)


@POSIX
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_store_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    pins = new_store(tmp_path)
    save(pins)
    os.chown(pins.path, 65534, -1)
    with pytest.raises(InsecureKeyFileError, match="owned by uid 65534"):
        reload(pins)


@pytest.mark.parametrize(
    "content",
    [
        b"garbage",
        b'{"format": "p2pchat-pins", "version": 7, "contacts": {}}',
        b'{"version": 1, "contacts": {"b": 1}}',
        b'{"version": 1, "contacts": {"../x": {"key": "", "verified": false}}}',
        b'{"version": 1, "version": 1, "contacts": {}}',
    ],
)
def test_corrupt_store_is_refused(tmp_path: Path, content: bytes) -> None:
    pins = new_store(tmp_path)
    write_private_file(pins.path, content)
    with pytest.raises(KeyFileError):
        reload(pins)


def test_store_file_has_no_private_material(tmp_path: Path) -> None:
    pins = new_store(tmp_path)
    pins.observe("bob", BOB)
    data = pins.dump()
    assert ALICE.private_bytes() not in data
    assert base64.b64encode(ALICE.private_bytes()) not in data
    document = json.loads(data)
    assert set(document["contacts"]["bob"]) == {"key", "verified", "pending", "rejected"}
