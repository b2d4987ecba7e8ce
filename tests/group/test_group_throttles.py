"""Throttles add up across the trackers of a group: one guesser, one count.

Each tracker applies its own failures (and tokens taken) to the shared rows, and adopts
the rows back (tracker/storage/throttle_store.py), so attempts spread over two trackers count
as on one, and none counts twice. Most tests here make the trackers exchange on cue
(the periodic exchange is pushed out of the way) so that "within one interval" is
certain; the last one lets the trackers' own 2 s exchange do it.
"""

from __future__ import annotations

import asyncio
import time

import pytest

import tracker.server.server
from tracker.limits.keyed_records import Pending, Tally
from tracker.server.server import TrackerServer
from tracker.storage.base import ThrottleChange
from tracker.storage.postgres import PgStorage

GUESSER = "127.0.0.2"


@pytest.fixture
def on_cue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trackers started after this exchange throttles only when :func:`exchange` says."""
    monkeypatch.setattr(tracker.server.server, "GROUP_SAVE_INTERVAL", 3600.0)


async def exchange(*trackers: TrackerServer) -> None:
    """Every tracker saves twice round, so each has read what all the others wrote."""
    for _ in range(2):
        for server in trackers:
            assert server._throttles is not None
            await server._throttles.save()


def source_failures(server: TrackerServer) -> float:
    record = server.accounts._throttle.by_source.records.get(GUESSER)
    return 0.0 if record is None else record.value


async def test_failures_spread_over_two_trackers_add_up(
    on_cue, tracker_factory, pg_database, connect
):
    """On one tracker the 4th attempt is throttled (tracker/test_accounts.py::
    test_failed_logins_are_throttled_per_address); spread over two, too."""
    limits = {"throttle_address_failures": 3, "throttle_base_delay": 30.0}
    a = await tracker_factory(database=pg_database, **limits)
    b = await tracker_factory(database=pg_database, **limits)
    on_a = await connect(a, GUESSER)
    on_b = await connect(b, GUESSER)
    replies = [
        await on_a.login("user0"),
        await on_b.login("user1"),
        await on_a.login("user2"),
    ]
    assert [r["code"] for r in replies] == ["auth_failed"] * 3
    await exchange(a, b)
    assert source_failures(a) == source_failures(b) == 3
    assert (await on_b.login("user3"))["code"] == "throttled"
    assert (await on_a.login("user4"))["code"] == "throttled"


async def test_failures_on_one_tracker_count_once_however_often_they_exchange(
    on_cue, tracker_factory, pg_database, connect
):
    limits = {"throttle_address_failures": 4, "throttle_base_delay": 30.0}
    a = await tracker_factory(database=pg_database, **limits)
    b = await tracker_factory(database=pg_database, **limits)
    on_a = await connect(a, GUESSER)
    on_b = await connect(b, GUESSER)
    assert [(await on_a.login(f"user{i}"))["code"] for i in range(2)] == ["auth_failed"] * 2
    for _ in range(3):
        await exchange(a, b)
    assert source_failures(a) == source_failures(b) == 2
    assert [(await on_b.login(f"user{i}"))["code"] for i in range(2, 4)] == ["auth_failed"] * 2
    await exchange(b, a)
    assert source_failures(a) == source_failures(b) == 4
    assert (await on_a.login("user4"))["code"] == "throttled"


async def test_registrations_spread_over_two_trackers_meet_the_per_source_limit(
    on_cue, tracker_factory, pg_database, connect
):
    """On one tracker: abuse/test_registration_flood.py::
    test_registration_from_one_source_stops_at_the_limit."""
    limits = {
        "trusted_networks": (),
        "registrations_per_source_per_hour": 3,
        "registrations_per_hour": 100,
    }
    a = await tracker_factory(database=pg_database, **limits)
    b = await tracker_factory(database=pg_database, **limits)
    on_a = await connect(a, "127.0.0.3")
    on_b = await connect(b, "127.0.0.3")
    replies = [
        await on_a.register("bot0"),
        await on_b.register("bot1"),
        await on_a.register("bot2"),
    ]
    assert [r["status"] for r in replies] == ["OK"] * 3
    await exchange(a, b)
    assert (await on_a.register("bot3"))["code"] == "rate_limited"
    assert (await on_b.register("bot4"))["code"] == "rate_limited"
    # Another address is not affected.
    assert (await (await connect(b, "127.0.0.4")).register("honest"))["status"] == "OK"


async def test_a_success_resets_the_pair_on_every_tracker(
    on_cue, tracker_factory, pg_database, connect
):
    limits = {"throttle_account_failures": 3, "throttle_base_delay": 30.0}
    a = await tracker_factory(database=pg_database, **limits)
    b = await tracker_factory(database=pg_database, **limits)
    owner = await connect(a)
    assert (await owner.register("alice"))["status"] == "OK"
    on_a = await connect(a, GUESSER)
    on_b = await connect(b, GUESSER)
    on_a.identity_key = on_b.identity_key = owner.identity_key
    assert (await on_a.login("alice", password="guess0"))["code"] == "auth_failed"
    assert (await on_b.login("alice", password="guess1"))["code"] == "auth_failed"
    await exchange(a, b)
    assert (await on_b.login("alice"))["status"] == "OK"
    await exchange(b, a)
    # Tracker A forgot the two failures: three more before the pair is throttled.
    retry = await connect(a, GUESSER)
    retry.identity_key = owner.identity_key
    codes = [(await retry.login("alice", password=f"guess{i}"))["code"] for i in range(2, 6)]
    assert codes == ["auth_failed"] * 3 + ["throttled"]


async def test_failures_spread_over_two_trackers_add_up_within_the_exchange_interval(
    tracker_factory, pg_database, connect
):
    limits = {"throttle_address_failures": 3, "throttle_base_delay": 30.0}
    a = await tracker_factory(database=pg_database, **limits)
    b = await tracker_factory(database=pg_database, **limits)
    on_a = await connect(a, GUESSER)
    on_b = await connect(b, GUESSER)
    codes = [
        (await on_a.login("user0"))["code"],
        (await on_a.login("user1"))["code"],
        (await on_b.login("user2"))["code"],
    ]
    assert codes == ["auth_failed"] * 3
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10  # the trackers exchange throttles every 2 s
    while min(source_failures(a), source_failures(b)) < 3:
        assert loop.time() < deadline, (source_failures(a), source_failures(b))
        await asyncio.sleep(0.1)
    assert source_failures(a) == source_failures(b) == 3
    assert a.accounts._throttle.retry_after("anyone", GUESSER, time.time()) > 0
    assert (await on_b.login("user3"))["code"] == "throttled"


async def test_saves_racing_on_one_row_lose_no_event(pg_database):
    """Two trackers' saves at the same moment, over and over: every event is in the row."""
    stores = [PgStorage(pg_database), PgStorage(pg_database)]
    for store in stores:
        await store.open()
    try:
        one_failure = ThrottleChange("login_source", GUESSER, None, Pending(None, 1), Tally())
        for _ in range(25):
            await asyncio.gather(*(store.save_throttles([one_failure], 0.0) for store in stores))
        rows = await stores[0].load_throttles()
        assert [(kind, key, value) for kind, key, value, _ in rows] == [
            ("login_source", GUESSER, 50.0)
        ]
    finally:
        for store in stores:
            await store.close()


async def test_a_save_of_a_spray_of_keys_goes_through(pg_database):
    """A guesser spraying fresh sources makes one save carry thousands of keys; the save
    must not run out of PostgreSQL's locks (they are shared out, one per row would)."""
    store = PgStorage(pg_database)
    await store.open()
    try:
        changes = [
            ThrottleChange(
                "login_source", f"10.{i // 256}.{i % 256}.1", None, Pending(None, 1), Tally()
            )
            for i in range(100_000)
        ]
        await store.save_throttles(changes, 0.0)
        assert len(await store.load_throttles()) == 100_000
    finally:
        await store.close()
