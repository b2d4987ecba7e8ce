"""The rules that make throttle counts add up across trackers (no clock, no sockets).

A tracker sharing its tables keeps, per changed key, what happened since its last save
(:class:`Pending`); the shared row is the table's rule applied to those events
(:func:`shared_row`), and the tracker then adopts the row in place of its copy.
"""

from __future__ import annotations

import math

import pytest

from tracker.limits.keyed_records import KeyedRecords, Pending, Record, Tally, shared_row
from tracker.limits.rate_limit import BucketRule, KeyedTokenBuckets
from tracker.limits.throttle import Backoff, Decay, DecayingCount


def tracked(*backoffs: Backoff) -> None:
    for backoff in backoffs:
        backoff.records.track_changes()


def test_each_rule_counts_events_one_at_a_time_or_together():
    rules = [Tally(), Decay(half_life=10.0), BucketRule(capacity=5, per_second=0.5)]
    for rule in rules:
        one_by_one = rule.apply(rule.apply(rule.apply(None, 1, 0.0), 1, 4.0), 1, 4.0)
        together = rule.apply(rule.apply(None, 1, 0.0), 2, 4.0)
        assert together == pytest.approx(one_by_one), rule


def test_rule_values():
    assert Tally().apply(Record(2, 0.0), 3, 7.0) == Record(5, 7.0)
    assert Decay(10.0).apply(Record(4, 0.0), 1, 10.0) == Record(3.0, 10.0)
    bucket = BucketRule(capacity=3, per_second=1.0)
    assert bucket.apply(Record(0, 0.0), 1, 2.0) == Record(1.0, 2.0)
    # Tokens taken on several trackers at once empty the bucket, no further.
    assert bucket.apply(Record(1, 0.0), 5, 0.0) == Record(0.0, 0.0)
    assert bucket.apply(None, 0, 9.0) == Record(3, 9.0)


def test_shared_row_adds_a_trackers_events_to_the_others():
    rule = Tally()
    row = Record(4, 10.0)
    assert shared_row(row, Pending(None, 3), rule, 12.0) == Record(7, 12.0)
    assert shared_row(None, Pending(None, 3), rule, 12.0) == Record(3, 12.0)
    assert shared_row(row, Pending(None, 0), rule, 12.0) is row


def test_shared_row_reset_is_written_so_the_others_read_it():
    rule = Tally()
    assert shared_row(Record(9, 10.0), Pending(math.inf), rule, 12.0) == Record(0, 12.0)
    assert shared_row(Record(9, 10.0), Pending(math.inf, 2), rule, 12.0) == Record(2, 12.0)


def test_shared_row_expiry_spares_a_row_another_tracker_touched_since():
    rule = Tally()
    assert shared_row(Record(9, 10.0), Pending(10.0), rule, 500.0) is None
    fresher = Record(9, 11.0)
    assert shared_row(fresher, Pending(10.0), rule, 500.0) is fresher
    assert shared_row(Record(9, 10.0), Pending(10.0, 1), rule, 500.0) == Record(1, 500.0)


def test_pending_forget_cancels_the_events_before_it():
    assert Pending(None, 2).then(Pending(None, 3)) == Pending(None, 5)
    assert Pending(None, 2).then(Pending(math.inf)) == Pending(math.inf, 0)
    assert Pending(math.inf, 1).then(Pending(None, 1)) == Pending(math.inf, 2)
    assert Pending(math.inf).then(Pending(5.0, 1)) == Pending(math.inf, 1)


def test_a_save_counts_each_event_once():
    """Two trackers' tables over one shared row: the sum, however often they exchange."""
    shared: dict[str, Record] = {}
    a, b = Backoff(3, 1.0, 60.0), Backoff(3, 1.0, 60.0)
    tracked(a, b)

    def save(table: KeyedRecords, now: float) -> None:
        for key, _, pending in table.take_changes():
            new = shared_row(shared.get(key), pending, table.rule, now)
            if new is None:
                shared.pop(key, None)
            else:
                shared[key] = new
        for key, row in shared.items():
            table.adopt(key, Record(row.value, row.stamp))

    a.failure("src", 0.0)
    a.failure("src", 0.0)
    b.failure("src", 0.0)
    for _ in range(3):
        save(a.records, 1.0)
        save(b.records, 1.0)
    assert a.records.get("src") == b.records.get("src") == Record(3, 1.0)
    # Events counted while a save is on its way are applied on top of the adopted row.
    taken = a.records.take_changes()
    assert taken == []
    a.failure("src", 2.0)
    a.records.adopt("src", Record(3, 1.0))
    assert a.records.get("src") == Record(4, 2.0)
    save(a.records, 2.0)
    save(b.records, 2.0)
    assert shared["src"].value == 4 and b.records.get("src") == Record(4, 2.0)


def test_a_reset_waits_for_its_save_and_then_reaches_the_others():
    a, b = Backoff(1, 1.0, 60.0), Backoff(1, 1.0, 60.0)
    tracked(a, b)
    b.records.adopt("pair", Record(2, 0.0))
    a.records.adopt("pair", Record(2, 0.0))
    a.reset("pair")
    a.records.adopt("pair", Record(2, 0.0))  # a row read before the reset was saved
    assert a.records.get("pair") is None
    (key, _, pending), *_ = a.records.take_changes()
    row = shared_row(Record(2, 0.0), pending, a.records.rule, 1.0)
    assert row == Record(0, 1.0)
    b.records.adopt(key, row)
    assert b.retry_after("pair", 1.0) == 0.0


def test_a_failed_save_is_put_back_before_later_changes():
    records = KeyedRecords("t")
    records.track_changes()
    records.add("k", 0.0)
    taken = records.take_changes()
    records.add("k", 1.0)
    records.restore(taken)
    assert [(key, pending) for key, _, pending in records.take_changes()] == [
        ("k", Pending(None, 2))
    ]


def test_the_local_rules_are_the_shared_ones():
    count = DecayingCount(10.0, KeyedRecords("acct"))
    assert count.add("x", 0.0) == 1.0
    assert count.add("x", 10.0) == 1.5
    buckets = KeyedTokenBuckets(KeyedRecords("reg"), capacity=2, per_second=1 / 3600)
    assert buckets.take("s", 0.0) == 0.0
    assert buckets.records.get("s") == Record(1.0, 0.0)
    assert isinstance(buckets.records.rule, BucketRule)


def test_evictions_stay_bounded_and_forget_only_what_they_saw():
    records = KeyedRecords("t", max_entries=2)
    records.track_changes()
    for i in range(5):
        records.add(f"k{i}", float(i))
    assert len(records) == 2
    changes = {key: pending for key, _, pending in records.take_changes()}
    assert changes["k0"] == Pending(0.0, 0) and changes["k4"] == Pending(None, 1)
    for i in range(5, 10):
        records.adopt(f"k{i}", Record(1, float(i)))
    assert len(records) == 2
