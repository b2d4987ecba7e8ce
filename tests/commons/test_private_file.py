"""Atomic owner-only writes: the content is replaced whole, never wider than 0600."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from commons import private_file
from commons.private_file import write_private_file

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
