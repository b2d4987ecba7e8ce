"""The Noise cipher suite ``25519+MLKEM768_AESGCM_SHA256``, as thin wrappers over ``cryptography``.

These are the only places the package touches a primitive, so each enforces its contract
once: :func:`dh` refuses malformed public keys and the all-zero shared secret (a
low-order point), :func:`aead_encrypt`/:func:`aead_decrypt` build the Noise nonce (four
zero bytes and a 64-bit big-endian counter), and :func:`hkdf` is RFC 5869 HKDF over
HMAC-SHA256, of which Noise's ``HKDF(ck, ikm, n)`` is the case ``info = b""``.
The KEM functions are the Noise HFS extension's ``GENERATE_KEM_KEYPAIR``,
``GENERATE_KEM_CIPHERTEXT`` and ``KEM`` for ML-KEM-768 (FIPS 203): a public key or
ciphertext of the wrong size, or a public key whose coefficients are not reduced
modulo q (FIPS 203's input check), is a :class:`HandshakeError`.
The Wycheproof and NIST tests run through these wrappers, not through ``cryptography``
directly.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import DecryptError, HandshakeError

DHLEN = 32
HASHLEN = 32
TAGLEN = 16
MAX_NONCE = 2**64 - 1
KEM_PUBLIC_KEY_LEN = 1184
KEM_CIPHERTEXT_LEN = 1088
KEM_OUTPUT_LEN = 32
KEM_SEED_LEN = 64
_ZERO_SHARED = bytes(DHLEN)
_NONCE_PREFIX = bytes(4)


def generate_keypair() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def private_from_bytes(data: bytes) -> X25519PrivateKey:
    """An X25519 private key from its 32 raw bytes; ``ValueError`` for another size."""
    if len(data) != DHLEN:
        raise ValueError("an X25519 private key is 32 bytes")
    return X25519PrivateKey.from_private_bytes(data)


def private_raw(key: X25519PrivateKey) -> bytes:
    """The 32 raw bytes of an X25519 private key (for state sealed by its caller)."""
    return key.private_bytes_raw()


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


def generate_kem_keypair() -> MLKEM768PrivateKey:
    """``GENERATE_KEM_KEYPAIR()``: a fresh ML-KEM-768 key pair from the OS generator."""
    return MLKEM768PrivateKey.generate()


def kem_keypair_from_seed(seed: bytes) -> MLKEM768PrivateKey:
    """FIPS 203 ``ML-KEM.KeyGen_internal(d, z)`` with ``seed = d || z`` (64 bytes).

    For known-answer tests and fixed test vectors; production keys come from
    :func:`generate_kem_keypair`.
    """
    if len(seed) != KEM_SEED_LEN:
        raise ValueError("an ML-KEM-768 seed is 64 bytes")
    return MLKEM768PrivateKey.from_seed_bytes(seed)


def kem_seed(key: MLKEM768PrivateKey) -> bytes:
    """The 64-byte seed ``d || z`` that :func:`kem_keypair_from_seed` rebuilds ``key`` from."""
    return key.private_bytes_raw()


def kem_public_key_is_valid(public_key: bytes) -> bool:
    """Whether ``public_key`` is a well-formed ML-KEM-768 encapsulation key (FIPS 203's
    size and modulus checks), so a stored key is refused when received, not when used."""
    if len(public_key) != KEM_PUBLIC_KEY_LEN:
        return False
    try:
        MLKEM768PublicKey.from_public_bytes(public_key)
    except ValueError:
        return False
    return True


def kem_public_bytes(key: MLKEM768PrivateKey) -> bytes:
    """The 1184-byte encapsulation key of ``key``."""
    return key.public_key().public_bytes_raw()


def kem_encapsulate(public_key: bytes) -> tuple[bytes, bytes]:
    """``GENERATE_KEM_CIPHERTEXT(public_key)``: ``(ciphertext, kem_output)``.

    Raises :class:`HandshakeError` for an encapsulation key of the wrong size or with
    unreduced coefficients (FIPS 203 section 7.2's input check, which ``cryptography``
    performs when loading the key).
    """
    if len(public_key) != KEM_PUBLIC_KEY_LEN:
        raise HandshakeError("ML-KEM-768 public key must be 1184 bytes")
    try:
        key = MLKEM768PublicKey.from_public_bytes(public_key)
    except ValueError:
        raise HandshakeError("ML-KEM-768 public key is malformed") from None
    shared, ciphertext = key.encapsulate()
    return ciphertext, shared


def kem_decapsulate(private_key: MLKEM768PrivateKey, ciphertext: bytes) -> bytes:
    """``KEM(key_pair, ciphertext)``: the 32-byte ``kem_output``.

    A ciphertext of the right size always yields an output: a forged or altered one
    yields FIPS 203's implicit-rejection value, unrelated to the sender's, so the
    handshake fails at the next authenticated message rather than here.
    """
    if len(ciphertext) != KEM_CIPHERTEXT_LEN:
        raise HandshakeError("ML-KEM-768 ciphertext must be 1088 bytes")
    try:
        return private_key.decapsulate(ciphertext)
    except ValueError:
        raise HandshakeError("ML-KEM-768 ciphertext is malformed") from None
