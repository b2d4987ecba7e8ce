"""Mailbox prekeys and the grant that hands them to one contact.

Identity keys are X25519 only and cannot sign, so a prekey is never published where
someone could swap it: the recipient hands each contact a :class:`Grant` over the
authenticated live channel (docs/PROTOCOL.md, *Mailbox (in progress)*). A grant holds a
delivery ``token`` (the tracker will store only ``SHA-256(token)`` and accept deposits
from whoever presents it), up to :data:`MAX_ONE_TIME` one-time prekeys and one
last-resort prekey with its expiry. Every prekey belongs to exactly one grant, so the
token a deposit was made under, the prekey it opens with and the contact it was given to
always agree (the lead's design shared nothing either, but did not say so).

Decoding is strict: exact sizes, at most :data:`MAX_ONE_TIME` one-time prekeys, no two
prekeys with one id, every ML-KEM key well formed, an expiry in range, nothing above
:data:`MAX_GRANT_BYTES`. Anything else is a :class:`~crypto.errors.GrantError`.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto.errors import GrantError
from crypto.primitives import (
    DHLEN,
    KEM_PUBLIC_KEY_LEN,
    KEM_SEED_LEN,
    generate_kem_keypair,
    generate_keypair,
    hash_,
    kem_keypair_from_seed,
    kem_public_bytes,
    kem_public_key_is_valid,
    kem_seed,
    private_from_bytes,
    private_raw,
    public_bytes,
)

GRANT_VERSION = 1
PREKEY_ID_LEN = 8
TOKEN_LEN = 32
MAX_ONE_TIME = 16
MAX_EXPIRES = 2**63 - 1
PREKEY_PUBLIC_LEN = PREKEY_ID_LEN + DHLEN + KEM_PUBLIC_KEY_LEN
#: ``v || token || expires || count || count * one-time || last-resort``.
_GRANT_FIXED = 1 + TOKEN_LEN + 8 + 1
#: A full grant is 20,850 bytes; anything above 21 KiB is refused before it is parsed.
MAX_GRANT_BYTES = 21 * 1024
_PREKEY_FIELDS = frozenset({"id", "x25519", "mlkem"})
_GRANT_FIELDS = frozenset({"v", "token", "expires", "one_time", "last_resort"})


class PrekeyKind(StrEnum):
    """A one-time prekey opens one session and is deleted; a last-resort one is reused
    until it expires, with the sessions it opened remembered (replays refused)."""

    ONE_TIME = "one_time"
    LAST_RESORT = "last_resort"


@dataclass(frozen=True, slots=True)
class PrekeyPublic:
    """What a sender needs of a prekey: its id and its X25519 and ML-KEM-768 public keys."""

    id: bytes
    x25519: bytes
    mlkem: bytes

    def __post_init__(self) -> None:
        if len(self.id) != PREKEY_ID_LEN or len(self.x25519) != DHLEN:
            raise GrantError("a prekey has an 8-byte id and a 32-byte X25519 key")
        if not kem_public_key_is_valid(self.mlkem):
            raise GrantError("a prekey's ML-KEM-768 key is malformed")

    def to_bytes(self) -> bytes:
        return self.id + self.x25519 + self.mlkem

    @classmethod
    def from_bytes(cls, data: bytes) -> PrekeyPublic:
        if len(data) != PREKEY_PUBLIC_LEN:
            raise GrantError("a prekey is 1,224 bytes")
        return cls(
            data[:PREKEY_ID_LEN],
            data[PREKEY_ID_LEN : PREKEY_ID_LEN + DHLEN],
            data[PREKEY_ID_LEN + DHLEN :],
        )

    def to_dict(self) -> dict[str, str]:
        return {"id": _b64(self.id), "x25519": _b64(self.x25519), "mlkem": _b64(self.mlkem)}

    @classmethod
    def from_dict(cls, value: Any) -> PrekeyPublic:
        if not isinstance(value, dict) or value.keys() != _PREKEY_FIELDS:
            raise GrantError("a prekey is {id, x25519, mlkem}")
        return cls(_unb64(value["id"]), _unb64(value["x25519"]), _unb64(value["mlkem"]))


class Prekey:
    """A prekey's private halves (X25519 and ML-KEM-768), held by the recipient only.

    ``expires`` (Unix seconds) is set for a last-resort prekey, ``None`` for a one-time
    one. ``repr`` never shows key material.
    """

    __slots__ = ("expires", "id", "kind", "mlkem", "x25519")

    def __init__(
        self,
        prekey_id: bytes,
        kind: PrekeyKind,
        x25519: X25519PrivateKey,
        mlkem: MLKEM768PrivateKey,
        expires: int | None = None,
    ) -> None:
        if len(prekey_id) != PREKEY_ID_LEN:
            raise ValueError("a prekey id is 8 bytes")
        if (kind is PrekeyKind.LAST_RESORT) != (expires is not None):
            raise ValueError("exactly the last-resort prekey has an expiry")
        self.id = prekey_id
        self.kind = kind
        self.x25519 = x25519
        self.mlkem = mlkem
        self.expires = expires

    @classmethod
    def generate(cls, kind: PrekeyKind, expires: int | None = None) -> Prekey:
        """A fresh prekey with a random id, from the OS generator."""
        return cls(
            secrets.token_bytes(PREKEY_ID_LEN),
            kind,
            generate_keypair(),
            generate_kem_keypair(),
            expires,
        )

    def public(self) -> PrekeyPublic:
        return PrekeyPublic(self.id, public_bytes(self.x25519), kem_public_bytes(self.mlkem))

    def to_dict(self) -> dict[str, Any]:
        """For the receiver's state only (which its caller keeps sealed)."""
        return {
            "id": _b64(self.id),
            "kind": str(self.kind),
            "x25519": _b64(private_raw(self.x25519)),
            "mlkem": _b64(kem_seed(self.mlkem)),
            "expires": self.expires,
        }

    @classmethod
    def from_dict(cls, value: Any) -> Prekey:
        """Raises ``ValueError`` (or ``KeyError``, ``TypeError``) for a malformed entry; the
        receiver's state turns these into :class:`~crypto.errors.MailboxStateError`."""
        seed = _unb64(value["mlkem"])
        if len(seed) != KEM_SEED_LEN:
            raise ValueError("bad ML-KEM seed")
        expires = value["expires"]
        if expires is not None and type(expires) is not int:
            raise ValueError("bad expiry")
        return cls(
            _unb64(value["id"]),
            PrekeyKind(value["kind"]),
            private_from_bytes(_unb64(value["x25519"])),
            kem_keypair_from_seed(seed),
            expires,
        )

    def __repr__(self) -> str:
        return f"Prekey(id={self.id.hex()}, kind={self.kind}, expires={self.expires})"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a recipient hands one contact: a delivery token and prekeys to open with.

    ``expires`` is the last-resort prekey's expiry (Unix seconds); the one-time prekeys
    last until used or revoked. ``repr`` never shows the token.
    """

    token: bytes = field(repr=False)
    one_time: tuple[PrekeyPublic, ...]
    last_resort: PrekeyPublic
    expires: int

    def __post_init__(self) -> None:
        if len(self.token) != TOKEN_LEN:
            raise GrantError("a delivery token is 32 bytes")
        if len(self.one_time) > MAX_ONE_TIME:
            raise GrantError(f"a grant holds at most {MAX_ONE_TIME} one-time prekeys")
        ids = {prekey.id for prekey in (*self.one_time, self.last_resort)}
        if len(ids) != len(self.one_time) + 1:
            raise GrantError("two prekeys of a grant share an id")
        if type(self.expires) is not int or not 0 < self.expires <= MAX_EXPIRES:
            raise GrantError("a grant's expiry is out of range")

    @property
    def token_hash(self) -> bytes:
        """``SHA-256(token)``: what the tracker stores, and what openings are bound to."""
        return token_hash(self.token)

    def to_bytes(self) -> bytes:
        return b"".join(
            [
                bytes([GRANT_VERSION]),
                self.token,
                self.expires.to_bytes(8, "big"),
                bytes([len(self.one_time)]),
                *(prekey.to_bytes() for prekey in self.one_time),
                self.last_resort.to_bytes(),
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Grant:
        if len(data) > MAX_GRANT_BYTES:
            raise GrantError("grant too large")
        if len(data) < _GRANT_FIXED or data[0] != GRANT_VERSION:
            raise GrantError("not a version 1 grant")
        count = data[_GRANT_FIXED - 1]
        if count > MAX_ONE_TIME:
            raise GrantError(f"a grant holds at most {MAX_ONE_TIME} one-time prekeys")
        if len(data) != _GRANT_FIXED + (count + 1) * PREKEY_PUBLIC_LEN:
            raise GrantError("grant has the wrong size for its prekey count")
        keys = [
            PrekeyPublic.from_bytes(data[start : start + PREKEY_PUBLIC_LEN])
            for start in range(_GRANT_FIXED, len(data), PREKEY_PUBLIC_LEN)
        ]
        expires = int.from_bytes(data[1 + TOKEN_LEN : 1 + TOKEN_LEN + 8], "big")
        return cls(data[1 : 1 + TOKEN_LEN], tuple(keys[:-1]), keys[-1], expires)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (base64 fields), for a chat frame."""
        return {
            "v": GRANT_VERSION,
            "token": _b64(self.token),
            "expires": self.expires,
            "one_time": [prekey.to_dict() for prekey in self.one_time],
            "last_resort": self.last_resort.to_dict(),
        }

    @classmethod
    def from_dict(cls, value: Any) -> Grant:
        if not isinstance(value, dict) or value.keys() != _GRANT_FIELDS:
            raise GrantError("a grant is {v, token, expires, one_time, last_resort}")
        version = value["v"]
        if type(version) is not int or version != GRANT_VERSION:
            raise GrantError("not a version 1 grant")
        one_time = value["one_time"]
        if not isinstance(one_time, list) or len(one_time) > MAX_ONE_TIME:
            raise GrantError(f"a grant holds at most {MAX_ONE_TIME} one-time prekeys")
        if type(value["expires"]) is not int:
            raise GrantError("a grant's expiry is out of range")
        return cls(
            _unb64(value["token"]),
            tuple(PrekeyPublic.from_dict(item) for item in one_time),
            PrekeyPublic.from_dict(value["last_resort"]),
            value["expires"],
        )


def token_hash(token: bytes) -> bytes:
    """``SHA-256(token)``."""
    return hash_(token)


def new_token() -> bytes:
    return secrets.token_bytes(TOKEN_LEN)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any) -> bytes:
    """Strict base64 (no whitespace, no junk), bounded before decoding."""
    if not isinstance(value, str) or len(value) > 4 * MAX_GRANT_BYTES // 3 + 4:
        raise GrantError("a grant field is not base64 of a sane size")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise GrantError("a grant field is not base64") from None
