"""The cryptography of the local message history: its key and sealed entries.

The history file (:mod:`peer.history.store`) holds nothing readable. Its keys are derived
with HKDF-SHA256 from the user's identity private key, which exists in memory only after
the password opened the key file, so the history opens with the password and nothing
else. Each use has its own HKDF label (``info``), distinct from every label the Noise
channel uses, and a random per-file salt, so clearing the history (a new file, a new
salt) gives a new key.

The ``seal`` key is AES-256-GCM over each entry and over the sealed word index (random
96-bit nonce per seal, stored in front of the ciphertext; the caller's associated data
binds what is sealed to its place, so a row moved to another buffer or re-dated does not
open, nor does an entry read as the index).

There is no search-term key any more. Version 1 of the file kept an HMAC of each word
in clear rows; whoever can send the user words can label those rows and read them off
other conversations, keyed or not (issue 20). The index is now held in memory and stored
only sealed (:mod:`peer.history.index`); ``p2pchat local history v1: index`` is retired
and never reused.

Nothing here reads a clock, a file or a socket.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from commons.models import validate_username
from crypto.errors import DecryptError
from crypto.identity import IdentityKey
from crypto.primitives import hkdf

SALT_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_SIZE = 32
#: HKDF label. Versioned: a new use gets a new label, never reuses a retired one
#: (``p2pchat local history v1: index`` was the search-term key's).
SEAL_LABEL = b"p2pchat local history v1: seal"


@dataclass(frozen=True, slots=True)
class HistoryKeys:
    """The history's keys (one now: ``seal``); ``repr`` never shows them."""

    seal: bytes = field(repr=False)


def new_salt() -> bytes:
    """A fresh random salt for a new history file."""
    return secrets.token_bytes(SALT_SIZE)


def derive_history_keys(identity: IdentityKey, username: str, salt: bytes) -> HistoryKeys:
    """HKDF-SHA256 over the identity private key with its label, bound to ``username``.

    The username is in ``info`` so two accounts never share history keys even if they
    shared an identity key. Raises ``ValueError`` for a salt of the wrong size.
    """
    if len(salt) != SALT_SIZE:
        raise ValueError(f"a history salt is {SALT_SIZE} bytes")
    who = b"|" + validate_username(username).encode("utf-8")
    secret = identity.private_bytes()
    return HistoryKeys(seal=hkdf(salt, secret, SEAL_LABEL + who, KEY_SIZE))


class HistorySealer:
    """Seals and opens what the history file holds with its key."""

    __slots__ = ("_aead",)

    def __init__(self, keys: HistoryKeys) -> None:
        self._aead = AESGCM(keys.seal)

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        """``nonce || AES-256-GCM(plaintext, associated)``."""
        nonce = secrets.token_bytes(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes) -> bytes:
        """The plaintext of :meth:`seal`'s output; :class:`DecryptError` if it does not verify
        (another key, a modified row, other associated data)."""
        if len(sealed) < NONCE_SIZE + TAG_SIZE:
            raise DecryptError("history entry is too short")
        try:
            return self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], associated)
        except InvalidTag:
            raise DecryptError("history entry failed authentication") from None
