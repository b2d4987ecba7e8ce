"""A bounded table of ``(value, stamp)`` per key that counts what happened to it. Sans-I/O.

Every throttle and rate limit of the tracker is one of these tables: a failure count
and the time of the last failure, a bucket's tokens and the time they were counted, a
decaying count and when it was last decayed. Three properties matter against an attacker:

* **bounded**: at most ``max_entries`` keys (least recently touched evicted first), so
  a spray of fresh names or addresses costs a fixed amount of memory and disk;
* **persistable**: :meth:`KeyedRecords.take_changes` hands over exactly the keys that
  changed since the previous call, so :mod:`tracker.storage.throttle_store` can write them in
  one transaction now and then, and a restart does not wipe an attacker's backoff;
* **additive across trackers**: a change is kept as *what happened* (a
  :class:`Pending`: so many events, or the record forgotten), not only as the value it
  led to, so trackers sharing a database can each apply their own events to the shared
  row (:meth:`RecordRule.apply`, the one place a table's arithmetic lives) and the
  group's count is the sum of theirs, not the largest of them.

Stamps are wall-clock seconds (``time.time()``, or the database's clock for a record
adopted from a shared row) so that they still mean something after a restart.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

DEFAULT_MAX_ENTRIES = 100_000


@dataclass(slots=True)
class Record:
    value: float
    stamp: float


class RecordRule(Protocol):
    """How ``events`` events at ``now`` change a record (``None``: no record yet).

    ``apply(None, 0, now)`` is the record of a key nothing happened to (a reset).
    """

    def apply(self, record: Record | None, events: int, now: float) -> Record: ...


class Tally:
    """A count of events and the time of the last one (failure counts)."""

    def apply(self, record: Record | None, events: int, now: float) -> Record:
        return Record((0.0 if record is None else record.value) + events, now)


@dataclass(frozen=True, slots=True)
class Pending:
    """What happened to a key since the last save.

    ``forget``: the record was dropped first (``inf``: reset, the shared row goes too;
    a stamp: expired or evicted, the shared row goes only if it is no newer than that).
    ``events``: events counted after that.
    """

    forget: float | None = None
    events: int = 0

    def then(self, later: Pending) -> Pending:
        """This followed by ``later``: a forget cancels the events before it."""
        if later.forget is None:
            return Pending(self.forget, self.events + later.events)
        forget = later.forget if self.forget is None else max(self.forget, later.forget)
        return Pending(forget, later.events)


#: A key, its record now (``None``: gone) and what happened to it since the last save.
Change = tuple[str, Record | None, Pending]

RESET = Pending(math.inf)


def shared_row(row: Record | None, pending: Pending, rule: RecordRule, now: float) -> Record | None:
    """A shared row after one tracker's ``pending`` (``None``: there should be no row).

    Returns ``row`` itself when nothing changes. A reset writes the record of a key
    nothing happened to (not a deletion), so the other trackers read it and forget
    their copies too.
    """
    if pending.forget is not None and row is not None and row.stamp <= pending.forget:
        row = None
    if pending.forget == math.inf:
        return rule.apply(None, pending.events, now)
    if pending.events == 0:
        return row
    return rule.apply(row, pending.events, now)


class KeyedRecords:
    """``kind`` names the table in the store; keys are opaque strings.

    ``rule`` is the table's arithmetic (its owner sets it: :class:`Tally` by default).
    Changes are only noted once :meth:`track_changes` was called (by the store that
    takes them): a table nobody saves must not remember every key it ever saw.
    """

    __slots__ = ("_max_entries", "_pending", "_records", "_tracking", "kind", "rule")

    def __init__(self, kind: str, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.kind = kind
        self._max_entries = max_entries
        self._records: OrderedDict[str, Record] = OrderedDict()
        self._pending: dict[str, Pending] = {}
        self._tracking = False
        self.rule: RecordRule = Tally()

    def track_changes(self) -> None:
        """Note changes from now on, for :meth:`take_changes`."""
        self._tracking = True

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def add(self, key: str, now: float, events: int = 1) -> Record:
        """Count ``events`` for ``key`` at ``now`` by the table's rule; return the record."""
        record = self.rule.apply(self._records.get(key), events, now)
        self._note(key, Pending(None, events))
        self._store(key, record)
        return record

    def reset(self, key: str) -> None:
        """Forget ``key`` here and, at the next save, in every tracker sharing the store."""
        self._records.pop(key, None)
        self._note(key, RESET)

    def expire(self, key: str) -> None:
        """Forget a stale ``key`` (the shared row too, unless another tracker touched it since)."""
        record = self._records.pop(key, None)
        if record is not None:
            self._note(key, Pending(record.stamp))

    def adopt(self, key: str, record: Record) -> None:
        """Take the shared row for ``key``: it holds every saved event of the group.

        Events counted here since the last save are not in it yet and are applied on
        top; a key forgotten here since then keeps waiting for the next save.
        Not a change of ours (it is not written back).
        """
        pending = self._pending.get(key)
        if pending is not None:
            if pending.forget is not None:
                return
            mine = self._records.get(key)
            now = record.stamp if mine is None else max(record.stamp, mine.stamp)
            record = self.rule.apply(record, pending.events, now)
        self._store(key, record)

    def load(self, rows: Iterable[tuple[str, float, float]]) -> None:
        """Fill from the store (oldest stamp first); loading is not a change."""
        for key, value, stamp in sorted(rows, key=lambda row: row[2]):
            self._records[key] = Record(value, stamp)
            self._records.move_to_end(key)
        while len(self._records) > self._max_entries:
            self._records.popitem(last=False)

    def take_changes(self) -> list[Change]:
        """Keys changed since the last call: their record now, and what happened."""
        pending, self._pending = self._pending, {}
        changes: list[Change] = []
        for key in sorted(pending):
            record = self._records.get(key)
            copy = None if record is None else Record(record.value, record.stamp)
            changes.append((key, copy, pending[key]))
        return changes

    def restore(self, changes: Iterable[Change]) -> None:
        """Put back changes taken by a save that failed, before those made since."""
        for key, _, pending in changes:
            later = self._pending.get(key)
            self._pending[key] = pending if later is None else pending.then(later)

    def _note(self, key: str, what: Pending) -> None:
        if not self._tracking:
            return
        earlier = self._pending.get(key)
        self._pending[key] = what if earlier is None else earlier.then(what)

    def _store(self, key: str, record: Record) -> None:
        self._records[key] = record
        self._records.move_to_end(key)
        while len(self._records) > self._max_entries:
            evicted, old = self._records.popitem(last=False)
            self._note(evicted, Pending(old.stamp))

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: object) -> bool:
        return key in self._records
