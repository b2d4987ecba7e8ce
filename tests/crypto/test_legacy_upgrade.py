"""The legacy upgrade's proof of the identity key, without I/O (:mod:`crypto.legacy_upgrade`).

The tracker-side attacks (replay, tamper, another name) run on a real tracker in
``tests/tracker/test_legacy_upgrade.py``; here the rule itself, and what a hostile
tracker's ``SALT`` reply can and cannot make the client compute.
"""

from __future__ import annotations

import base64

import pytest

from commons.errors import ValidationError
from crypto.identity import IdentityKey
from crypto.legacy_upgrade import UpgradeChallenge, upgrade_proof
from peer.session.messages import SaltReply

SECRET = "ab" * 32
REALM = "group-1"

#: Points of small order on Curve25519: an exchange with any of them gives all zeros.
LOW_ORDER = [
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
]


def test_the_proof_of_the_registered_key_is_accepted_and_nothing_else() -> None:
    owner, thief = IdentityKey.generate(), IdentityKey.generate()
    challenge = UpgradeChallenge("OldUser")
    proof = upgrade_proof(owner, challenge.public_bytes, "olduser", REALM, SECRET)
    assert challenge.accepts(owner.public_b64, "olduser", REALM, SECRET, proof)
    assert challenge.accepts(owner.public_b64, "OLDUSER", REALM, SECRET, proof.upper())
    # Each binding: the registered key, the name, the realm, the secret, the challenge.
    assert not challenge.accepts(thief.public_b64, "olduser", REALM, SECRET, proof)
    forged = upgrade_proof(thief, challenge.public_bytes, "olduser", REALM, SECRET)
    assert not challenge.accepts(owner.public_b64, "olduser", REALM, SECRET, forged)
    assert not challenge.accepts(owner.public_b64, "twin", REALM, SECRET, proof)
    assert not challenge.accepts(owner.public_b64, "olduser", "group-2", SECRET, proof)
    assert not challenge.accepts(owner.public_b64, "olduser", REALM, "cd" * 32, proof)
    other = UpgradeChallenge("olduser")
    assert not other.accepts(owner.public_b64, "olduser", REALM, SECRET, proof)
    # A challenge made for one name is not answered for another, even with its own proof.
    for_twin = upgrade_proof(owner, challenge.public_bytes, "twin", REALM, SECRET)
    assert not challenge.accepts(owner.public_b64, "twin", REALM, SECRET, for_twin)
    # Garbage is refused, not raised.
    for bad in ("", "zz" * 32, "00" * 31, proof[:-1]):
        assert not challenge.accepts(owner.public_b64, "olduser", REALM, SECRET, bad)
    assert "private" not in repr(challenge) and "OldUser" in repr(challenge)


def test_a_registered_key_of_small_order_proves_nothing() -> None:
    challenge = UpgradeChallenge("olduser")
    for point in LOW_ORDER[1:]:  # the all-zero key is refused at registration already
        registered = base64.b64encode(point).decode()
        assert not challenge.accepts(registered, "olduser", REALM, SECRET, "00" * 32)


def test_a_hostile_salt_cannot_make_the_client_prove_over_a_constant() -> None:
    owner = IdentityKey.generate()
    for point in LOW_ORDER[1:]:
        with pytest.raises(ValidationError):
            upgrade_proof(owner, point, "olduser", REALM, SECRET)
    with pytest.raises(ValidationError):
        upgrade_proof(owner, bytes(31), "olduser", REALM, SECRET)


def _salt(**fields: object) -> dict[str, object]:
    reply: dict[str, object] = {
        "status": "OK",
        "id": 1,
        "salt": "00" * 16,
        "kdf": {"name": "argon2id", "memory_kib": 8, "iterations": 1, "lanes": 1},
        "realm": REALM,
        "legacy": True,
    }
    reply.update(fields)
    return reply


def test_the_client_reads_upgrade_key_field_by_field() -> None:
    key = UpgradeChallenge("olduser").public_bytes
    parsed = SaltReply.parse(_salt(upgrade_key=base64.b64encode(key).decode()))
    assert parsed.upgrade_key == key
    assert SaltReply.parse(_salt()).upgrade_key is None  # a tracker from before the proof
    for bad in (12, "", "AAAA", base64.b64encode(bytes(33)).decode(), "x" * 100):
        with pytest.raises(ValidationError):
            SaltReply.parse(_salt(upgrade_key=bad))
    with pytest.raises(ValidationError):  # only an account of the old scheme has one
        SaltReply.parse(_salt(legacy=False, upgrade_key=base64.b64encode(key).decode()))
