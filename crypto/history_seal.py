"""The cryptography of the local message history: keys, sealed entries, blind search terms.

The history file (:mod:`peer.history.store`) holds nothing readable. Its keys are derived
with HKDF-SHA256 from the user's identity private key, which exists in memory only after
the password opened the key file, so the history opens with the password and nothing
else. Each use has its own HKDF label (``info``), distinct from every label the Noise
channel uses, and a random per-file salt, so clearing the history (a new file, a new
salt) gives new keys:

* ``seal`` key: AES-256-GCM over each entry (random 96-bit nonce per entry, stored in
  front of the ciphertext; the caller's associated data binds the entry to its row's
  plaintext columns, so a row moved to another buffer or re-dated does not open);
* ``index`` key: HMAC-SHA256 of each normalised search word (or word prefix), truncated
  to 32 bits. The file can then be searched by word without holding any word: someone
  with the file but not the key sees which entries share a term, never which word it is.
  Truncation makes unrelated words collide now and then; search checks every candidate
  on the decrypted text, so a collision costs a decryption, never a wrong hit.

Nothing here reads a clock, a file or a socket.
"""

from __future__ import annotations

import hmac
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
#: HKDF labels. Versioned: a new format gets new labels, never reuses these.
SEAL_LABEL = b"p2pchat local history v1: seal"
INDEX_LABEL = b"p2pchat local history v1: index"


@dataclass(frozen=True, slots=True)
class HistoryKeys:
    """The two history keys; ``repr`` never shows them."""

    seal: bytes = field(repr=False)
    index: bytes = field(repr=False)


def new_salt() -> bytes:
    """A fresh random salt for a new history file."""
    return secrets.token_bytes(SALT_SIZE)


def derive_history_keys(identity: IdentityKey, username: str, salt: bytes) -> HistoryKeys:
    """HKDF-SHA256 over the identity private key, one label per key, bound to ``username``.

    The username is in ``info`` so two accounts never share history keys even if they
    shared an identity key. Raises ``ValueError`` for a salt of the wrong size.
    """
    if len(salt) != SALT_SIZE:
        raise ValueError(f"a history salt is {SALT_SIZE} bytes")
    who = b"|" + validate_username(username).encode("utf-8")
    secret = identity.private_bytes()
    return HistoryKeys(
        seal=hkdf(salt, secret, SEAL_LABEL + who, KEY_SIZE),
        index=hkdf(salt, secret, INDEX_LABEL + who, KEY_SIZE),
    )


class HistorySealer:
    """Seals and opens history entries and computes blind search terms with one key pair."""

    __slots__ = ("_aead", "_index")

    def __init__(self, keys: HistoryKeys) -> None:
        self._aead = AESGCM(keys.seal)
        self._index = keys.index

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

    def term(self, word: bytes) -> int:
        """The blind term of ``word``: HMAC-SHA256 under the index key, first 32 bits as a
        signed integer (SQLite stores it in 4 bytes)."""
        digest = hmac.digest(self._index, word, "sha256")
        return int.from_bytes(digest[:4], "big", signed=True)
