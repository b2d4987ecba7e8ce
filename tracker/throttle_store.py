"""Throttle and rate-limit state on disk, so a restart does not forgive an attacker.

Every table is a :class:`~tracker.keyed_records.KeyedRecords` (``kind`` names it). The
tracker loads them all at start, and :meth:`ThrottleStore.save` writes the records that
changed since the previous save in one transaction: every few seconds and at shutdown,
not per failed login, so a guessing flood costs no extra disk syncs. A ``kill -9``
loses at most the last interval's changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from tracker.database import Database
from tracker.keyed_records import KeyedRecords, Record

#: Throttle changes are written at most this often (seconds).
SAVE_INTERVAL = 5.0


def _save_sync(conn: sqlite3.Connection, changes: Sequence[tuple[str, str, Record | None]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for kind, key, record in changes:
            if record is None:
                conn.execute("DELETE FROM throttle WHERE kind = ? AND key = ?", (kind, key))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO throttle (kind, key, value, stamp) VALUES (?, ?, ?, ?)",
                    (kind, key, record.value, record.stamp),
                )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class ThrottleStore:
    """Loads and saves a fixed set of tables."""

    def __init__(self, db: Database, tables: Iterable[KeyedRecords]) -> None:
        self._db = db
        self._tables = {table.kind: table for table in tables}

    async def load(self) -> None:
        """Fill every table from disk (rows of unknown kinds are ignored)."""

        def query(conn: sqlite3.Connection) -> list[tuple[str, str, float, float]]:
            return conn.execute("SELECT kind, key, value, stamp FROM throttle").fetchall()

        rows = await self._db.run(query)
        by_kind: dict[str, list[tuple[str, float, float]]] = {}
        for kind, key, value, stamp in rows:
            by_kind.setdefault(kind, []).append((key, value, stamp))
        for kind, table in self._tables.items():
            table.load(by_kind.get(kind, ()))

    async def save(self) -> int:
        """Write what changed since the last save; returns the number of rows written."""
        changes = [
            (kind, key, record)
            for kind, table in self._tables.items()
            for key, record in table.take_changes()
        ]
        if changes:
            await self._db.run(lambda conn: _save_sync(conn, changes))
        return len(changes)
