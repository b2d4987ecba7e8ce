"""The data directory and database files are private whatever the umask; schema 1 upgrades."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracker.storage.sqlite_file import DB_FILE_NAME


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_private_modes_under_umask_022(tracker_factory, tmp_path, user, loose_umask):
    data_dir = tmp_path / "deep" / "data"
    tracker = await tracker_factory(data_dir=data_dir)
    await user(tracker, "alice")  # a write, so the WAL exists
    assert mode(data_dir) == 0o700
    files = [data_dir / DB_FILE_NAME, data_dir / f"{DB_FILE_NAME}-wal"]
    files.append(data_dir / f"{DB_FILE_NAME}-shm")
    for path in files:
        assert path.exists(), path
        assert mode(path) == 0o600, path
    assert mode(data_dir / "tracker-key.pem") == 0o600


async def test_existing_database_with_loose_mode_is_tightened(tracker_factory, tmp_path):
    data_dir = tmp_path / "old"
    data_dir.mkdir(mode=0o700)
    db = data_dir / DB_FILE_NAME
    sqlite3.connect(db).close()
    os.chmod(db, 0o644)
    await tracker_factory(data_dir=data_dir)
    assert mode(db) == 0o600


async def test_schema_1_database_is_upgraded_keeping_rooms(tracker_factory, tmp_path, user):
    data_dir = tmp_path / "v1"
    data_dir.mkdir(mode=0o700)
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        conn.executescript(
            """
            CREATE TABLE users (username TEXT PRIMARY KEY, password TEXT NOT NULL,
                                identity_key TEXT NOT NULL, created REAL NOT NULL);
            CREATE TABLE rooms (name TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL);
            INSERT INTO rooms VALUES ('lobby', 'alice', 0);
            PRAGMA user_version=1;
            """
        )
    tracker = await tracker_factory(data_dir=data_dir)
    alice = await user(tracker, "alice")
    rooms = (await alice.request("LIST_ROOMS"))["rooms"]
    assert [(r["room"], r["owner"], r["invite_only"]) for r in rooms] == [("lobby", "alice", False)]
    assert (await alice.request("BAN", room="lobby", user="mallory"))["status"] == "OK"


async def test_a_shared_data_directory_is_warned_about_once(tracker_factory, tmp_path, caplog):
    """The database and the certificate both live there: one warning, not two."""
    data_dir = tmp_path / "shared"
    data_dir.mkdir()
    os.chmod(data_dir, 0o755)
    with caplog.at_level("WARNING", logger="tracker.data_dir"):
        await tracker_factory(data_dir=data_dir)
    warnings = [r for r in caplog.records if r.name == "tracker.data_dir"]
    assert len(warnings) == 1
    assert "chmod 700" in warnings[0].getMessage()
    assert mode(data_dir) == 0o755  # left as the operator made it
