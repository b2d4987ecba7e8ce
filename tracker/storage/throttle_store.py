"""Throttle and rate-limit state in the store, so a restart does not forgive an attacker.

Every table is a :class:`~tracker.limits.keyed_records.KeyedRecords` (``kind`` names it). The
tracker loads them all at start, and :meth:`ThrottleStore.save` writes the records that
changed since the previous save in one transaction: every few seconds and at shutdown,
not per failed login, so a guessing flood costs no extra disk syncs. A ``kill -9``
loses at most the last interval's changes.

Trackers sharing one PostgreSQL database add their counts up. Each save hands the
store what happened to each changed key since the last one (so many failures counted,
tokens taken, or the record reset or expired), and the store applies exactly that to
the shared row with the table's own rule, holding the row's lock, at the database's
clock (:mod:`tracker.storage.pg_throttles`). The tracker then adopts the rows the group changed
lately, its own included, in place of its copies
(:meth:`~tracker.limits.keyed_records.KeyedRecords.adopt`): a row already holds this
tracker's saved events, so nothing is counted twice. A guesser who spreads failures
over ``k`` trackers is throttled after the same number in total as on one, once the
trackers have exchanged (every 2 s: ``tests/group/test_group_throttles.py``); a
success that resets a (source, account) pair resets it on every tracker. Within one
interval each tracker only knows its own events, so ``k`` trackers each let through
at most what they allow alone in that interval before the sum is seen. A save that
fails is put back and retried with the next.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from tracker.limits.keyed_records import Change, KeyedRecords, Record
from tracker.storage.base import Storage, ThrottleChange, ThrottleRow

#: Throttle changes are written at most this often (seconds).
SAVE_INTERVAL = 5.0
#: With several trackers on one database: how often they exchange throttle records.
GROUP_SAVE_INTERVAL = 2.0


class ThrottleStore:
    """Loads and saves a fixed set of tables, each under its own ``kind``."""

    def __init__(self, storage: Storage, tables: Iterable[KeyedRecords]) -> None:
        self._storage = storage
        self._tables: dict[str, KeyedRecords] = {}
        for table in tables:
            if table.kind in self._tables:
                raise ValueError(f"two throttle tables share the kind {table.kind!r}")
            self._tables[table.kind] = table
        for table in self._tables.values():
            table.track_changes()
        #: The store's clock at the last save, less a margin for transactions in flight.
        self._since = time.time() - GROUP_SAVE_INTERVAL

    def _by_kind(self, rows: Iterable[ThrottleRow]) -> dict[str, list[tuple[str, float, float]]]:
        by_kind: dict[str, list[tuple[str, float, float]]] = {}
        for kind, key, value, stamp in rows:
            by_kind.setdefault(kind, []).append((key, value, stamp))
        return by_kind

    async def load(self) -> None:
        """Fill every table from the store (rows of unknown kinds are ignored)."""
        self._since = time.time() - GROUP_SAVE_INTERVAL
        by_kind = self._by_kind(await self._storage.load_throttles())
        for kind, table in self._tables.items():
            table.load(by_kind.get(kind, ()))

    async def save(self) -> int:
        """Write what changed since the last save; returns the number of keys written."""
        taken: dict[str, list[Change]] = {
            kind: table.take_changes() for kind, table in self._tables.items()
        }
        changes = [
            ThrottleChange(kind, key, record, pending, self._tables[kind].rule)
            for kind, table_changes in taken.items()
            for key, record, pending in table_changes
        ]
        try:
            saved = await self._storage.save_throttles(changes, self._since)
        except Exception:  # not committed: try again with the next save
            for kind, table_changes in taken.items():
                self._tables[kind].restore(table_changes)
            raise
        self._since = saved.clock - GROUP_SAVE_INTERVAL
        for kind, rows in self._by_kind(saved.rows).items():
            table = self._tables.get(kind)
            if table is None:
                continue
            for key, value, stamp in rows:
                table.adopt(key, Record(value, stamp))
        return len(changes)
