"""A user's long-term X25519 identity key.

The public half is what the tracker publishes and what peers pin; the private half is
the Noise static key of every channel the user opens. Only :mod:`crypto.keystore`
ever serialises the private half, and only encrypted; :mod:`crypto.history_seal`
derives the local history's keys from it with HKDF (its own labels).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from commons.models import encode_identity_key

PRIVATE_KEY_SIZE = 32


class IdentityKey:
    """An X25519 key pair; ``repr`` never shows key material."""

    __slots__ = ("_private", "_public")

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self._private = private_key
        self._public = private_key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> IdentityKey:
        """A fresh key from the OS random generator."""
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, data: bytes) -> IdentityKey:
        """Rebuild a key from its 32 raw private bytes (as the keystore stores them)."""
        if len(data) != PRIVATE_KEY_SIZE:
            raise ValueError("an X25519 private key is 32 bytes")
        return cls(X25519PrivateKey.from_private_bytes(data))

    @property
    def private_key(self) -> X25519PrivateKey:
        return self._private

    def private_bytes(self) -> bytes:
        """The raw private key; for ``crypto/`` only: the keystore encrypts it at once,
        the history derives keys from it."""
        return self._private.private_bytes_raw()

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self._public

    @property
    def public_b64(self) -> str:
        """The public key as the tracker protocol carries it (``identity_key`` field)."""
        return encode_identity_key(self._public)

    def __repr__(self) -> str:
        return f"IdentityKey(public={self.public_b64})"
