"""The login secret: what a client proves its password with, instead of the password.

The tracker keeps Argon2id of a value the client computes (the tracker's hash is
:mod:`tracker.accounts.hashing`); this module is how the client computes that value.
Scheme 2 (this one) is per account and slow::

    argon2_salt = "p2pchat/login-secret/2" || u16be(len(realm)) || realm || account_salt
    stretched   = Argon2id(password, argon2_salt, t, m, p, 32 bytes)
    secret      = hex(SHA-256(stretched))

* ``account_salt`` (16 bytes) and the Argon2id cost come from the tracker (``SALT``),
  one per account, as SCRAM does; for a name that has no account the tracker answers
  with a deterministic fake salt, so asking enumerates nothing.
* ``realm`` is the tracker group's name (``SALT`` says it): the same password gives
  unrelated secrets at two communities even if they handed out the same salt.
* The key file (:mod:`crypto.keystore`) has its own random salt and its own Argon2id,
  so the secret sent to a tracker opens nothing else.

Scheme 1 (:func:`legacy_digest`, SHA-256 of the password) is what clients sent before;
a client sends it only to upgrade an account the tracker still holds in that scheme.
The test vectors are ``tests/crypto/vectors/login-secret.json``.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from commons.errors import ValidationError

LABEL = b"p2pchat/login-secret/2"
ACCOUNT_SALT_SIZE = 16
MAX_REALM_LENGTH = 64


@dataclass(frozen=True, slots=True)
class LoginKdf:
    """Argon2id cost of the login secret (memory in KiB)."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 1

    def validate(self) -> LoginKdf:
        """Bounds that keep a hostile tracker from asking for absurd work or memory."""
        if not 1 <= self.iterations <= 16:
            raise ValidationError("login KDF: iterations must be 1-16")
        if not 1 <= self.lanes <= 16:
            raise ValidationError("login KDF: lanes must be 1-16")
        if not 8 * self.lanes <= self.memory_kib <= 1024 * 1024:
            raise ValidationError("login KDF: memory must be 8 KiB per lane to 1 GiB")
        return self

    def at_least(self, floor: LoginKdf) -> bool:
        """Whether this costs at least ``floor`` in memory and in passes."""
        return self.memory_kib >= floor.memory_kib and self.iterations >= floor.iterations

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": "argon2id",
            "memory_kib": self.memory_kib,
            "iterations": self.iterations,
            "lanes": self.lanes,
        }

    @classmethod
    def from_wire(cls, obj: Any) -> LoginKdf:
        if not isinstance(obj, dict) or obj.get("name") != "argon2id":
            raise ValidationError("field 'kdf' must describe argon2id")
        values = []
        for name in ("memory_kib", "iterations", "lanes"):
            value = obj.get(name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(f"field 'kdf.{name}' must be an integer")
            values.append(value)
        return cls(*values).validate()

    def encode(self) -> str:
        """Compact form for the database: ``m,t,p``."""
        return f"{self.memory_kib},{self.iterations},{self.lanes}"

    @classmethod
    def decode(cls, text: str) -> LoginKdf:
        memory, iterations, lanes = (int(part) for part in text.split(","))
        return cls(memory, iterations, lanes)


#: The tracker's default, about 170 ms on one core here.
DEFAULT_LOGIN_KDF = LoginKdf()
#: The least a client accepts by default (OWASP's argon2id floor, about 25 ms here).
MIN_LOGIN_KDF = LoginKdf(memory_kib=19 * 1024, iterations=2, lanes=1)
#: For tests only.
TEST_LOGIN_KDF = LoginKdf(memory_kib=8, iterations=1, lanes=1)


def validate_realm(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value.encode("utf-8")) <= MAX_REALM_LENGTH:
        raise ValidationError(f"field 'realm' must be 1-{MAX_REALM_LENGTH} bytes of text")
    return value


def argon2_salt(realm: str, account_salt: bytes) -> bytes:
    realm_bytes = realm.encode("utf-8")
    return LABEL + struct.pack(">H", len(realm_bytes)) + realm_bytes + account_salt


def login_secret(password: str, realm: str, account_salt: bytes, kdf: LoginKdf) -> str:
    """Scheme 2: the 64 hex digits sent as ``password``. Slow by design: run in an executor."""
    if len(account_salt) != ACCOUNT_SALT_SIZE:
        raise ValidationError(f"the account salt must be {ACCOUNT_SALT_SIZE} bytes")
    kdf.validate()
    stretched = Argon2id(
        salt=argon2_salt(validate_realm(realm), account_salt),
        length=32,
        iterations=kdf.iterations,
        lanes=kdf.lanes,
        memory_cost=kdf.memory_kib,
    ).derive(password.encode("utf-8"))
    return hashlib.sha256(stretched).hexdigest()


def legacy_digest(password: str) -> str:
    """Scheme 1: SHA-256 hex of the password, only ever sent to upgrade an old account."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()
