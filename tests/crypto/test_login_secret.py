"""The login secret (scheme 2): our vectors, an independent Argon2, and its bounds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from argon2.low_level import Type, hash_secret_raw

from commons.errors import ValidationError
from crypto.login_secret import (
    LABEL,
    LoginKdf,
    argon2_salt,
    legacy_digest,
    login_secret,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "login-secret.json").read_text())


@pytest.mark.parametrize("case", VECTORS["vectors"], ids=lambda c: c["realm"] + str(c["kdf"]))
def test_vectors(case):
    kdf = LoginKdf(**case["kdf"])
    salt = bytes.fromhex(case["salt"])
    assert argon2_salt(case["realm"], salt).hex() == case["argon2_salt"]
    assert login_secret(case["password"], case["realm"], salt, kdf) == case["secret"]


@pytest.mark.parametrize("case", VECTORS["vectors"][:2])
def test_vectors_agree_with_an_independent_argon2(case):
    kdf = LoginKdf(**case["kdf"])
    raw = hash_secret_raw(
        case["password"].encode(),
        bytes.fromhex(case["argon2_salt"]),
        time_cost=kdf.iterations,
        memory_cost=kdf.memory_kib,
        parallelism=kdf.lanes,
        hash_len=32,
        type=Type.ID,
    )
    assert hashlib.sha256(raw).hexdigest() == case["secret"]


def test_the_salt_binds_label_realm_and_account_salt_without_ambiguity():
    salt = bytes(range(16))
    assert argon2_salt("ab", salt).startswith(LABEL + b"\x00\x02ab")
    # A realm cannot be shifted into the salt: the length prefix tells them apart.
    assert argon2_salt("ab", salt) != argon2_salt("a", b"b" + salt[:15])


def test_secret_depends_on_password_salt_realm_and_cost():
    kdf = LoginKdf(8, 1, 1)
    salt = bytes(16)
    base = login_secret("pw", "r", salt, kdf)
    assert base != login_secret("pw2", "r", salt, kdf)
    assert base != login_secret("pw", "r2", salt, kdf)
    assert base != login_secret("pw", "r", bytes(15) + b"\x01", kdf)
    assert base != login_secret("pw", "r", salt, LoginKdf(16, 1, 1))
    assert base != legacy_digest("pw")
    assert VECTORS["legacy"]["digest"] == legacy_digest(VECTORS["legacy"]["password"])


@pytest.mark.parametrize(
    "wire",
    [
        {"name": "argon2id", "memory_kib": 4, "iterations": 1, "lanes": 1},
        {"name": "argon2id", "memory_kib": 2**21, "iterations": 1, "lanes": 1},
        {"name": "argon2id", "memory_kib": 64, "iterations": 0, "lanes": 1},
        {"name": "argon2id", "memory_kib": 64, "iterations": 99, "lanes": 1},
        {"name": "argon2id", "memory_kib": 64, "iterations": True, "lanes": 1},
        {"name": "scrypt", "memory_kib": 64, "iterations": 1, "lanes": 1},
        "argon2id",
    ],
)
def test_a_tracker_cannot_ask_for_absurd_or_unknown_derivations(wire):
    with pytest.raises(ValidationError):
        LoginKdf.from_wire(wire)


def test_the_client_floor_compares_memory_and_passes():
    floor = LoginKdf(19 * 1024, 2, 1)
    assert LoginKdf(64 * 1024, 3, 1).at_least(floor)
    assert not LoginKdf(8, 1, 1).at_least(floor)
    assert not LoginKdf(64 * 1024, 1, 1).at_least(floor)
