"""Failed-login throttling keyed on where the guesses come from. Sans-I/O.

The original counted failures per username, so three wrong passwords from anywhere
locked the owner out from everywhere. Here nothing an attacker does from their own
addresses can refuse the owner's login from another one:

* **per source** (an IPv4 address or an IPv6 /64, :mod:`tracker.limits.source`): after
  ``source_failures`` failures, that source waits ``base_delay * 2**extra`` seconds
  (capped at ``max_delay``) between attempts, for any account;
* **per source and account**: the same backoff after only ``pair_failures`` failures,
  so one address cannot keep guessing one account, while the account stays open to
  every other address;
* **per account**, at a much higher threshold (``account_slowdown``, a count that halves
  every ``account_half_life`` seconds): each further *failed* login for that account is
  answered only after ``account_failure_delay`` seconds. A correct password is never
  delayed and never refused by this rule, so it is a slowdown for a distributed
  guesser (who also holds a connection slot while waiting) and never a lock-out.

A success clears the (source, account) record but not the source's (one good password
must not launder an address that is guessing others) nor the account's count.
All three tables are :class:`~tracker.limits.keyed_records.KeyedRecords`: bounded, and saved
by :mod:`tracker.storage.throttle_store` so a restart does not reset them.
"""

from __future__ import annotations

from tracker.limits.keyed_records import DEFAULT_MAX_ENTRIES, KeyedRecords, Record, Tally


class Backoff:
    """Failure counts and backoff deadlines for one kind of key."""

    __slots__ = ("_base", "_free", "_max", "records")

    def __init__(
        self,
        free_failures: int,
        base_delay: float,
        max_delay: float,
        records: KeyedRecords | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self._free = free_failures
        self._base = base_delay
        self._max = max_delay
        self.records = records if records is not None else KeyedRecords("backoff", max_entries)
        self.records.rule = Tally()

    def _delay(self, failures: float) -> float:
        extra = failures - self._free
        if extra < 0:
            return 0.0
        return float(min(self._max, self._base * 2.0 ** min(extra, 32)))

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        record = self.records.get(key)
        if record is None:
            return 0.0
        wait = record.stamp + self._delay(record.value) - now
        if wait <= 0 and now - record.stamp > self._max:
            self.records.expire(key)
        return min(self._max, max(0.0, wait))

    def failure(self, key: str, now: float) -> None:
        self.records.add(key, now)

    def reset(self, key: str) -> None:
        self.records.reset(key)

    def __len__(self) -> int:
        return len(self.records)


class Decay:
    """The rule of a count that halves every ``half_life`` seconds."""

    __slots__ = ("_half_life",)

    def __init__(self, half_life: float) -> None:
        self._half_life = half_life

    def value(self, record: Record | None, now: float) -> float:
        if record is None:
            return 0.0
        elapsed = max(0.0, now - record.stamp)
        return float(record.value * 0.5 ** (elapsed / self._half_life))

    def apply(self, record: Record | None, events: int, now: float) -> Record:
        return Record(self.value(record, now) + events, now)


class DecayingCount:
    """A count per key that halves every ``half_life`` seconds."""

    __slots__ = ("_decay", "records")

    def __init__(self, half_life: float, records: KeyedRecords) -> None:
        self._decay = Decay(half_life)
        self.records = records
        records.rule = self._decay

    def value(self, key: str, now: float) -> float:
        return self._decay.value(self.records.get(key), now)

    def add(self, key: str, now: float) -> float:
        return self.records.add(key, now).value


def pair_key(source: str, username: str) -> str:
    """The (source, account) key; usernames are unique ignoring case."""
    return f"{source} {username.lower()}"


class LoginThrottle:
    """The three rules above; ``source`` is a :func:`tracker.limits.source.source_key`."""

    __slots__ = ("_account_delay", "_account_slowdown", "by_account", "by_pair", "by_source")

    def __init__(
        self,
        *,
        source_failures: int,
        pair_failures: int,
        base_delay: float,
        max_delay: float,
        account_slowdown: int,
        account_failure_delay: float,
        account_half_life: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.by_source = Backoff(
            source_failures, base_delay, max_delay, KeyedRecords("login_source", max_entries)
        )
        self.by_pair = Backoff(
            pair_failures, base_delay, max_delay, KeyedRecords("login_pair", max_entries)
        )
        self.by_account = DecayingCount(
            account_half_life, KeyedRecords("login_account", max_entries)
        )
        self._account_slowdown = account_slowdown
        self._account_delay = account_failure_delay

    @property
    def tables(self) -> tuple[KeyedRecords, ...]:
        return (self.by_source.records, self.by_pair.records, self.by_account.records)

    def retry_after(self, username: str, source: str, now: float) -> float:
        """Seconds before this source may try this account (0: go ahead)."""
        by_pair = self.by_pair.retry_after(pair_key(source, username), now)
        return max(by_pair, self.by_source.retry_after(source, now))

    def failure(self, username: str, source: str, now: float) -> float:
        """Count a failure; return how long to hold back its ``auth_failed`` reply."""
        self.by_source.failure(source, now)
        self.by_pair.failure(pair_key(source, username), now)
        count = self.by_account.add(username.lower(), now)
        return self._account_delay if count > self._account_slowdown else 0.0

    def success(self, username: str, source: str) -> None:
        self.by_pair.reset(pair_key(source, username))
