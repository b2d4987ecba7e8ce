"""Token buckets: "at most N at once, then R per second". Sans-I/O.

:class:`TokenBucket` is one bucket held by its owner (a session's room changes).
:class:`KeyedTokenBuckets` is one bucket per key (registrations per source), kept in a
bounded, persistable :class:`~tracker.keyed_records.KeyedRecords` table. A bucket starts
full, every request takes one token, and tokens come back at ``per_second`` up to
``capacity``. Asking when the next token comes never takes one.
"""

from __future__ import annotations

from tracker.keyed_records import KeyedRecords, Record


def _refill(tokens: float, since: float, now: float, capacity: float, per_second: float) -> float:
    elapsed = max(0.0, now - since)
    return min(capacity, tokens + elapsed * per_second)


def _wait(tokens: float, per_second: float) -> float:
    return 0.0 if tokens >= 1.0 else (1.0 - tokens) / per_second


class TokenBucket:
    """One bucket; ``take(now)`` returns 0 when a token was taken, else the wait."""

    __slots__ = ("_capacity", "_per_second", "_stamp", "_tokens")

    def __init__(self, capacity: float, per_second: float, now: float) -> None:
        if capacity < 1 or per_second <= 0:
            raise ValueError("a bucket needs capacity >= 1 and a positive rate")
        self._capacity = capacity
        self._per_second = per_second
        self._tokens = capacity
        self._stamp = now

    def take(self, now: float) -> float:
        tokens = _refill(self._tokens, self._stamp, now, self._capacity, self._per_second)
        self._stamp = max(self._stamp, now)
        if tokens < 1.0:
            self._tokens = tokens
            return _wait(tokens, self._per_second)
        self._tokens = tokens - 1.0
        return 0.0


class KeyedTokenBuckets:
    """One bucket per key; full buckets are forgotten (they hold nothing worth keeping)."""

    __slots__ = ("_capacity", "_per_second", "records")

    def __init__(self, records: KeyedRecords, capacity: float, per_second: float) -> None:
        if capacity < 1 or per_second <= 0:
            raise ValueError("a bucket needs capacity >= 1 and a positive rate")
        self.records = records
        records.higher_is_stricter = False
        self._capacity = capacity
        self._per_second = per_second

    def _tokens(self, key: str, now: float) -> float:
        record = self.records.get(key)
        if record is None:
            return self._capacity
        return _refill(record.value, record.stamp, now, self._capacity, self._per_second)

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token (0: it has one now). Takes nothing."""
        return _wait(self._tokens(key, now), self._per_second)

    def take(self, key: str, now: float) -> float:
        """Take a token for ``key`` and return 0, or return the wait and take nothing."""
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            return _wait(tokens, self._per_second)
        self.records.put(key, Record(tokens - 1.0, now))
        return 0.0
