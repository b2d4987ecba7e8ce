"""History keys come from the identity key by HKDF with their own labels; entries are sealed."""

from __future__ import annotations

import pytest

from crypto.errors import DecryptError
from crypto.history_seal import (
    SEAL_LABEL,
    HistorySealer,
    derive_history_keys,
    new_salt,
)
from crypto.identity import IdentityKey
from crypto.primitives import hkdf


def test_keys_are_hkdf_of_the_identity_with_their_own_labels() -> None:
    identity = IdentityKey.generate()
    salt = new_salt()
    keys = derive_history_keys(identity, "alice", salt)
    secret = identity.private_bytes()
    assert keys.seal == hkdf(salt, secret, SEAL_LABEL + b"|alice", 32)
    # No search-term key any more: nothing derives the retired index label's key.
    assert keys.seal != hkdf(salt, secret, b"p2pchat local history v1: index|alice", 32)
    # Same inputs, same keys (the file reopens); any input changed, other keys.
    assert derive_history_keys(identity, "alice", salt) == keys
    assert derive_history_keys(identity, "alice", new_salt()).seal != keys.seal
    assert derive_history_keys(identity, "bob", salt).seal != keys.seal
    assert derive_history_keys(IdentityKey.generate(), "alice", salt).seal != keys.seal


def test_key_repr_shows_no_key_material() -> None:
    keys = derive_history_keys(IdentityKey.generate(), "alice", new_salt())
    text = repr(keys)
    assert keys.seal.hex() not in text
    assert repr(keys.seal) not in text


def test_salt_must_have_the_right_size() -> None:
    with pytest.raises(ValueError):
        derive_history_keys(IdentityKey.generate(), "alice", b"short")


def test_sealed_entries_open_only_with_the_same_key_and_associated_data() -> None:
    identity = IdentityKey.generate()
    salt = new_salt()
    sealer = HistorySealer(derive_history_keys(identity, "alice", salt))
    sealed = sealer.seal(b"meet at noon", b"room-a")
    assert b"meet at noon" not in sealed
    assert sealer.open(sealed, b"room-a") == b"meet at noon"
    assert sealer.seal(b"meet at noon", b"room-a") != sealed  # fresh nonce each time
    with pytest.raises(DecryptError):
        sealer.open(sealed, b"room-b")
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptError):
        sealer.open(flipped, b"room-a")
    with pytest.raises(DecryptError):
        sealer.open(sealed[:20], b"room-a")
    other = HistorySealer(derive_history_keys(IdentityKey.generate(), "alice", salt))
    with pytest.raises(DecryptError):
        other.open(sealed, b"room-a")
