"""Arithmetic of the login throttle and the token buckets (no clock, no sockets)."""

from __future__ import annotations

import pytest

from tracker.limits.keyed_records import KeyedRecords, Record
from tracker.limits.rate_limit import KeyedTokenBuckets, TokenBucket
from tracker.limits.throttle import Backoff, LoginThrottle
from tracker.storage.throttle_store import ThrottleStore


def test_free_failures_then_doubling_backoff():
    backoff = Backoff(free_failures=2, base_delay=1.0, max_delay=8.0)
    backoff.failure("k", 0.0)
    assert backoff.retry_after("k", 0.0) == 0.0
    backoff.failure("k", 0.0)
    assert backoff.retry_after("k", 0.0) == 1.0
    backoff.failure("k", 1.0)
    assert backoff.retry_after("k", 1.0) == 2.0
    for _ in range(10):
        backoff.failure("k", 1.0)
    assert backoff.retry_after("k", 1.0) == 8.0


def test_records_expire_and_table_is_bounded():
    backoff = Backoff(free_failures=1, base_delay=1.0, max_delay=2.0, max_entries=3)
    for i in range(10):
        backoff.failure(f"k{i}", 0.0)
    assert len(backoff) == 3
    assert backoff.retry_after("k9", 100.0) == 0.0
    assert len(backoff) == 2


def throttle(**changes: float) -> LoginThrottle:
    settings: dict[str, float] = {
        "source_failures": 10,
        "pair_failures": 1,
        "base_delay": 5.0,
        "max_delay": 10.0,
        "account_slowdown": 100,
        "account_failure_delay": 2.0,
        "account_half_life": 600.0,
    }
    settings.update(changes)
    return LoginThrottle(**settings)  # type: ignore[arg-type]


def test_backoff_is_per_source_and_account_never_per_account_alone():
    t = throttle()
    t.failure("alice", "10.0.0.1", 0.0)
    assert t.retry_after("alice", "10.0.0.1", 0.0) == 5.0
    assert t.retry_after("alice", "10.0.0.2", 0.0) == 0.0
    assert t.retry_after("bob", "10.0.0.1", 0.0) == 0.0


def test_success_clears_the_pair_but_not_the_source():
    t = throttle(source_failures=1)
    t.failure("alice", "10.0.0.1", 0.0)
    t.success("alice", "10.0.0.1")
    assert t.by_pair.retry_after("alice", 0.0) == 0.0
    assert t.retry_after("alice", "10.0.0.1", 0.0) == 5.0
    assert t.retry_after("alice", "10.0.0.2", 0.0) == 0.0


def test_account_slowdown_delays_failures_only_past_the_threshold_and_decays():
    t = throttle(account_slowdown=3, account_half_life=60.0)
    holds = [t.failure("alice", f"10.0.0.{i}", 0.0) for i in range(5)]
    assert holds == [0.0, 0.0, 0.0, 2.0, 2.0]
    # The count halves every half-life: four half-lives later it is below the threshold.
    assert t.failure("alice", "10.0.0.9", 240.0) == 0.0
    # The account's count never refuses a login by itself.
    assert t.retry_after("alice", "10.0.0.200", 0.0) == 0.0


def test_token_bucket_burst_then_rate():
    bucket = TokenBucket(capacity=2, per_second=0.5, now=0.0)
    assert [bucket.take(0.0), bucket.take(0.0)] == [0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(2.0)
    assert bucket.take(2.0) == 0.0
    assert bucket.take(2.0) > 0


def test_keyed_buckets_are_independent_and_wait_takes_nothing():
    buckets = KeyedTokenBuckets(KeyedRecords("t"), capacity=1, per_second=1 / 3600)
    assert buckets.take("a", 0.0) == 0.0
    assert buckets.wait("a", 0.0) == pytest.approx(3600.0)
    assert buckets.wait("b", 0.0) == 0.0
    assert buckets.wait("b", 0.0) == 0.0
    assert buckets.take("b", 0.0) == 0.0


def test_keyed_records_report_changes_once_and_evictions_as_deletions():
    records = KeyedRecords("t", max_entries=2)
    records.track_changes()
    records.add("a", 0)
    records.add("b", 0)
    records.add("c", 0)
    changes = {key: record for key, record, _ in records.take_changes()}
    assert changes["a"] is None and changes["b"] == Record(1, 0)
    assert records.take_changes() == []
    records.load([("x", 5.0, 1.0)])
    assert records.take_changes() == []


def test_a_table_nobody_saves_remembers_no_changes():
    """Per-source buckets of connections and pages are not saved: a spray of sources
    must leave only the bounded table behind."""
    buckets = KeyedTokenBuckets(KeyedRecords("t", max_entries=4), capacity=1, per_second=1.0)
    for i in range(100):
        buckets.take(f"10.0.{i}.1", 0.0)
    assert len(buckets.records) == 4
    assert buckets.records.take_changes() == []


def test_two_tables_of_one_kind_cannot_share_a_store() -> None:
    """A second table under a kind would silently replace the first one's rows in a group
    (the login pool's history once took the login throttle's ``login_source``)."""
    tables = [KeyedRecords("login_source", 10), KeyedRecords("login_source", 10)]
    with pytest.raises(ValueError, match="login_source"):
        ThrottleStore(None, tables)  # type: ignore[arg-type]
