"""Backoff arithmetic of the login throttle (no clock, no sockets)."""

from __future__ import annotations

from tracker.throttle import Backoff, LoginThrottle


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


def test_success_clears_username_but_not_address():
    throttle = LoginThrottle(user_failures=1, address_failures=1, base_delay=5.0, max_delay=10.0)
    throttle.failure("alice", "10.0.0.1", 0.0)
    throttle.success("alice")
    assert throttle.by_user.retry_after("alice", 0.0) == 0.0
    assert throttle.retry_after("alice", "10.0.0.1", 0.0) == 5.0
    assert throttle.retry_after("alice", "10.0.0.2", 0.0) == 0.0
