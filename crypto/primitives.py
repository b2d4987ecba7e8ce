"""The Noise cipher suite ``25519_AESGCM_SHA256``, as thin wrappers over ``cryptography``.

These are the only places the package touches a primitive, so each enforces its contract
once: :func:`dh` refuses malformed public keys and the all-zero shared secret (a
low-order point), :func:`aead_encrypt`/:func:`aead_decrypt` build the Noise nonce (four
zero bytes and a 64-bit big-endian counter), and :func:`hkdf` is RFC 5869 HKDF over
HMAC-SHA256, of which Noise's ``HKDF(ck, ikm, n)`` is the case ``info = b""``.
The Wycheproof tests run through these wrappers, not through ``cryptography`` directly.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import DecryptError, HandshakeError

DHLEN = 32
HASHLEN = 32
KEYLEN = 32
TAGLEN = 16
MAX_NONCE = 2**64 - 1
_ZERO_SHARED = bytes(DHLEN)
_NONCE_PREFIX = bytes(4)


def generate_keypair() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def dh(private_key: X25519PrivateKey, public_key: bytes) -> bytes:
    """X25519 of ``private_key`` and a raw 32-byte ``public_key``.

    Raises :class:`HandshakeError` for a key of the wrong size or an all-zero result
    (the peer sent a low-order point, which would make the "secret" public).
    """
    if len(public_key) != DHLEN:
        raise HandshakeError("X25519 public key must be 32 bytes")
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(public_key))
    except ValueError:
        raise HandshakeError("X25519 produced an all-zero shared secret") from None
    if hmac.compare_digest(shared, _ZERO_SHARED):
        raise HandshakeError("X25519 produced an all-zero shared secret")
    return shared


def nonce_bytes(n: int) -> bytes:
    """Noise's AESGCM nonce: 32 zero bits then ``n`` as a 64-bit big-endian integer."""
    return _NONCE_PREFIX + n.to_bytes(8, "big")


def aead_encrypt(cipher: AESGCM, nonce: bytes, ad: bytes, plaintext: bytes) -> bytes:
    """``ENCRYPT(k, n, ad, plaintext)`` with ``nonce = nonce_bytes(n)``: ciphertext || tag."""
    return cipher.encrypt(nonce, plaintext, ad)


def aead_decrypt(cipher: AESGCM, nonce: bytes, ad: bytes, ciphertext: bytes) -> bytes:
    """``DECRYPT(k, n, ad, ciphertext)``; raises :class:`DecryptError` if it fails to verify."""
    try:
        return cipher.decrypt(nonce, ciphertext, ad)
    except InvalidTag:
        raise DecryptError("message failed authentication") from None


def hash_(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SHA256; raises ``ValueError`` for a length above 255 * 32."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def noise_hkdf(chaining_key: bytes, ikm: bytes, num_outputs: int) -> list[bytes]:
    """Noise's ``HKDF(chaining_key, input_key_material, num_outputs)``: 2 or 3 outputs."""
    okm = hkdf(chaining_key, ikm, b"", HASHLEN * num_outputs)
    return [okm[i : i + HASHLEN] for i in range(0, len(okm), HASHLEN)]
