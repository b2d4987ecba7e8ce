"""Connection admission per source (sans-I/O; the flood itself is in tests/abuse)."""

from __future__ import annotations

from tracker.limits.source import TrustedNetworks
from tracker.network.admission import (
    MAX_REJECTING,
    MAX_REJECTING_PER_SOURCE,
    SourceAdmission,
    Verdict,
)


def admission(**changes: int) -> SourceAdmission:
    settings = {
        "max_connections": 100,
        "max_unauthenticated": 50,
        "max_unauthenticated_per_source": 3,
        "max_sessions_per_source": 2,
        "burst_per_source": 1000,
        "per_source_per_second": 1000.0,
    }
    settings.update(changes)
    return SourceAdmission(trusted=TrustedNetworks(["10.9.0.0/16"]), **settings)  # type: ignore[arg-type]


def test_one_source_over_its_cap_does_not_block_another():
    a = admission()
    tickets = [a.arrive("10.0.0.1", now=0.0) for _ in range(10)]
    verdicts = [t.verdict for t in tickets]
    assert verdicts[:3] == [Verdict.ADMIT] * 3
    assert verdicts[3 : 3 + MAX_REJECTING_PER_SOURCE] == [Verdict.REJECT] * MAX_REJECTING_PER_SOURCE
    assert set(verdicts[3 + MAX_REJECTING_PER_SOURCE :]) == {Verdict.DROP}
    assert a.arrive("10.0.0.2", now=0.0).verdict is Verdict.ADMIT
    assert a.refused["too many connections from your address are logging in"] == 7


def test_ipv6_addresses_of_one_64_share_a_cap():
    a = admission()
    for i in range(3):
        assert a.arrive(f"2001:db8::{i + 1}", now=0.0).verdict is Verdict.ADMIT
    assert a.arrive("2001:db8::ffff", now=0.0).verdict is not Verdict.ADMIT
    assert a.arrive("2001:db8:0:1::1", now=0.0).verdict is Verdict.ADMIT


def test_slots_come_back_when_connections_end():
    a = admission()
    tickets = [a.arrive("10.0.0.1", now=0.0) for _ in range(3)]
    assert a.arrive("10.0.0.1", now=0.0).verdict is Verdict.REJECT
    a.gone(tickets[0], was_session=False)
    assert a.arrive("10.0.0.1", now=0.0).verdict is Verdict.ADMIT
    assert a.usage("10.0.0.1") == (3, 0)


def test_sessions_per_source_unless_replacing_or_trusted():
    a = admission()
    for _ in range(2):
        ticket = a.arrive("10.0.0.1", now=0.0)
        assert a.may_log_in(ticket)
        a.logged_in(ticket)
    third = a.arrive("10.0.0.1", now=0.0)
    assert not a.may_log_in(third)
    assert a.may_log_in(third, replacing_same_source=True)
    trusted = [a.arrive("10.9.1.1", now=0.0) for _ in range(10)]
    assert {t.verdict for t in trusted} == {Verdict.ADMIT}
    for ticket in trusted:
        assert a.may_log_in(ticket)
        a.logged_in(ticket)
    assert a.usage("10.9.1.1") == (0, 10)


def test_global_caps_hold_for_trusted_sources_too():
    a = admission(max_connections=4)
    verdicts = [a.arrive("10.9.1.1", now=0.0).verdict for _ in range(4 + MAX_REJECTING + 3)]
    assert verdicts.count(Verdict.ADMIT) == 4
    assert verdicts.count(Verdict.REJECT) == MAX_REJECTING
    assert verdicts.count(Verdict.DROP) == 3


def test_connection_rate_per_source():
    a = admission(burst_per_source=5, per_source_per_second=1.0, max_unauthenticated_per_source=50)
    verdicts = [a.arrive("10.0.0.1", now=0.0).verdict for _ in range(7)]
    assert verdicts.count(Verdict.ADMIT) == 5
    assert a.arrive("10.0.0.1", now=1.0).verdict is Verdict.ADMIT
    assert a.arrive("10.0.0.3", now=0.0).verdict is Verdict.ADMIT


def crowd_admission() -> SourceAdmission:
    """A pool of 8: 2 kept for sources with history, 6 open; 1 s of grace."""
    return SourceAdmission(
        max_connections=100,
        max_unauthenticated=8,
        max_unauthenticated_per_source=3,
        max_sessions_per_source=5,
        burst_per_source=1000,
        per_source_per_second=1000.0,
        reserved_share=0.25,
        grace=1.0,
    )


def test_a_crowd_without_history_cannot_take_the_reserved_share():
    a = crowd_admission()
    regular = a.arrive("10.1.0.1", now=0.0)
    a.logged_in(regular, now=0.0)  # 10.1.0.1 now has history
    crowd = [a.arrive(f"10.0.0.{i}", now=100.0) for i in range(1, 20)]
    assert [t.verdict for t in crowd].count(Verdict.ADMIT) == 6
    assert a.has_place(history=True, now=100.0)
    back = a.arrive("10.1.0.1", now=100.0)
    assert back.verdict is Verdict.ADMIT and back.reserved and back.evict is None


def test_the_oldest_idle_connection_goes_first_and_only_after_the_grace():
    a = crowd_admission()
    held = [a.arrive(f"10.0.0.{i}", now=10 + i / 10) for i in range(1, 7)]
    a.request_seen(held[0])  # the oldest is logging in: the oldest idle goes first
    assert a.arrive("10.2.0.1", now=10.8).verdict is not Verdict.ADMIT  # none old enough
    newcomer = a.arrive("10.2.0.2", now=11.25)
    assert newcomer.verdict is Verdict.ADMIT and newcomer.evict == held[1].key
    assert a.refused["evicted"] == 1
    a.gone(held[1], was_session=False)  # the shell closed it: nothing given back twice
    assert a.unauthenticated == 6 and a.usage("10.0.0.2") == (0, 0)


def test_a_source_makes_room_only_now_and_then():
    a = crowd_admission()
    for i in range(1, 7):
        a.arrive(f"10.0.0.{i}", now=0.0)
    first = a.arrive("10.3.0.1", now=5.0)
    assert first.evict is not None
    again = a.arrive("10.3.0.1", now=5.0)
    assert again.verdict is not Verdict.ADMIT  # one eviction per 10 graces
    assert a.arrive("10.3.0.1", now=16.0).evict is not None
