"""A bounded table of ``(value, stamp)`` per key that remembers what changed. Sans-I/O.

Every throttle and rate limit of the tracker is one of these tables: a failure count
and the time of the last failure, a bucket's tokens and the time they were counted, a
decaying count and when it was last decayed. Two properties matter against an attacker:

* **bounded**: at most ``max_entries`` keys (least recently touched evicted first), so
  a spray of fresh names or addresses costs a fixed amount of memory and disk;
* **persistable**: :meth:`KeyedRecords.take_changes` hands over exactly the keys that
  changed (or went away) since the previous call, so
  :mod:`tracker.throttle_store` can write them in one transaction now and then, and a
  restart does not wipe an attacker's backoff.

Stamps are wall-clock seconds (``time.time()``) so that they still mean something after
a restart.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_MAX_ENTRIES = 100_000


@dataclass(slots=True)
class Record:
    value: float
    stamp: float


Change = tuple[str, Record | None]


class KeyedRecords:
    """``kind`` names the table in the store; keys are opaque strings."""

    __slots__ = ("_changed", "_max_entries", "_records", "higher_is_stricter", "kind")

    def __init__(self, kind: str, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.kind = kind
        self._max_entries = max_entries
        self._records: OrderedDict[str, Record] = OrderedDict()
        self._changed: set[str] = set()
        #: Failure counts: more is stricter; a bucket's tokens: fewer is (see :meth:`merge`).
        self.higher_is_stricter = True

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def put(self, key: str, record: Record) -> None:
        """Store ``record`` for ``key`` (most recent); evict the oldest beyond the bound."""
        self._records[key] = record
        self._records.move_to_end(key)
        self._changed.add(key)
        while len(self._records) > self._max_entries:
            evicted, _ = self._records.popitem(last=False)
            self._changed.add(evicted)

    def merge(self, key: str, record: Record) -> None:
        """Fold in a record another tracker wrote: the stricter value, the later stamp.

        Not a change of ours (it is not written back).
        """
        mine = self._records.get(key)
        if mine is not None:
            pick = max if self.higher_is_stricter else min
            record = Record(pick(mine.value, record.value), max(mine.stamp, record.stamp))
        self._records[key] = record
        self._records.move_to_end(key)
        while len(self._records) > self._max_entries:
            self._records.popitem(last=False)

    def delete(self, key: str) -> None:
        if self._records.pop(key, None) is not None:
            self._changed.add(key)

    def load(self, rows: Iterable[tuple[str, float, float]]) -> None:
        """Fill from the store (oldest stamp first); loading is not a change."""
        for key, value, stamp in sorted(rows, key=lambda row: row[2]):
            self._records[key] = Record(value, stamp)
            self._records.move_to_end(key)
        while len(self._records) > self._max_entries:
            self._records.popitem(last=False)

    def take_changes(self) -> list[Change]:
        """Keys changed since the last call, with their record or ``None`` if gone."""
        changes = [(key, self._records.get(key)) for key in sorted(self._changed)]
        self._changed.clear()
        return [(key, None if r is None else Record(r.value, r.stamp)) for key, r in changes]

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: object) -> bool:
        return key in self._records
