"""Token buckets: "at most N at once, then R per second". Sans-I/O.

:class:`TokenBucket` (:mod:`commons.token_bucket`) is one bucket held by its owner (a
session's room changes).
:class:`KeyedTokenBuckets` is one bucket per key (registrations per source), kept in a
bounded, persistable :class:`~tracker.limits.keyed_records.KeyedRecords` table. A bucket starts
full, every request takes one token, and tokens come back at ``per_second`` up to
``capacity``. Asking when the next token comes never takes one.
"""

from __future__ import annotations

from commons.token_bucket import TokenBucket, refill, wait_for_token
from tracker.limits.keyed_records import KeyedRecords, Record

__all__ = ["BucketRule", "KeyedTokenBuckets", "TokenBucket"]


class BucketRule:
    """The rule of a bucket table: an event takes a token from the refilled bucket.

    Never below empty: locally a token is only taken from a bucket that has one, and
    tokens taken on several trackers at once empty the shared bucket, no further.
    """

    __slots__ = ("_capacity", "_per_second")

    def __init__(self, capacity: float, per_second: float) -> None:
        self._capacity = capacity
        self._per_second = per_second

    def tokens(self, record: Record | None, now: float) -> float:
        if record is None:
            return self._capacity
        return refill(record.value, record.stamp, now, self._capacity, self._per_second)

    def apply(self, record: Record | None, events: int, now: float) -> Record:
        return Record(max(0.0, self.tokens(record, now) - events), now)


class KeyedTokenBuckets:
    """One bucket per key in a bounded table: a key without a record has a full bucket,
    and the least recently touched key is evicted first once the table is full."""

    __slots__ = ("_per_second", "_rule", "records")

    def __init__(self, records: KeyedRecords, capacity: float, per_second: float) -> None:
        if capacity < 1 or per_second <= 0:
            raise ValueError("a bucket needs capacity >= 1 and a positive rate")
        self.records = records
        self._rule = BucketRule(capacity, per_second)
        records.rule = self._rule
        self._per_second = per_second

    def _tokens(self, key: str, now: float) -> float:
        return self._rule.tokens(self.records.get(key), now)

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token (0: it has one now). Takes nothing."""
        return wait_for_token(self._tokens(key, now), self._per_second)

    def take(self, key: str, now: float) -> float:
        """Take a token for ``key`` and return 0, or return the wait and take nothing."""
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            return wait_for_token(tokens, self._per_second)
        self.records.add(key, now)
        return 0.0
