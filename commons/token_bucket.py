"""Token buckets: "at most N at once, then R per second". Sans-I/O.

A bucket starts full, every request takes one token, and tokens come back at
``per_second`` up to ``capacity``. Asking when the next token comes never takes one.
The tracker keeps one per session or per source (:mod:`tracker.limits.rate_limit`); the peer
one per address it dials and one for the directory lookups strangers can trigger.
"""

from __future__ import annotations


def refill(tokens: float, since: float, now: float, capacity: float, per_second: float) -> float:
    """The tokens a bucket holding ``tokens`` at ``since`` holds at ``now``."""
    elapsed = max(0.0, now - since)
    return min(capacity, tokens + elapsed * per_second)


def wait_for_token(tokens: float, per_second: float, amount: float = 1.0) -> float:
    """Seconds until a bucket holding ``tokens`` has ``amount`` (0: it has them now)."""
    return 0.0 if tokens >= amount else (amount - tokens) / per_second


class TokenBucket:
    """One bucket; ``take(now)`` returns 0 when a token was taken, else the wait.

    ``amount`` takes several tokens at once (the relay's byte budget takes a frame's
    size); it must not exceed the capacity, or it would never pass.
    """

    __slots__ = ("_capacity", "_per_second", "_stamp", "_tokens")

    def __init__(self, capacity: float, per_second: float, now: float) -> None:
        if capacity < 1 or per_second <= 0:
            raise ValueError("a bucket needs capacity >= 1 and a positive rate")
        self._capacity = capacity
        self._per_second = per_second
        self._tokens = capacity
        self._stamp = now

    def _refilled(self, now: float) -> float:
        self._tokens = refill(self._tokens, self._stamp, now, self._capacity, self._per_second)
        self._stamp = max(self._stamp, now)
        return self._tokens

    def wait(self, now: float, amount: float = 1.0) -> float:
        """Seconds until ``amount`` tokens are there (0: now). Takes nothing."""
        return wait_for_token(self._refilled(now), self._per_second, amount)

    def take(self, now: float, amount: float = 1.0) -> float:
        """Take ``amount`` tokens and return 0, or return the wait and take nothing."""
        tokens = self._refilled(now)
        if tokens < amount:
            return wait_for_token(tokens, self._per_second, amount)
        self._tokens = tokens - amount
        return 0.0

    def full(self, now: float) -> bool:
        """Whether the bucket is back to its capacity (it then holds nothing to remember)."""
        tokens = refill(self._tokens, self._stamp, now, self._capacity, self._per_second)
        return tokens >= self._capacity
