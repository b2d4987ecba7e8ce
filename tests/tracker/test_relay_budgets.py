"""The relay's budgets above a session, as rules of the sans-I/O core: per source, per
user, in all, and the shared per-source bucket of a group of trackers.

Plain function calls on :class:`TrackerState` with the clock passed in; the group's
exchange is simulated with the very arithmetic the PostgreSQL store applies
(:func:`tracker.limits.keyed_records.shared_row`, then
:meth:`~tracker.limits.keyed_records.KeyedRecords.adopt`). The real-network versions of
these attacks are ``abuse/test_relay_budgets.py`` and ``group/test_group_relay_budgets.py``.
"""

from __future__ import annotations

import base64
import itertools

import pytest

from commons.relay_frames import RelayFrame, parse_relay, relay_request
from commons.tracker_protocol import Command, Request
from tracker.limits.keyed_records import KeyedRecords, Record, shared_row
from tracker.limits.rate_limit import KeyedTokenBuckets
from tracker.state.relay_budget import BudgetScope, RelayLimits, RelayRate
from tracker.state.tracker_state import StateLimits, TrackerState

KEY = base64.b64encode(b"k" * 32).decode()
BODY = b"\x01" * 10_000
#: A session may relay plenty; the scope under test is the tight one.
WIDE = RelayRate(10_000_000.0, 10_000_000.0, 10_000.0, 10_000.0)
#: 50,000 bytes at once (one body must fit), then 10,000 per second.
TIGHT = RelayRate(10_000.0, 50_000.0, 1_000.0, 1_000.0)


class Users:
    """A state with receivers ``r0``..``r9`` (trusted) and senders logged in on demand."""

    def __init__(self, **limits: object) -> None:
        relay = RelayLimits(**limits)  # type: ignore[arg-type]
        self.state = TrackerState(10, 1.0, 65536, limits=StateLimits(relay=relay))
        self._sessions = itertools.count(1)
        for n in range(10):
            self.login(f"r{n}", "127.0.0.1", trusted=True)

    def login(self, name: str, source: str, trusted: bool = False, now: float = 0.0) -> int:
        session = next(self._sessions)
        request = Request(
            1, Command.LOGIN, username=name, password="0" * 64, identity_key=KEY, port=4000
        )
        self.state.login(session, request, source, now, source=source, trusted=trusted)
        return session


def frame(to: str, body: bytes = BODY) -> RelayFrame:
    return parse_relay(relay_request(to, 1, False, body))


def spend(state: TrackerState, senders: list[int], now: float, limit: int = 1000) -> int:
    """Bodies ``senders`` get forwarded at ``now`` taking turns, until each is held."""
    forwarded = 0
    held: set[int] = set()
    for n in range(limit):
        session = senders[n % len(senders)]
        if session in held:
            if len(held) == len(senders):
                break
            continue
        outcome = state.relay(session, frame(f"r{n % 10}"), now)
        if outcome.forward is None:
            assert outcome.wait > 0  # shaped, never refused
            held.add(session)
        else:
            forwarded += 1
    return forwarded


def session_limits(rate: RelayRate) -> dict[str, float]:
    return {
        "bytes_per_second": rate.bytes_per_second,
        "burst_bytes": rate.burst_bytes,
        "frames_per_second": rate.frames_per_second,
        "burst_frames": rate.burst_frames,
    }


def test_many_sessions_from_one_source_share_one_budget() -> None:
    """Eight accounts on one address together get one source's burst and rate; a session
    from another address is not slowed by them."""
    users = Users(**session_limits(WIDE), per_source=TIGHT)
    crowd = [users.login(f"sybil{n}", "192.0.2.7") for n in range(8)]
    assert spend(users.state, crowd, now=0.0) == 5  # 50,000 bytes: five bodies in all
    held = users.state.relay(crowd[0], frame("r0"), now=0.0)
    assert held.forward is None and held.wait == pytest.approx(1.0)  # 10,000 B at 10,000 B/s
    assert users.state.relay_stats.shaped_by[BudgetScope.SOURCE] >= 8
    # One second later, one more body for the whole crowd, whoever asks.
    assert spend(users.state, crowd, now=1.0) == 1
    honest = users.login("honest", "198.51.100.9")
    assert spend(users.state, [honest], now=1.0) == 5


def test_a_trusted_network_is_exempt_from_the_source_budget_only() -> None:
    users = Users(**session_limits(WIDE), per_source=TIGHT, per_user=TIGHT)
    trusted = [users.login(f"ops{n}", "10.0.0.1", trusted=True) for n in range(4)]
    assert spend(users.state, trusted, now=0.0) == 20  # each user's own five, no source cap
    assert users.state.relay_stats.shaped_by.get(BudgetScope.SOURCE, 0) == 0
    assert users.state.relay_stats.shaped_by[BudgetScope.USER] >= 4


def test_logging_in_again_does_not_refill_a_users_budget() -> None:
    """A user who spent their budget and logs in anew (a new session, here or at another
    tracker) waits as before: the per-user bucket outlives the session."""
    users = Users(**session_limits(WIDE), per_user=TIGHT)
    first = users.login("mallory", "203.0.113.5")
    assert spend(users.state, [first], now=0.0) == 5
    users.state.disconnect(first)
    second = users.login("mallory", "203.0.113.5", now=0.1)
    held = users.state.relay(second, frame("r0"), now=0.1)
    assert held.forward is None and held.wait == pytest.approx(0.9)
    assert users.state.relay_stats.shaped_by[BudgetScope.USER] == 2


def test_the_tracker_in_all_caps_every_source_together() -> None:
    users = Users(**session_limits(WIDE), in_all=TIGHT)
    spread = [users.login(f"u{n}", f"192.0.2.{n}") for n in range(1, 9)]
    assert spend(users.state, spread, now=0.0) == 5
    held = users.state.relay(spread[-1], frame("r0"), now=0.0)
    assert held.wait == pytest.approx(1.0)
    assert users.state.relay_stats.shaped_by[BudgetScope.TRACKER] >= 8


def test_a_frame_held_by_one_scope_costs_the_others_nothing() -> None:
    """All scopes or none: a sender held by its source does not drain its session's or
    user's budget meanwhile, and the frame refused later is charged like any other."""
    users = Users(**session_limits(TIGHT), per_source=TIGHT)
    first, second = users.login("a", "192.0.2.1"), users.login("b", "192.0.2.1")
    assert spend(users.state, [first], now=0.0) == 5
    for _ in range(50):  # b is held by the source each time
        assert users.state.relay(second, frame("r0"), now=0.0).forward is None
    assert users.state.relay_stats.shaped_by[BudgetScope.SOURCE] == 50
    # Once the source has refilled, b's session burst is whole: nothing was taken from it.
    assert spend(users.state, [second], now=5.0) == 5
    # Frames to nobody pay too.
    assert users.state.relay(first, frame("nobody"), now=5.0).wait > 0


def test_the_defaults_bound_a_source_to_four_sessions_worth() -> None:
    limits = RelayLimits()
    assert limits.user_rate == limits.per_session
    assert limits.per_source.bytes_per_second == 4 * limits.bytes_per_second
    assert limits.in_all.bytes_per_second >= 16 * limits.per_source.bytes_per_second
    with pytest.raises(ValueError, match="source"):
        RelayLimits(per_source=RelayRate(1.0, 100.0, 1.0, 1.0)).check()


# ----------------------------------------------------------------- a group's shared bucket


def relayed_by_group(trackers: int, debt: bool, seconds: float = 30.0) -> tuple[int, float]:
    """Bytes one source relays flat out through ``trackers`` trackers that exchange
    their per-source rows every 2 s (at staggered moments, as real ones do), and the
    most it got beyond ``burst + rate * t`` at any time ``t``.

    The exchange is the store's: each tracker's pending events are applied to the
    shared row with the table's rule, then every tracker adopts the row.
    """
    rate, burst, size, interval, step = 10_000.0, 50_000.0, 1_000, 2.0, 0.01
    tables = [
        KeyedTokenBuckets(KeyedRecords("relay_source_bytes"), burst, rate, debt=debt)
        for _ in range(trackers)
    ]
    for table in tables:
        table.records.track_changes()
    rows: dict[str, Record] = {}
    next_save = [0.3 + interval * n / trackers for n in range(trackers)]
    sent, worst = 0, 0.0
    for tick in range(int(seconds / step)):
        now = tick * step
        for n, table in enumerate(tables):
            while table.take("192.0.2.7", now, size) == 0:
                sent += size
            if now >= next_save[n]:
                next_save[n] += interval
                for key, _, pending in table.records.take_changes():
                    row = shared_row(rows.get(key), pending, table.records.rule, now)
                    if row is None:
                        rows.pop(key, None)
                    else:
                        rows[key] = row
                for key, row in rows.items():
                    table.records.adopt(key, Record(row.value, row.stamp))
        worst = max(worst, sent - (burst + rate * now))
    return sent, worst


@pytest.mark.parametrize("trackers", [2, 3])
def test_a_source_spread_over_trackers_gets_its_rate_once(trackers: int) -> None:
    """With debt, what the trackers spent between two exchanges is repaid: over 30 s a
    source gets one rate, beyond it at most a burst and two intervals of the rate per
    other tracker. Without debt (a login bucket's rule), each tracker gives the full
    rate: the hole this closes."""
    allowed = 50_000 + 10_000 * 30
    sent, worst = relayed_by_group(trackers, debt=True)
    assert sent <= allowed + (trackers - 1) * (50_000 + 2 * 2.0 * 10_000)
    assert worst <= (trackers - 1) * (50_000 + 2 * 2.0 * 10_000)
    assert sent >= 0.95 * allowed  # and it does get its rate
    forgiven, _ = relayed_by_group(trackers, debt=False)
    assert forgiven >= 0.9 * trackers * allowed
