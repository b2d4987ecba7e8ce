"""Proof of the registered identity key for the legacy login upgrade, sans-I/O.

Why: an account of the old scheme (:func:`crypto.login_secret.legacy_digest`) is opened by
SHA-256 of the password alone, and the login that moves it to the salted secret also
chooses that secret. Whoever holds the old digest (a leaked database of another service,
a tracker that turned hostile) could choose it and lock the owner out for good. The
digest is the whole credential, so the upgrade needs a second one: the private half of
the identity key the account was registered with, which only the owner's client holds.

The exchange (docs/PROTOCOL.md, *Legacy accounts*):

* ``SALT`` for an account of the old scheme carries ``upgrade_key``: the public half of a
  fresh X25519 key the tracker made for this request (:class:`UpgradeChallenge`), kept
  with that connection only, spent by the next ``LOGIN`` on it whatever its outcome;
* the upgrading ``LOGIN`` carries ``upgrade_proof``::

      shared = X25519(identity private, upgrade_key)
      key    = HKDF-SHA256(ikm=shared, salt=empty, info=LABEL, 32 bytes)
      proof  = hex(HMAC-SHA256(key, transcript))
      transcript = LABEL || lp(lower(username)) || lp(realm) || upgrade_key
                   || identity public || lp(new secret)

  (``lp``: a 2-byte big-endian length, then the UTF-8 bytes);
* the tracker computes the same with its private half and the account's *registered*
  public key, and compares in constant time (``HMAC.verify``) before it stores the new secret.

So a proof is good for one name, one realm, one tracker key (one ``SALT`` on one
connection), one registered key and one new secret: it cannot be replayed, moved to
another account or made to install a secret other than the one the owner's client
derived. It proves the key only to the tracker that made the challenge; it is not a
signature anyone else can check, and it reveals nothing of the key.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hmac import HMAC

from commons.errors import ValidationError
from commons.models import decode_identity_key
from crypto.identity import IdentityKey
from crypto.primitives import hkdf

LABEL = b"p2pchat/legacy-upgrade/1"
KEY_SIZE = 32


def _lp(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">H", len(data)) + data


def _transcript(
    username: str, realm: str, upgrade_key: bytes, identity_public: bytes, new_secret: str
) -> bytes:
    return b"".join(
        (
            LABEL,
            _lp(username.lower()),
            _lp(realm),
            upgrade_key,
            identity_public,
            _lp(new_secret.lower()),
        )
    )


def _mac(shared: bytes, transcript: bytes) -> HMAC:
    """HMAC-SHA256 over ``transcript`` under HKDF of the exchange (no salt: zeros)."""
    mac = HMAC(hkdf(b"", shared, LABEL, KEY_SIZE), hashes.SHA256())
    mac.update(transcript)
    return mac


def upgrade_proof(
    identity: IdentityKey, upgrade_key: bytes, username: str, realm: str, new_secret: str
) -> str:
    """The client's ``upgrade_proof`` for ``SALT``'s ``upgrade_key``.

    Raises :class:`ValidationError` for a key that is not one (wrong size, or a low-order
    point whose exchange gives all zeros: a tracker could learn nothing from it, but a
    proof over a constant would be no proof).
    """
    if len(upgrade_key) != KEY_SIZE:
        raise ValidationError(f"field 'upgrade_key' must encode exactly {KEY_SIZE} bytes")
    try:
        shared = identity.private_key.exchange(X25519PublicKey.from_public_bytes(upgrade_key))
    except ValueError:
        raise ValidationError("field 'upgrade_key' is not a usable X25519 key") from None
    transcript = _transcript(username, realm, upgrade_key, identity.public_bytes, new_secret)
    return _mac(shared, transcript).finalize().hex()


class UpgradeChallenge:
    """The tracker's half of one upgrade: a fresh X25519 key for one ``SALT`` of one name.

    Kept with the connection that asked and spent by its next ``LOGIN``; ``repr`` never
    shows the private half."""

    __slots__ = ("_private", "public_bytes", "username")

    def __init__(self, username: str) -> None:
        self.username = username
        self._private = X25519PrivateKey.generate()
        #: What ``SALT`` sends as ``upgrade_key`` (base64 on the wire).
        self.public_bytes = self._private.public_key().public_bytes_raw()

    def accepts(
        self, registered_key: str, username: str, realm: str, new_secret: str, proof: str
    ) -> bool:
        """Whether ``proof`` shows the private half of ``registered_key`` (the account's
        identity key, base64) for ``username`` at ``realm`` choosing ``new_secret``; the
        comparison takes constant time. ``proof`` is hex (the wire field, validated by
        :func:`commons.tracker_protocol.validate_upgrade_proof`). ``False`` for a challenge
        made for another name or a registered key no exchange can use."""
        if username.lower() != self.username.lower():
            return False
        try:
            public = decode_identity_key(registered_key)
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(public))
        except (ValueError, ValidationError):
            return False
        transcript = _transcript(username, realm, self.public_bytes, public, new_secret)
        try:
            _mac(shared, transcript).verify(bytes.fromhex(proof))
        except (InvalidSignature, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"UpgradeChallenge(username={self.username!r})"
