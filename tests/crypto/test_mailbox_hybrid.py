"""The mailbox opening, computed from the specification and attacked one half at a time.

Why: the opening's keys must stay secret if either X25519 or ML-KEM-768 holds. This test
recomputes ``Noise_XEKhfs_25519+MLKEM768_AESGCM_SHA256`` from the Noise and HFS texts with
``hashlib``, ``hmac`` and ``cryptography`` only (nothing from ``crypto/``), checks it opens
a real envelope, then runs the same key schedule as an adversary who holds every X25519
secret but not the ML-KEM one, and as one who holds the ML-KEM output and R's identity
key but not the prekey's X25519 key: neither opens the body.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from commons.codec import decode_object
from crypto.identity import IdentityKey
from crypto.mailbox import Grant, MailboxReceiver, MailboxSender, Prekey

NOW = 1_800_000_000
NAME = b"Noise_XEKhfs_25519+MLKEM768_AESGCM_SHA256"
NONCE0 = bytes(12)


def h_(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hkdf2(ck: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """Noise section 4.3 ``HKDF(ck, ikm, 2)`` from its HMAC definition."""
    prk = hmac.new(ck, ikm, hashlib.sha256).digest()
    one = hmac.new(prk, b"\x01", hashlib.sha256).digest()
    return one, hmac.new(prk, one + b"\x02", hashlib.sha256).digest()


def dh(private: bytes, public: bytes) -> bytes:
    key = X25519PrivateKey.from_private_bytes(private)
    return key.exchange(X25519PublicKey.from_public_bytes(public))


def root(ee: bytes, kem_output: bytes, es: bytes, ss: bytes) -> bytes:
    """The session root: only the chaining key matters, so only the four secrets do."""
    ck = h_(NAME)
    for secret in (ee, kem_output, es, ss):
        ck, _ = hkdf2(ck, secret)
    return hkdf2(ck, b"")[0]


def open_first_body(root_key: bytes, envelope: bytes, session_id: bytes) -> bytes | None:
    okm = HKDF(hashes.SHA256(), 64, root_key, b"p2pchat mailbox v1: chain").derive(b"")
    ad = envelope[:10] + session_id + bytes(8)
    try:
        padded = AESGCM(okm[32:]).decrypt(NONCE0, envelope[10 + 1216 :], ad)
    except InvalidTag:
        return None
    return padded[4 : 4 + int.from_bytes(padded[:4], "big")]


def transcript(
    envelope: bytes,
    recipient: IdentityKey,
    prekey_x: bytes,
    prekey_kem: MLKEM768PrivateKey,
    token_hash: bytes,
) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """``(ee, kem_output, es, ss, session_id)`` as R computes them, from the specification."""
    hs = envelope[10 : 10 + 1216]
    prologue = b"p2pchat mailbox v1 " + NAME + b"\x03bob" + envelope[2:10] + token_hash
    h = h_(NAME)
    ck = h
    prekey_x_public = X25519PrivateKey.from_private_bytes(prekey_x).public_key()
    for item in (
        prologue,
        prekey_x_public.public_bytes_raw(),
        prekey_kem.public_key().public_bytes_raw(),
        recipient.public_bytes,
        hs[:32],
    ):
        h = h_(h + item)
    ee = dh(prekey_x, hs[:32])
    ck, k = hkdf2(ck, ee)
    ciphertext = AESGCM(k).decrypt(NONCE0, hs[32:1136], h)
    h = h_(h + hs[32:1136])
    kem_output = prekey_kem.decapsulate(ciphertext)
    ck, k = hkdf2(ck, kem_output)
    es = dh(recipient.private_bytes(), hs[:32])
    ck, k = hkdf2(ck, es)
    sender = AESGCM(k).decrypt(NONCE0, hs[1136:1184], h)
    h = h_(h + hs[1136:1184])
    ss = dh(recipient.private_bytes(), sender)
    ck, k = hkdf2(ck, ss)
    session_id = AESGCM(k).decrypt(NONCE0, hs[1184:1216], h)
    return ee, kem_output, es, ss, session_id


def recorded() -> tuple[bytes, bytes, tuple[bytes, bytes, bytes, bytes, bytes]]:
    alice, bob = IdentityKey.generate(), IdentityKey.generate()
    receiver = MailboxReceiver(bob, "bob")
    grant = receiver.issue_grant("alice", NOW, one_time=1)
    state = receiver.to_bytes()
    sender = MailboxSender(alice, "bob", bob.public_bytes, Grant.from_bytes(grant.to_bytes()))
    envelope = sender.seal(b"hybrid", NOW)
    # The prekey's private halves, as R's state held them before the opening.
    prekey = Prekey.from_dict(decode_object(state)["grants"][0]["one_time"][0])
    secrets = transcript(
        envelope, bob, prekey.x25519.private_bytes_raw(), prekey.mlkem, grant.token_hash
    )
    return envelope, grant.token_hash, secrets


def test_the_specification_computation_opens_a_real_opening() -> None:
    envelope, _, (ee, kem_output, es, ss, session_id) = recorded()
    assert open_first_body(root(ee, kem_output, es, ss), envelope, session_id) == b"hybrid"


def test_every_x25519_secret_without_the_ml_kem_secret_opens_nothing() -> None:
    envelope, _, (ee, kem_output, es, ss, session_id) = recorded()
    other = MLKEM768PrivateKey.generate()
    guesses = [bytes(32), hashlib.sha256(kem_output).digest(), other.decapsulate(bytes(1088))]
    for guess in guesses:
        assert open_first_body(root(ee, guess, es, ss), envelope, session_id) is None


def test_the_ml_kem_secret_and_the_identity_key_without_the_prekey_open_nothing() -> None:
    envelope, _, (ee, kem_output, es, ss, session_id) = recorded()
    for guess in (bytes(32), es, ss, hashlib.sha256(ee).digest()):
        assert open_first_body(root(guess, kem_output, es, ss), envelope, session_id) is None
