"""The cipher-suite wrappers against published vectors, and the Noise details built on them.

The vector files live in ``tests/crypto/vectors/`` (sources and hashes in its README):
Wycheproof X25519, AES-GCM and HKDF-SHA256, RFC 5869 and the GCM specification. Every
case goes through :mod:`crypto.primitives`, the Noise HKDF through
:func:`crypto.primitives.noise_hkdf`, and every AES-GCM vector whose IV fits Noise's
nonce format through :class:`CipherState` itself, both ways; never straight to
``cryptography``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import DecryptError, HandshakeError
from crypto.noise import CipherState, NonceExhaustedError
from crypto.primitives import (
    HASHLEN,
    MAX_NONCE,
    aead_decrypt,
    aead_encrypt,
    dh,
    hkdf,
    noise_hkdf,
    nonce_bytes,
)

VECTORS = Path(__file__).parent / "vectors"
Case = dict[str, Any]


def _tests(name: str) -> list[tuple[Case, Case]]:
    document = json.loads((VECTORS / name).read_text())
    return [(group, case) for group in document["testGroups"] for case in group["tests"]]


def _plain(name: str) -> list[Case]:
    cases: list[Case] = json.loads((VECTORS / name).read_text())["tests"]
    return cases


X25519_CASES = _tests("wycheproof-x25519.json")
AES_GCM_CASES = [
    (g, t)
    for g, t in _tests("wycheproof-aes-gcm.json")
    if g["ivSize"] == 96 and g["tagSize"] == 128
]
HKDF_CASES = _tests("wycheproof-hkdf-sha256.json")
RFC5869_CASES = _plain("rfc5869-hkdf-sha256.json")
GCM_SPEC_CASES = _plain("gcm-spec-aes256-zero-iv.json")


def _fits_noise_nonce(case: Case) -> bool:
    """Noise's AESGCM nonce is 4 zero bytes then a 64-bit counter (< 2**64 - 1)."""
    iv = bytes.fromhex(case["iv"])
    return len(iv) == 12 and iv[:4] == bytes(4) and int.from_bytes(iv[4:], "big") < MAX_NONCE


NOISE_NONCE_CASES = [c for _g, c in AES_GCM_CASES if _fits_noise_nonce(c)] + GCM_SPEC_CASES


def test_vector_files_are_present() -> None:
    assert len(X25519_CASES) > 500
    assert len(AES_GCM_CASES) > 100
    assert len(HKDF_CASES) > 80
    assert len(RFC5869_CASES) == 3


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
    valid = invalid = 0
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
    assert valid > 50 and invalid > 20


def test_aes_gcm_vectors_in_the_noise_nonce_format_through_cipherstate() -> None:
    """Encrypt and decrypt through CipherState: its nonce, its counter, its key."""
    assert {c["tcId"] for c in NOISE_NONCE_CASES} == {39, 128, 176, 13, 14}
    assert sum(len(c["key"]) == 64 for c in NOISE_NONCE_CASES) == 3  # AES-256, as Noise uses
    for case in NOISE_NONCE_CASES:
        key, aad, msg = (bytes.fromhex(case[f]) for f in ("key", "aad", "msg"))
        sealed = bytes.fromhex(case["ct"] + case["tag"])
        counter = int.from_bytes(bytes.fromhex(case["iv"])[4:], "big")
        sender, receiver = CipherState(key), CipherState(key)
        sender.set_nonce(counter)
        receiver.set_nonce(counter)
        assert sender.encrypt_with_ad(aad, msg) == sealed, case["tcId"]
        assert receiver.decrypt_with_ad(aad, sealed) == msg, case["tcId"]
        assert sender.n == receiver.n == counter + 1
        for index in range(len(sealed)):
            tampered = CipherState(key)
            tampered.set_nonce(counter)
            flipped = bytearray(sealed)
            flipped[index] ^= 0x80
            with pytest.raises(DecryptError):
                tampered.decrypt_with_ad(aad, bytes(flipped))
            assert tampered.n == counter


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


def test_rfc5869_through_hkdf() -> None:
    for case in RFC5869_CASES:
        salt, ikm, info = (bytes.fromhex(case[f]) for f in ("salt", "ikm", "info"))
        assert hkdf(salt, ikm, info, case["size"]).hex() == case["okm"], case["tcId"]


def _spec_noise_hkdf(chaining_key: bytes, ikm: bytes) -> bytes:
    """Noise section 4.3, written out with HMAC: the definition the helper must meet."""
    temp = hmac.new(chaining_key, ikm, hashlib.sha256).digest()
    out1 = hmac.new(temp, b"\x01", hashlib.sha256).digest()
    out2 = hmac.new(temp, out1 + b"\x02", hashlib.sha256).digest()
    out3 = hmac.new(temp, out2 + b"\x03", hashlib.sha256).digest()
    return out1 + out2 + out3


def test_noise_hkdf_against_rfc5869_and_wycheproof() -> None:
    """Noise's HKDF(ck, ikm, n) is RFC 5869 HKDF with an empty ``info``: every published
    HKDF-SHA256 vector with an empty ``info`` and at most 3 outputs goes through
    :func:`noise_hkdf` (the shorter ones compare with the start of its output)."""
    cases = [c for c in RFC5869_CASES if c["info"] == ""]
    cases += [c for _g, c in HKDF_CASES if c["info"] == "" and c["result"] == "valid"]
    checked = 0
    for case in cases:
        if case["size"] > 3 * HASHLEN:
            continue
        salt, ikm = bytes.fromhex(case["salt"]), bytes.fromhex(case["ikm"])
        outputs = 2 if case["size"] <= 2 * HASHLEN else 3
        derived = b"".join(noise_hkdf(salt, ikm, outputs))
        assert len(derived) == outputs * HASHLEN
        assert derived[: case["size"]].hex() == case["okm"], case["tcId"]
        assert derived == _spec_noise_hkdf(salt or bytes(HASHLEN), ikm)[: len(derived)]
        checked += 1
    assert checked >= 30


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
