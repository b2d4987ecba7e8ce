"""The tracker's SQLite file: schema, durability settings, and a one-thread executor.

WAL with ``synchronous=FULL`` makes every commit reach the disk before it returns, so an
acknowledged REGISTER survives ``kill -9`` and power loss. One connection is used from
one dedicated thread: writes (and their fsync) never run on the event loop and never
race each other. A database that exists but cannot be opened, or fails SQLite's
``quick_check``, raises :class:`DatabaseOpenError` (the command prints it and exits 1),
never a reason to start from an empty user base.

The file holds password hashes, so the data directory is created 0700 and the database
files 0600 whatever the umask (SQLite gives its ``-wal`` and ``-shm`` files the mode
of the database file). Schema 1 (users, rooms) is upgraded in place to schema 2 (room
access lists, registration invites, throttle state).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from tracker.data_dir import make_private_directory

DB_FILE_NAME = "tracker.sqlite3"
SCHEMA_VERSION = 2
#: How long a writer waits for another process's lock (the admin CLI, a second tool).
BUSY_TIMEOUT_MS = 5000

T = TypeVar("T")

_ADVICE = "restore it from a backup, or move it away to start with no users"


class DatabaseOpenError(Exception):
    """The database file exists but is unusable; the tracker must not start on it."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username     TEXT PRIMARY KEY,
    password     TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    created      REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_username_nocase ON users (username COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS rooms (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    created     REAL NOT NULL,
    invite_only INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS room_bans (
    room     TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    username TEXT NOT NULL COLLATE NOCASE,
    created  REAL NOT NULL,
    PRIMARY KEY (room, username)
);
CREATE TABLE IF NOT EXISTS room_invites (
    room     TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    username TEXT NOT NULL COLLATE NOCASE,
    created  REAL NOT NULL,
    PRIMARY KEY (room, username)
);
CREATE TABLE IF NOT EXISTS invites (
    code_hash TEXT PRIMARY KEY,
    created   REAL NOT NULL,
    expires   REAL,
    used_by   TEXT,
    used_at   REAL
);
CREATE TABLE IF NOT EXISTS throttle (
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value REAL NOT NULL,
    stamp REAL NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
"""


def _upgrade_from_1(conn: sqlite3.Connection) -> None:
    """Schema 1 had rooms without ``invite_only``; every other table is new."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(rooms)")}
    if columns and "invite_only" not in columns:
        conn.execute("ALTER TABLE rooms ADD COLUMN invite_only INTEGER NOT NULL DEFAULT 0")


def make_private_files(db_path: Path) -> None:
    """Create the database file 0600 if missing; make it and its WAL/SHM files 0600."""
    try:
        fd = os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = db_path.with_name(db_path.name + suffix)
        if candidate.exists() and stat.S_IMODE(candidate.stat().st_mode) != 0o600:
            os.chmod(candidate, 0o600)


class Database:
    """Owns the connection; :meth:`run` executes a function with it on the DB thread."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / DB_FILE_NAME
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None

    def _open_sync(self) -> None:
        make_private_directory(self.data_dir)
        make_private_files(self.path)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise DatabaseOpenError(f"{self.path} is damaged ({check}); {_ADVICE}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DatabaseOpenError(
                    f"{self.path} has schema {version}, newer than this tracker's"
                    f" {SCHEMA_VERSION}: run a newer tracker"
                )
            if version == 1:
                _upgrade_from_1(conn)
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            make_private_files(self.path)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise DatabaseOpenError(f"{self.path} cannot be read ({exc}); {_ADVICE}") from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _call(self, func: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return func(self._conn)

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open_sync)

    async def run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``func(connection)`` on the database thread and return its result."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, func)

    def run_blocking(self, func: Callable[[sqlite3.Connection], T]) -> T:
        """Synchronous variant for tools (the bench seeds users with it)."""
        return self._executor.submit(self._call, func).result()

    def open_blocking(self) -> None:
        self._executor.submit(self._open_sync).result()

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_sync)
        self._executor.shutdown(wait=True)

    def close_blocking(self) -> None:
        self._executor.submit(self._close_sync).result()
        self._executor.shutdown(wait=True)
