"""Human-comparable forms of identity keys.

:func:`fingerprint` names one key (for lists and logs). :func:`safety_number` names a
pair of users and their keys, identically on both sides, so two people can read it to
each other out of band; it is Signal's numeric fingerprint (version 0): for each side,
5200 rounds of SHA-512 starting from ``version || key || identifier`` and then
``hash = SHA-512(hash || key)``; the first 30 bytes give six 5-digit groups
(5-byte big-endian chunks mod 100000); the two 30-digit halves are sorted so both sides
display the same 60 digits. Keys are encoded as Signal encodes Curve25519 keys
(``0x05`` followed by the 32 raw bytes) and the identifier is the UTF-8 username, so
the construction reproduces libsignal's published test vector.
"""

from __future__ import annotations

import hashlib
import string

from commons.errors import ValidationError
from crypto.primitives import DHLEN

FINGERPRINT_VERSION = 0
ITERATIONS = 5200
DJB_KEY_TYPE = b"\x05"


def fingerprint(public_key: bytes) -> str:
    """First 16 bytes of SHA-256 of the key as 8 groups of 4 upper-case hex digits."""
    _check_key(public_key)
    digest = hashlib.sha256(public_key).hexdigest().upper()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def parse_fingerprint(text: str) -> str:
    """A fingerprint typed by a user, in the form :func:`fingerprint` prints.

    Spaces and colons are ignored and case does not matter, so a fingerprint copied from
    any of our outputs (or read aloud in groups) is accepted; anything but 32 hex digits
    is a :class:`ValidationError`.
    """
    digits = "".join(text.split()).replace(":", "").upper()
    if len(digits) != 32 or any(c not in string.hexdigits for c in digits):
        raise ValidationError("a fingerprint is 32 hex digits (8 groups of 4)")
    return " ".join(digits[i : i + 4] for i in range(0, 32, 4))


def _check_key(public_key: bytes) -> None:
    if len(public_key) != DHLEN:
        raise ValueError("an identity key is 32 bytes")


def _displayable_half(identifier: bytes, encoded_key: bytes, iterations: int) -> str:
    digest = FINGERPRINT_VERSION.to_bytes(2, "big") + encoded_key + identifier
    for _ in range(iterations):
        digest = hashlib.sha512(digest + encoded_key).digest()
    return "".join(
        f"{int.from_bytes(digest[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
    )


def numeric_fingerprint(
    local_id: bytes,
    local_key: bytes,
    remote_id: bytes,
    remote_key: bytes,
    iterations: int = ITERATIONS,
) -> str:
    """Signal's displayable fingerprint: 60 digits; keys already in Signal's encoding."""
    local = _displayable_half(local_id, local_key, iterations)
    remote = _displayable_half(remote_id, remote_key, iterations)
    return local + remote if local <= remote else remote + local


def safety_number(
    local_username: str, local_key: bytes, remote_username: str, remote_key: bytes
) -> str:
    """60 digits as 12 groups of 5, the same whichever side computes it."""
    _check_key(local_key)
    _check_key(remote_key)
    digits = numeric_fingerprint(
        local_username.encode("utf-8"),
        DJB_KEY_TYPE + local_key,
        remote_username.encode("utf-8"),
        DJB_KEY_TYPE + remote_key,
    )
    return " ".join(digits[i : i + 5] for i in range(0, 60, 5))
