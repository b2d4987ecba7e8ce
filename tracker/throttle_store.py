"""Throttle and rate-limit state in the store, so a restart does not forgive an attacker.

Every table is a :class:`~tracker.keyed_records.KeyedRecords` (``kind`` names it). The
tracker loads them all at start, and :meth:`ThrottleStore.save` writes the records that
changed since the previous save in one transaction: every few seconds and at shutdown,
not per failed login, so a guessing flood costs no extra disk syncs. A ``kill -9``
loses at most the last interval's changes.

Trackers sharing one PostgreSQL database also read back, at each save, the records the
others wrote since the last one and keep the stricter of each pair (more failures,
fewer tokens; :meth:`~tracker.keyed_records.KeyedRecords.merge`): an attacker who
moves to another tracker of the group finds their backoff there within one interval.
Counts are merged by maximum, not added, so one spreading guesses over ``k`` trackers
at once gets up to ``k`` times the attempts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from tracker.keyed_records import KeyedRecords, Record
from tracker.storage import Storage, ThrottleRow

#: Throttle changes are written at most this often (seconds).
SAVE_INTERVAL = 5.0
#: With several trackers on one database: how often they exchange throttle records.
GROUP_SAVE_INTERVAL = 2.0


class ThrottleStore:
    """Loads and saves a fixed set of tables."""

    def __init__(self, storage: Storage, tables: Iterable[KeyedRecords]) -> None:
        self._storage = storage
        self._tables = {table.kind: table for table in tables}
        self._synced = time.time()

    def _by_kind(self, rows: Iterable[ThrottleRow]) -> dict[str, list[tuple[str, float, float]]]:
        by_kind: dict[str, list[tuple[str, float, float]]] = {}
        for kind, key, value, stamp in rows:
            by_kind.setdefault(kind, []).append((key, value, stamp))
        return by_kind

    async def load(self) -> None:
        """Fill every table from the store (rows of unknown kinds are ignored)."""
        self._synced = time.time()
        by_kind = self._by_kind(await self._storage.load_throttles())
        for kind, table in self._tables.items():
            table.load(by_kind.get(kind, ()))

    async def save(self) -> int:
        """Write what changed since the last save; returns the number of rows written."""
        changes = [
            (kind, key, record)
            for kind, table in self._tables.items()
            for key, record in table.take_changes()
        ]
        since, self._synced = self._synced, time.time()
        theirs = await self._storage.save_throttles(changes, since - GROUP_SAVE_INTERVAL)
        for kind, rows in self._by_kind(theirs).items():
            table = self._tables.get(kind)
            if table is None:
                continue
            for key, value, stamp in rows:
                table.merge(key, Record(value, stamp))
        return len(changes)
