"""Token buckets: "at most N at once, then R per second". Sans-I/O.

:class:`TokenBucket` (:mod:`commons.token_bucket`) is one bucket held by its owner (a
session's room changes).
:class:`KeyedTokenBuckets` is one bucket per key (registrations per source), kept in a
bounded, persistable :class:`~tracker.limits.keyed_records.KeyedRecords` table. A bucket starts
full, every request takes one token (or ``amount``: the relay charges a frame's bytes), and
tokens come back at ``per_second`` up to ``capacity``. Asking when the next token comes
never takes one.

A table shared by the trackers of a group (:mod:`tracker.storage.throttle_store`) may be
made with ``debt=True``: then tokens that several trackers took in one exchange interval
are all subtracted from the shared row, below empty if that is what they add up to, and
every tracker waits until the group's bucket has refilled. Without debt, what the group
spent beyond empty would be forgiven at each exchange, and ``k`` trackers would each let
through the full rate: right for a login bucket (a token is one attempt), wrong for a
budget whose point is a rate across the group (the relay's per source).
"""

from __future__ import annotations

import math

from commons.token_bucket import TokenBucket, refill, wait_for_token
from tracker.limits.keyed_records import KeyedRecords, Record

__all__ = ["BucketRule", "KeyedTokenBuckets", "TokenBucket"]


class BucketRule:
    """The rule of a bucket table: an event takes a token from the refilled bucket.

    Locally a token is only taken from a bucket that has one. Tokens taken on several
    trackers at once empty the shared bucket and no further, unless ``debt``: then the
    shared bucket goes below empty by what the group took beyond it (see the module).
    """

    __slots__ = ("_capacity", "_floor", "_per_second")

    def __init__(self, capacity: float, per_second: float, debt: bool = False) -> None:
        self._capacity = capacity
        self._per_second = per_second
        self._floor = -math.inf if debt else 0.0

    def tokens(self, record: Record | None, now: float) -> float:
        if record is None:
            return self._capacity
        return refill(record.value, record.stamp, now, self._capacity, self._per_second)

    def apply(self, record: Record | None, events: int, now: float) -> Record:
        return Record(max(self._floor, self.tokens(record, now) - events), now)


class KeyedTokenBuckets:
    """One bucket per key in a bounded table: a key without a record has a full bucket,
    and the least recently touched key is evicted first once the table is full.

    ``amount`` (a whole number of tokens, at most the capacity, or it would never pass)
    takes several at once; ``debt``: see :class:`BucketRule`.
    """

    __slots__ = ("_per_second", "_rule", "records")

    def __init__(
        self, records: KeyedRecords, capacity: float, per_second: float, *, debt: bool = False
    ) -> None:
        if capacity < 1 or per_second <= 0:
            raise ValueError("a bucket needs capacity >= 1 and a positive rate")
        self.records = records
        self._rule = BucketRule(capacity, per_second, debt)
        records.rule = self._rule
        self._per_second = per_second

    def _tokens(self, key: str, now: float) -> float:
        return self._rule.tokens(self.records.get(key), now)

    def wait(self, key: str, now: float, amount: int = 1) -> float:
        """Seconds until ``key`` has ``amount`` tokens (0: it has them now). Takes nothing."""
        return wait_for_token(self._tokens(key, now), self._per_second, amount)

    def take(self, key: str, now: float, amount: int = 1) -> float:
        """Take ``amount`` tokens for ``key`` and return 0, or return the wait and take
        nothing."""
        tokens = self._tokens(key, now)
        if tokens < amount:
            return wait_for_token(tokens, self._per_second, amount)
        self.records.add(key, now, amount)
        return 0.0
