"""``Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256`` computed straight from the specifications.

An independent second implementation for the tests: written from the Noise Protocol
Framework (revision 34, sections 4-5) and "KEM-based Hybrid Forward Secrecy for Noise"
(revision 1, sections 3-5), on ``hashlib``/``hmac`` and ``cryptography``'s X25519,
AES-GCM and ML-KEM classes. It imports nothing from ``crypto/``, so a test that compares
the project's handshake with it compares two implementations, not one with itself.

XXhfs (``e1`` after the first ``e``, ``ekem1`` after the first ``ee``)::

    -> e, e1
    <- e, ee, ekem1, s, es
    -> s, se

``e1`` is sent like a static key (``EncryptAndHash``; in clear in message 1, where there
is no key yet); ``ekem1`` sends the KEM ciphertext the same way, then ``MixKey(kem_output)``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PROTOCOL_NAME = b"Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256"
DHLEN, KEM_PUBLIC, KEM_CIPHERTEXT, TAG = 32, 1184, 1088, 16


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _hkdf(chaining_key: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """Noise section 4.3, ``HKDF(ck, ikm, 2)``."""
    temp_key = _hmac(chaining_key, ikm)
    output1 = _hmac(temp_key, b"\x01")
    return output1, _hmac(temp_key, output1 + b"\x02")


def _nonce(n: int) -> bytes:
    return bytes(4) + n.to_bytes(8, "big")


class Transcript:
    """Noise's SymmetricState with its CipherState inlined: ``ck``, ``h``, ``k``, ``n``."""

    def __init__(self, prologue: bytes) -> None:
        self.h = hashlib.sha256(PROTOCOL_NAME).digest()  # the name is longer than 32 bytes
        self.ck = self.h
        self.k: bytes | None = None
        self.n = 0
        self.mix_hash(prologue)

    def mix_hash(self, data: bytes) -> None:
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, self.k = _hkdf(self.ck, ikm)
        self.n = 0

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        out = plaintext
        if self.k is not None:
            out = AESGCM(self.k).encrypt(_nonce(self.n), plaintext, self.h)
            self.n += 1
        self.mix_hash(out)
        return out

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        out = ciphertext
        if self.k is not None:
            out = AESGCM(self.k).decrypt(_nonce(self.n), ciphertext, self.h)
            self.n += 1
        self.mix_hash(ciphertext)
        return out

    def split(self) -> tuple[bytes, bytes]:
        return _hkdf(self.ck, b"")


def x25519(private: bytes, public: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(public)
    )


def x25519_public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def kem_public(seed: bytes) -> bytes:
    return MLKEM768PrivateKey.from_seed_bytes(seed).public_key().public_bytes_raw()


def kem_decapsulate(seed: bytes, ciphertext: bytes) -> bytes:
    return MLKEM768PrivateKey.from_seed_bytes(seed).decapsulate(ciphertext)


def kem_encapsulate(public_key: bytes) -> tuple[bytes, bytes]:
    """``(ciphertext, kem_output)`` to ``public_key``."""
    shared, ciphertext = MLKEM768PublicKey.from_public_bytes(public_key).encapsulate()
    return ciphertext, shared


@dataclass(frozen=True)
class Session:
    """Everything a complete handshake produced: the three messages, ``h`` and the keys."""

    messages: tuple[bytes, bytes, bytes]
    handshake_hash: bytes
    initiator_to_responder: bytes
    responder_to_initiator: bytes


def run_handshake(
    prologue: bytes,
    *,
    init_static: bytes,
    init_ephemeral: bytes,
    init_kem_seed: bytes,
    resp_static: bytes,
    resp_ephemeral: bytes,
    kem_ciphertext: bytes,
    kem_output: bytes,
    payloads: tuple[bytes, bytes, bytes],
) -> Session:
    """Write the three messages from the secrets of both sides (one shared transcript).

    ``kem_ciphertext``/``kem_output`` are the responder's encapsulation to the public key
    of ``init_kem_seed``; the caller checks they belong together.
    """
    t = Transcript(prologue)
    ie_pub, re_pub = x25519_public(init_ephemeral), x25519_public(resp_ephemeral)
    is_pub, rs_pub = x25519_public(init_static), x25519_public(resp_static)

    t.mix_hash(ie_pub)  # -> e
    msg1 = ie_pub + t.encrypt_and_hash(kem_public(init_kem_seed))  # e1, in clear
    msg1 += t.encrypt_and_hash(payloads[0])

    t.mix_hash(re_pub)  # <- e
    msg2 = re_pub
    t.mix_key(x25519(resp_ephemeral, ie_pub))  # ee
    msg2 += t.encrypt_and_hash(kem_ciphertext)  # ekem1 ...
    t.mix_key(kem_output)  # ... then MixKey(kem_output)
    msg2 += t.encrypt_and_hash(rs_pub)  # s
    t.mix_key(x25519(resp_static, ie_pub))  # es
    msg2 += t.encrypt_and_hash(payloads[1])

    msg3 = t.encrypt_and_hash(is_pub)  # -> s
    t.mix_key(x25519(init_static, re_pub))  # se
    msg3 += t.encrypt_and_hash(payloads[2])

    k1, k2 = t.split()
    return Session((msg1, msg2, msg3), t.h, k1, k2)


def derive_from_wire(
    prologue: bytes,
    messages: tuple[bytes, bytes, bytes],
    *,
    ee: bytes | None,
    es: bytes | None,
    se: bytes | None,
    kem_output: bytes | None,
) -> tuple[bytes, bytes, bytes]:
    """An eavesdropper's key schedule: ``(h, k1, k2)`` from the recorded messages plus
    the four secret inputs (three X25519 results and the KEM output), however obtained.

    Only hashes the wire bytes and mixes the given secrets: nothing is decrypted, so any
    guess for a secret yields keys, right or wrong. ``None`` skips that ``MixKey``: the
    schedule of an implementation that would leave the input out.
    """
    msg1, msg2, msg3 = messages
    t = Transcript(prologue)
    t.mix_hash(msg1[:DHLEN])
    t.mix_hash(msg1[DHLEN : DHLEN + KEM_PUBLIC])
    t.mix_hash(msg1[DHLEN + KEM_PUBLIC :])
    at = DHLEN
    t.mix_hash(msg2[:at])
    _mix_key_unless_none(t, ee)
    t.mix_hash(msg2[at : at + KEM_CIPHERTEXT + TAG])
    at += KEM_CIPHERTEXT + TAG
    _mix_key_unless_none(t, kem_output)
    t.mix_hash(msg2[at : at + DHLEN + TAG])
    at += DHLEN + TAG
    _mix_key_unless_none(t, es)
    t.mix_hash(msg2[at:])
    t.mix_hash(msg3[: DHLEN + TAG])
    _mix_key_unless_none(t, se)
    t.mix_hash(msg3[DHLEN + TAG :])
    k1, k2 = t.split()
    return t.h, k1, k2


def _mix_key_unless_none(transcript: Transcript, ikm: bytes | None) -> None:
    if ikm is not None:
        transcript.mix_key(ikm)


def kem_ciphertext_from_wire(
    prologue: bytes, msg1: bytes, msg2: bytes, ee: bytes
) -> tuple[bytes, Transcript]:
    """The plain KEM ciphertext of message 2, for anyone who knows ``ee``, and the
    transcript right after it (for a man in the middle who re-encrypts a substitute)."""
    t = Transcript(prologue)
    t.mix_hash(msg1[:DHLEN])
    t.mix_hash(msg1[DHLEN : DHLEN + KEM_PUBLIC])
    t.mix_hash(msg1[DHLEN + KEM_PUBLIC :])
    t.mix_hash(msg2[:DHLEN])
    t.mix_key(ee)
    before = copy.copy(t)
    ciphertext = t.decrypt_and_hash(msg2[DHLEN : DHLEN + KEM_CIPHERTEXT + TAG])
    return ciphertext, before


def encrypt_transport(key: bytes, nonce: int, plaintext: bytes) -> bytes:
    """A Noise transport message (empty associated data) under ``key``."""
    return AESGCM(key).encrypt(_nonce(nonce), plaintext, b"")
