"""Atomic owner-only writes: the content is replaced whole, never wider than 0600."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from commons import private_file
from commons.private_file import read_private_file, write_private_file

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def test_creates_folder_and_file_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "alice" / "pins.json"
    write_private_file(target, b"first")
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


def test_replaces_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "pins.json"
    write_private_file(target, b"old")
    target.chmod(0o644)
    write_private_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["pins.json"]


def test_failed_write_keeps_old_content_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "pins.json"
    write_private_file(target, b"old")

    def crash(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(private_file.os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        write_private_file(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["pins.json"]


def test_no_replace_never_overwrites_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "identity.key"
    write_private_file(target, b"first", replace=False)
    with pytest.raises(FileExistsError):
        write_private_file(target, b"second", replace=False)
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["identity.key"]


def _refuse(message: str) -> Exception:
    return PermissionError(message)


def test_checked_read_returns_an_owner_only_file(tmp_path: Path) -> None:
    target = tmp_path / "pins.json"
    write_private_file(target, b"content")
    assert read_private_file(target, what="pin store", max_size=100, refuse=_refuse) == b"content"
    with pytest.raises(FileNotFoundError):
        read_private_file(tmp_path / "missing", what="pin store", max_size=100, refuse=_refuse)


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        (lambda p: os.symlink(p.with_name("real"), p), "symbolic link"),
        (lambda p: os.mkfifo(p, 0o600), "not a regular file"),
        (lambda p: p.mkdir(mode=0o700), "not a regular file"),
        (lambda p: (p.write_bytes(b"x"), p.chmod(0o640)), "too open"),
        (lambda p: (p.write_bytes(b"x" * 101), p.chmod(0o600)), "too large"),
    ],
    ids=["symlink", "fifo", "directory", "group-readable", "too-large"],
)
def test_checked_read_refuses_what_is_not_a_private_file(
    tmp_path: Path, plant: object, expected: str
) -> None:
    """Each is something someone who can write the folder could plant; a FIFO would
    block a plain open() forever."""
    write_private_file(tmp_path / "real", b"the real one")
    target = tmp_path / "pins.json"
    assert callable(plant)
    plant(target)
    with pytest.raises(PermissionError, match=expected):
        read_private_file(target, what="pin store", max_size=100, refuse=_refuse)
