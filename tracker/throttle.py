"""Backoff for failed logins, per username and per client address. Sans-I/O.

After ``free_failures`` failures on a key, further attempts on that key are refused
until ``base_delay * 2**(extra failures)`` seconds (capped at ``max_delay``) have passed
since the last failure. A success clears the username's record (not the address's: one
good password must not launder an address that is guessing others). Records expire once
their backoff is over and they are older than ``max_delay``; the table is also capped so
that a spray of random names cannot grow memory without bound.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Record:
    failures: int
    last_failure: float


class Backoff:
    """Failure counts and backoff deadlines for one kind of key."""

    def __init__(
        self, free_failures: int, base_delay: float, max_delay: float, max_entries: int = 100_000
    ) -> None:
        self._free = free_failures
        self._base = base_delay
        self._max = max_delay
        self._max_entries = max_entries
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def _delay(self, failures: int) -> float:
        extra = failures - self._free
        if extra < 0:
            return 0.0
        return float(min(self._max, self._base * 2.0 ** min(extra, 32)))

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        record = self._records.get(key)
        if record is None:
            return 0.0
        wait = record.last_failure + self._delay(record.failures) - now
        if wait <= 0 and now - record.last_failure > self._max:
            del self._records[key]
        return max(0.0, wait)

    def failure(self, key: str, now: float) -> None:
        record = self._records.pop(key, None)
        if record is None:
            record = _Record(0, now)
        record.failures += 1
        record.last_failure = now
        self._records[key] = record
        while len(self._records) > self._max_entries:
            self._records.popitem(last=False)

    def reset(self, key: str) -> None:
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)


class LoginThrottle:
    """Both backoffs a login consults: by username and by client address."""

    def __init__(
        self, user_failures: int, address_failures: int, base_delay: float, max_delay: float
    ) -> None:
        self.by_user = Backoff(user_failures, base_delay, max_delay)
        self.by_address = Backoff(address_failures, base_delay, max_delay)

    def retry_after(self, username: str, address: str, now: float) -> float:
        by_user = self.by_user.retry_after(username, now)
        return max(by_user, self.by_address.retry_after(address, now))

    def failure(self, username: str, address: str, now: float) -> None:
        self.by_user.failure(username, now)
        self.by_address.failure(address, now)

    def success(self, username: str) -> None:
        self.by_user.reset(username)
