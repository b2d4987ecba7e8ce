"""Write deadlines: a remote that stops reading is found out, a slow one is not waited on."""

from __future__ import annotations

from peer.channels.write_watch import WriteState, WriteWatch

HIGH = 64 * 1024


def test_a_buffer_under_the_mark_is_not_watched() -> None:
    watch = WriteWatch(timeout=10.0, high=HIGH)
    assert watch.wrote(HIGH, 0, 0.0) is WriteState.OK
    assert watch.check_at is None


def test_a_remote_that_reads_nothing_is_stalled_at_the_deadline() -> None:
    watch = WriteWatch(timeout=10.0, high=HIGH)
    assert watch.wrote(HIGH + 1, 5_000, 1.0) is WriteState.WATCH
    assert watch.check_at == 11.0
    assert watch.wrote(HIGH * 3, 5_000, 2.0) is WriteState.OK  # already armed
    assert watch.check(HIGH * 3, 5_000 + HIGH - 1, 11.0) is WriteState.STALLED


def test_a_slow_reader_that_keeps_up_a_little_is_watched_again() -> None:
    watch = WriteWatch(timeout=10.0, high=HIGH)
    watch.wrote(HIGH * 4, 0, 0.0)
    assert watch.check(HIGH * 3, HIGH, 10.0) is WriteState.WATCH  # 64 KiB left in 10 s
    assert watch.check_at == 20.0
    assert watch.check(HIGH * 3, HIGH + 10, 20.0) is WriteState.STALLED  # then next to none
    drained = WriteWatch(timeout=10.0, high=HIGH)
    drained.wrote(HIGH * 4, 0, 0.0)
    assert drained.check(HIGH, 10, 10.0) is WriteState.OK and drained.check_at is None


def test_more_than_the_limit_waiting_stalls_at_once() -> None:
    watch = WriteWatch(timeout=10.0, high=HIGH, limit=HIGH * 10)
    assert watch.wrote(HIGH * 10 + 1, 0, 0.0) is WriteState.STALLED


def test_a_slow_channel_is_not_waited_for_until_it_drains() -> None:
    watch = WriteWatch(timeout=10.0, high=HIGH)
    assert watch.worth_waiting(HIGH + 1)
    watch.slow = True  # a sender waited the whole deadline for it once
    assert not watch.worth_waiting(HIGH * 2)
    assert not watch.worth_waiting(HIGH)  # drained: no need, and no longer slow
    assert watch.worth_waiting(HIGH + 1)
