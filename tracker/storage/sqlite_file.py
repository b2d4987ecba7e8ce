"""The tracker's SQLite file: schema, durability settings, and a one-thread executor.

WAL with ``synchronous=FULL`` makes every commit reach the disk before it returns, so an
acknowledged REGISTER survives ``kill -9`` and power loss. One connection is used from
one dedicated thread: writes (and their fsync) never run on the event loop and never
race each other. A database that exists but cannot be opened, or fails SQLite's
``quick_check``, raises :class:`DatabaseOpenError` (the command prints it and exits 1),
never a reason to start from an empty user base.

The file holds password hashes, so the data directory is created 0700 and the database
files 0600 whatever the umask (SQLite gives its ``-wal`` and ``-shm`` files the mode
of the database file). Older schemas are upgraded in place: 1 (users, rooms) to 2 (room
access lists, registration invites, throttle state) to 3 (per-account login salts,
resumption tickets, group settings) to 4 (rooms' last activity and newcomer flag, the
operator's room removals) to 5 (durable room members, ``room_members``; an older database
starts with its rooms as they were and no members, owners not added) to 6 (the mailbox's
token hashes and deposits, issue 22).

:meth:`Database.run_batched` is group commit: calls that arrive while a transaction is
being written share the next one (one fsync for many), which is what lets a tracker
take a reconnect storm of thousands of ticket logins a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from tracker.data_dir import make_private_directory
from tracker.storage.sqlite_mailbox import SCHEMA as MAILBOX_SCHEMA

DB_FILE_NAME = "tracker.sqlite3"
SCHEMA_VERSION = 6
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
    created      REAL NOT NULL,
    salt         BLOB,
    login_kdf    TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS users_username_nocase ON users (username COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS rooms (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    created     REAL NOT NULL,
    invite_only INTEGER NOT NULL DEFAULT 0,
    newcomer    INTEGER NOT NULL DEFAULT 0,
    last_active REAL
);
CREATE TABLE IF NOT EXISTS room_removals (
    name      TEXT PRIMARY KEY,
    requested REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS room_bans (
    room     TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    username TEXT NOT NULL COLLATE NOCASE,
    created  REAL NOT NULL,
    PRIMARY KEY (room, username)
);
CREATE TABLE IF NOT EXISTS room_members (
    seq        INTEGER PRIMARY KEY,
    room       TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    username   TEXT NOT NULL COLLATE NOCASE,
    relay_only INTEGER NOT NULL DEFAULT 0,
    UNIQUE (room, username)
);
CREATE INDEX IF NOT EXISTS room_members_by_user ON room_members (username);
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
CREATE TABLE IF NOT EXISTS tickets (
    hash         TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    expires      REAL NOT NULL,
    used         REAL
);
CREATE INDEX IF NOT EXISTS tickets_by_user ON tickets (username);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _add_missing_columns(conn: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    if not present:
        return  # a new database: the schema below creates the table whole
    for name, definition in columns.items():
        if name not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")


def _upgrade(conn: sqlite3.Connection) -> None:
    """Schema 1 had rooms without ``invite_only``; schema 2 users without login salts;
    schema 3 rooms without ``newcomer`` and ``last_active``; schema 4 no
    ``room_members`` (made by ``_SCHEMA``, empty: no one was a durable member then).

    Every other table of a later schema is new and made by ``_SCHEMA``.
    """
    _add_missing_columns(
        conn,
        "rooms",
        {
            "invite_only": "INTEGER NOT NULL DEFAULT 0",
            "newcomer": "INTEGER NOT NULL DEFAULT 0",
            "last_active": "REAL",
        },
    )
    _add_missing_columns(conn, "users", {"salt": "BLOB", "login_kdf": "TEXT"})


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


def _run_batch(
    conn: sqlite3.Connection, funcs: list[Callable[[sqlite3.Connection], Any]]
) -> list[tuple[bool, Any]]:
    """Each of ``funcs`` in its own savepoint, all in one transaction."""
    results: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for func in funcs:
            conn.execute("SAVEPOINT batched")
            try:
                results.append((True, func(conn)))
            except Exception as exc:
                conn.execute("ROLLBACK TO batched")
                results.append((False, exc))
            conn.execute("RELEASE batched")
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (SQLITE_BUSY, a full disk) may leave the transaction open, and
        # every later BEGIN IMMEDIATE would fail: end it, whatever SQLite did.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    return results


class Database:
    """Owns the connection; :meth:`run` executes a function with it on the DB thread."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / DB_FILE_NAME
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self._batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._draining = False

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
            if 0 < version < SCHEMA_VERSION:
                _upgrade(conn)
            conn.executescript(_SCHEMA + MAILBOX_SCHEMA)
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

    async def run_batched(self, func: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``func`` inside a transaction shared with the calls queued meanwhile.

        ``func`` must not begin or end transactions itself; it runs in a savepoint, so
        its failure undoes only its own writes. Returns once the shared commit is durable.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._batch.append((func, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return cast(T, await future)

    async def _drain(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                run_all = functools.partial(_run_batch, funcs=[f for f, _ in batch])
                try:
                    results = await self.run(run_all)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), (ok, value) in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(cast(BaseException, value))
        finally:
            self._draining = False

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
