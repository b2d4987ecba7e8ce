"""The identity key at rest: one password-encrypted file per user.

Layout: ``<home>/<username>/identity.key`` (directory 0700, file 0600). The file is
versioned JSON::

    {"format": "p2pchat-identity", "version": 1, "username": "alice",
     "public_key": "<b64>",
     "kdf": {"name": "argon2id", "salt": "<b64>", "iterations": 3, "lanes": 4,
             "memory_cost": 65536},
     "cipher": "aes-256-gcm", "nonce": "<b64>", "ciphertext": "<b64>"}

The 32-byte private key is sealed with AES-256-GCM under an Argon2id key derived from
the password; the associated data binds the format, version and username, so a file
copied to another user's folder does not open. Loading opens the file without following
a symbolic link and refuses, as ssh does, one that group or others can access or that
another user owns; the checks run on the open descriptor
(:func:`commons.private_file.read_private_file`), so the file read is the file checked.
Deriving the key is deliberately slow (~100 ms with the default parameters): callers run
these functions in an executor.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from commons.errors import ValidationError
from commons.models import validate_username
from commons.private_file import read_private_file, write_private_file
from crypto.errors import InsecureKeyFileError, KeyFileError, WrongPasswordError
from crypto.identity import IdentityKey

FORMAT = "p2pchat-identity"
VERSION = 1
KEY_FILE_NAME = "identity.key"
SALT_SIZE = 16
NONCE_SIZE = 12
MAX_KEY_FILE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost. The default is RFC 9106's second recommendation (64 MiB, t=3, p=4),
    about 100 ms here; tests pass :data:`TEST_KDF_PARAMS` to stay fast."""

    iterations: int = 3
    lanes: int = 4
    memory_cost: int = 64 * 1024

    def validate(self) -> None:
        """Bounds that keep a tampered file from asking for absurd work or memory."""
        if not 1 <= self.iterations <= 64:
            raise KeyFileError("key file: Argon2id iterations out of range")
        if not 1 <= self.lanes <= 64:
            raise KeyFileError("key file: Argon2id lanes out of range")
        if not 8 * self.lanes <= self.memory_cost <= 4 * 1024 * 1024:
            raise KeyFileError("key file: Argon2id memory cost out of range")


DEFAULT_KDF_PARAMS = KdfParams()
TEST_KDF_PARAMS = KdfParams(iterations=1, lanes=1, memory_cost=8)


def key_file_path(home: Path, username: str) -> Path:
    return home / validate_username(username) / KEY_FILE_NAME


def _derive(password: str, salt: bytes, params: KdfParams) -> bytes:
    kdf = Argon2id(
        salt=salt,
        length=32,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_cost,
    )
    return kdf.derive(password.encode("utf-8"))


def _associated_data(username: str) -> bytes:
    return f"{FORMAT}/{VERSION}/{username}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(obj: dict[str, Any], name: str, size: int | None = None) -> bytes:
    value = obj.get(name)
    if not isinstance(value, str):
        raise KeyFileError(f"key file: field '{name}' missing")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"key file: field '{name}' is not base64") from None
    if size is not None and len(raw) != size:
        raise KeyFileError(f"key file: field '{name}' has the wrong size")
    return raw


def seal_identity(
    identity: IdentityKey, username: str, password: str, params: KdfParams = DEFAULT_KDF_PARAMS
) -> bytes:
    """The key file's bytes for ``identity``, encrypted under ``password``."""
    salt = secrets.token_bytes(SALT_SIZE)
    nonce = secrets.token_bytes(NONCE_SIZE)
    key = _derive(password, salt, params)
    ciphertext = AESGCM(key).encrypt(nonce, identity.private_bytes(), _associated_data(username))
    document = {
        "format": FORMAT,
        "version": VERSION,
        "username": username,
        "public_key": identity.public_b64,
        "kdf": {
            "name": "argon2id",
            "salt": _b64(salt),
            "iterations": params.iterations,
            "lanes": params.lanes,
            "memory_cost": params.memory_cost,
        },
        "cipher": "aes-256-gcm",
        "nonce": _b64(nonce),
        "ciphertext": _b64(ciphertext),
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _int_field(obj: dict[str, Any], name: str) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise KeyFileError(f"key file: field 'kdf.{name}' must be an integer")
    return value


def open_identity(data: bytes, username: str, password: str) -> IdentityKey:
    """Decrypt a key file's bytes; :class:`WrongPasswordError` if the password is wrong."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise KeyFileError("key file is not valid JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise KeyFileError("not a p2pchat identity key file")
    if document.get("version") != VERSION:
        raise KeyFileError(f"unsupported key file version {document.get('version')!r}")
    if document.get("username") != username:
        raise KeyFileError("key file belongs to another user")
    kdf = document.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("name") != "argon2id":
        raise KeyFileError("key file: unsupported key derivation")
    if document.get("cipher") != "aes-256-gcm":
        raise KeyFileError("key file: unsupported cipher")
    params = KdfParams(
        iterations=_int_field(kdf, "iterations"),
        lanes=_int_field(kdf, "lanes"),
        memory_cost=_int_field(kdf, "memory_cost"),
    )
    params.validate()
    salt = _unb64(kdf, "salt")
    if not 8 <= len(salt) <= 64:
        raise KeyFileError("key file: salt has the wrong size")
    nonce = _unb64(document, "nonce", NONCE_SIZE)
    ciphertext = _unb64(document, "ciphertext", 32 + 16)
    public_key = _unb64(document, "public_key", 32)
    key = _derive(password, salt, params)
    try:
        private = AESGCM(key).decrypt(nonce, ciphertext, _associated_data(username))
    except InvalidTag:
        raise WrongPasswordError(
            f"wrong password for the identity key of '{username}' (or the key file was modified)"
        ) from None
    identity = IdentityKey.from_private_bytes(private)
    if identity.public_bytes != public_key:
        raise KeyFileError("key file: public key does not match the private key")
    return identity


def open_saved_identity(home: Path, username: str, password: str) -> IdentityKey | None:
    """The key saved for ``username`` in ``home``, or ``None`` when there is no file.

    :class:`WrongPasswordError` if ``password`` does not open it; a file that is there but
    unusable (even a dangling symbolic link) is refused, never taken for a missing one.
    """
    path = _checked_path(home, username)
    if not os.path.lexists(path):
        return None
    return _load(path, validate_username(username), password)


def save_new_identity(
    home: Path,
    username: str,
    identity: IdentityKey,
    password: str,
    *,
    kdf_params: KdfParams | None = None,
) -> None:
    """Seal ``identity`` under ``password`` and write it as the user's key file.

    The contract that keeps a mistyped password from locking the user out: callers
    write a key created by this run only once the tracker accepted the password
    (:mod:`peer.session.credentials`). Never replaces a file: ``FileExistsError`` if
    one appeared meanwhile (another first run of the same user won the race).
    """
    path = _checked_path(home, username)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    params = kdf_params or DEFAULT_KDF_PARAMS
    params.validate()
    sealed = seal_identity(identity, validate_username(username), password, params)
    write_private_file(path, sealed, replace=False)


def _checked_path(home: Path, username: str) -> Path:
    try:
        return key_file_path(home, username)
    except ValidationError as exc:
        raise KeyFileError(exc.message) from None


def load_or_create_identity(
    home: Path, username: str, password: str, *, kdf_params: KdfParams | None = None
) -> tuple[IdentityKey, bool]:
    """The user's identity key, and whether it was created (and written) by this call.

    For tools and tests that have no tracker to ask; the client writes a new key only
    after the tracker accepted the password (:func:`save_new_identity`).
    ``kdf_params`` only applies when a new file is written (tests pass cheaper ones);
    an existing file always uses the parameters stored in it.
    """
    saved = open_saved_identity(home, username, password)
    if saved is not None:
        return saved, False
    identity = IdentityKey.generate()
    try:
        save_new_identity(home, username, identity, password, kdf_params=kdf_params)
    except FileExistsError:
        # Another first run of this user won the race: use its key, never replace it.
        return _load(_checked_path(home, username), validate_username(username), password), False
    return identity, True


def _load(path: Path, username: str, password: str) -> IdentityKey:
    data = read_private_file(
        path, what="identity key file", max_size=MAX_KEY_FILE_SIZE, refuse=InsecureKeyFileError
    )
    return open_identity(data, username, password)
