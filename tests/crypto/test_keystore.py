"""The identity key file: created once, reopened with the password, guarded on disk."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from commons.errors import ErrorCode
from commons.models import decode_identity_key
from commons.private_file import write_private_file
from crypto.errors import InsecureKeyFileError, KeyFileError, WrongPasswordError
from crypto.identity import IdentityKey
from crypto.keystore import (
    DEFAULT_KDF_PARAMS,
    KEY_FILE_NAME,
    TEST_KDF_PARAMS,
    KdfParams,
    key_file_path,
    load_or_create_identity,
    seal_identity,
)

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def create(home: Path, username: str = "alice", password: str = "correct horse") -> IdentityKey:
    identity, created = load_or_create_identity(
        home, username, password, kdf_params=TEST_KDF_PARAMS
    )
    assert created
    return identity


def test_identity_key_basics() -> None:
    key = IdentityKey.generate()
    assert len(key.public_bytes) == 32
    assert decode_identity_key(key.public_b64) == key.public_bytes
    again = IdentityKey.from_private_bytes(key.private_bytes())
    assert again.public_bytes == key.public_bytes
    assert key.private_bytes().hex() not in repr(key)
    with pytest.raises(ValueError):
        IdentityKey.from_private_bytes(b"short")


def test_created_once_then_reloaded(tmp_path: Path) -> None:
    first = create(tmp_path)
    again, created = load_or_create_identity(tmp_path, "alice", "correct horse")
    assert not created
    assert again.public_bytes == first.public_bytes
    assert again.private_bytes() == first.private_bytes()


@posix_only
def test_file_and_directory_modes(tmp_path: Path) -> None:
    create(tmp_path)
    path = key_file_path(tmp_path, "alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_users_get_separate_keys(tmp_path: Path) -> None:
    alice = create(tmp_path, "alice")
    bob = create(tmp_path, "bob")
    assert alice.public_bytes != bob.public_bytes


def test_file_holds_no_plaintext_key(tmp_path: Path) -> None:
    identity = create(tmp_path)
    text = key_file_path(tmp_path, "alice").read_text()
    document = json.loads(text)
    assert document["version"] == 1 and document["kdf"]["name"] == "argon2id"
    assert {"salt", "iterations", "lanes", "memory_cost"} <= document["kdf"].keys()
    assert identity.private_bytes().hex() not in text
    assert identity.private_bytes() not in key_file_path(tmp_path, "alice").read_bytes()


def test_wrong_password_is_a_clear_error(tmp_path: Path) -> None:
    create(tmp_path)
    with pytest.raises(WrongPasswordError) as info:
        load_or_create_identity(tmp_path, "alice", "wrong horse")
    assert info.value.code is ErrorCode.WRONG_PASSWORD
    assert "wrong password" in str(info.value)
    assert "wrong horse" not in str(info.value)


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    create(tmp_path)
    path = key_file_path(tmp_path, "alice")
    path.chmod(mode)
    with pytest.raises(InsecureKeyFileError) as info:
        load_or_create_identity(tmp_path, "alice", "correct horse")
    assert info.value.code is ErrorCode.INSECURE_KEY_FILE
    message = str(info.value)
    assert f"{mode:04o}" in message and "too open" in message and "chmod 600" in message


@posix_only
def test_symlinked_key_file_is_refused_not_followed(tmp_path: Path) -> None:
    """Someone who can write alice's folder points identity.key at a file they control."""
    planted = create(tmp_path / "attacker")
    (tmp_path / "alice").mkdir(mode=0o700)
    os.symlink(key_file_path(tmp_path / "attacker", "alice"), key_file_path(tmp_path, "alice"))
    with pytest.raises(InsecureKeyFileError) as info:
        load_or_create_identity(tmp_path, "alice", "correct horse")
    assert "symbolic link" in info.value.message and "alice" in info.value.message
    assert planted.public_b64 not in info.value.message


@posix_only
def test_dangling_symlink_is_refused_not_written_through(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir(mode=0o700)
    target = tmp_path / "outside" / "written-by-us"
    os.symlink(target, key_file_path(tmp_path, "alice"))
    with pytest.raises(InsecureKeyFileError, match="symbolic link"):
        load_or_create_identity(tmp_path, "alice", "correct horse", kdf_params=TEST_KDF_PARAMS)
    assert not target.exists()


@posix_only
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_key_file_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    create(tmp_path)
    os.chown(key_file_path(tmp_path, "alice"), 65534, -1)
    with pytest.raises(InsecureKeyFileError, match="owned by uid 65534"):
        load_or_create_identity(tmp_path, "alice", "correct horse")


@posix_only
def test_key_file_checks_run_on_the_descriptor_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The permission check and the read use one open descriptor: swapping the path for
    a world-readable copy after the open changes nothing that is read."""
    create(tmp_path)
    path = key_file_path(tmp_path, "alice")
    opened: list[int] = []
    real_open = os.open

    def open_then_swap(file: object, flags: int, *args: object) -> int:
        fd = real_open(file, flags, *args)  # type: ignore[arg-type]
        if str(file) == str(path):
            opened.append(flags)
            swapped = path.with_name("swapped")
            swapped.write_bytes(b"not a key")
            swapped.chmod(0o644)
            os.replace(swapped, path)
        return fd

    monkeypatch.setattr(os, "open", open_then_swap)
    identity, created = load_or_create_identity(tmp_path, "alice", "correct horse")
    assert not created and identity.public_bytes
    assert opened and opened[0] & os.O_NOFOLLOW


def test_file_moved_to_another_user_does_not_open(tmp_path: Path) -> None:
    create(tmp_path, "alice")
    (tmp_path / "mallory").mkdir(mode=0o700)
    source = key_file_path(tmp_path, "alice")
    target = key_file_path(tmp_path, "mallory")
    target.write_bytes(source.read_bytes())
    target.chmod(0o600)
    with pytest.raises(KeyFileError):
        load_or_create_identity(tmp_path, "mallory", "correct horse")
    document = json.loads(source.read_text())
    document["username"] = "mallory"
    target.write_text(json.dumps(document))
    with pytest.raises(WrongPasswordError):
        load_or_create_identity(tmp_path, "mallory", "correct horse")


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda d: b"not json",
        lambda d: json.dumps({**d, "version": 99}).encode(),
        lambda d: json.dumps({**d, "format": "other"}).encode(),
        lambda d: json.dumps({**d, "nonce": "!!"}).encode(),
        lambda d: json.dumps({**d, "kdf": {**d["kdf"], "memory_cost": 2**40}}).encode(),
        lambda d: json.dumps({**d, "kdf": {**d["kdf"], "iterations": "3"}}).encode(),
        lambda d: json.dumps({**d, "public_key": IdentityKey.generate().public_b64}).encode(),
    ],
)
def test_corrupt_file_is_a_key_file_error(tmp_path: Path, corrupt: object) -> None:
    create(tmp_path)
    path = key_file_path(tmp_path, "alice")
    document = json.loads(path.read_text())
    assert callable(corrupt)
    path.write_bytes(corrupt(document))
    with pytest.raises(KeyFileError):
        load_or_create_identity(tmp_path, "alice", "correct horse")


def test_tampered_kdf_parameters_are_refused(tmp_path: Path) -> None:
    create(tmp_path)
    path = key_file_path(tmp_path, "alice")
    document = json.loads(path.read_text())
    document["kdf"]["iterations"] = 2
    path.write_text(json.dumps(document))
    with pytest.raises(WrongPasswordError):
        load_or_create_identity(tmp_path, "alice", "correct horse")


def test_username_cannot_escape_home(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        load_or_create_identity(tmp_path, "../evil", "pw", kdf_params=TEST_KDF_PARAMS)
    assert not (tmp_path.parent / "evil").exists()


def test_default_parameters_are_memory_hard() -> None:
    assert DEFAULT_KDF_PARAMS.memory_cost >= 64 * 1024
    assert DEFAULT_KDF_PARAMS.iterations >= 3
    with pytest.raises(KeyFileError):
        KdfParams(iterations=0).validate()


def test_interrupted_write_leaves_no_key_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key file appears whole (link of a fsync'ed temp file) or not at all."""

    def crash(_src: object, _dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("commons.private_file.os.link", crash)
    with pytest.raises(OSError):
        load_or_create_identity(tmp_path, "alice", "correct horse", kdf_params=TEST_KDF_PARAMS)
    monkeypatch.undo()
    assert list((tmp_path / "alice").iterdir()) == []
    create(tmp_path)


def test_two_first_runs_at_once_end_with_one_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process creates the key file after our existence check: ours loses, and
    we use theirs rather than overwrite the key the tracker may already have bound."""
    theirs = IdentityKey.generate()
    generate = IdentityKey.generate

    def other_process_first() -> IdentityKey:
        write_private_file(
            key_file_path(tmp_path, "alice"),
            seal_identity(theirs, "alice", "correct horse", TEST_KDF_PARAMS),
        )
        return generate()

    monkeypatch.setattr(IdentityKey, "generate", staticmethod(other_process_first))
    identity, created = load_or_create_identity(
        tmp_path, "alice", "correct horse", kdf_params=TEST_KDF_PARAMS
    )
    assert not created
    assert identity.public_bytes == theirs.public_bytes
    assert [p.name for p in (tmp_path / "alice").iterdir()] == [KEY_FILE_NAME]


def test_errors_and_reprs_hold_no_key_material(tmp_path: Path) -> None:
    identity = create(tmp_path)
    raw = identity.private_bytes()
    with pytest.raises(WrongPasswordError) as info:
        load_or_create_identity(tmp_path, "alice", "wrong horse")
    for text in (repr(identity), str(identity), str(info.value), repr(info.value)):
        assert raw.hex() not in text and repr(raw) not in text
        assert "correct horse" not in text and "wrong horse" not in text
