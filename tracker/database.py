"""The tracker's SQLite file: schema, durability settings, and a one-thread executor.

WAL with ``synchronous=FULL`` makes every commit reach the disk before it returns, so an
acknowledged REGISTER survives ``kill -9`` and power loss. One connection is used from
one dedicated thread: writes (and their fsync) never run on the event loop and never
race each other. A database that exists but cannot be opened, or fails SQLite's
``quick_check``, raises :class:`DatabaseOpenError` (the command prints it and exits 1),
never a reason to start from an empty user base.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

DB_FILE_NAME = "tracker.sqlite3"
SCHEMA_VERSION = 1

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
    name    TEXT PRIMARY KEY,
    owner   TEXT NOT NULL,
    created REAL NOT NULL
);
"""


class Database:
    """Owns the connection; :meth:`run` executes a function with it on the DB thread."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE_NAME
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None

    def _open_sync(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
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
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
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
