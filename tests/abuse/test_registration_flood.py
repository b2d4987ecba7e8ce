"""Registration is rate-limited per source and in all, and can be by invite or closed.

The original registered 98 accounts/s from one address, and answered ``user_exists``
faster than a hash, which told an attacker which names exist.
"""

from __future__ import annotations

import asyncio

from tests.tracker_process import run_admin


async def register_all(connect, tracker, source: str, names: list[str]) -> list[str]:
    client = await connect(tracker, source)
    return [(await client.register(name)).get("code", "OK") for name in names]


async def test_registration_from_one_source_stops_at_the_limit(untrusted_tracker, connect):
    tracker = await untrusted_tracker(
        registrations_per_source_per_hour=5, registrations_per_hour=100
    )
    codes = await register_all(connect, tracker, "127.0.0.2", [f"bot{i}" for i in range(8)])
    assert codes == ["OK"] * 5 + ["rate_limited"] * 3
    client = await connect(tracker, "127.0.0.2")
    refused = await client.register("bot99")
    assert 600 <= refused["retry_after"] <= 3600 / 5
    # Another address is not affected.
    assert await register_all(connect, tracker, "127.0.0.3", ["honest"]) == ["OK"]


async def test_registration_in_all_is_limited_across_sources(untrusted_tracker, connect):
    tracker = await untrusted_tracker(registrations_per_source_per_hour=3, registrations_per_hour=7)
    codes: list[str] = []
    for source in range(2, 6):
        codes += await register_all(
            connect, tracker, f"127.0.0.{source}", [f"u{source}x{i}" for i in range(3)]
        )
    assert codes.count("OK") == 7
    assert codes[7:] == ["rate_limited"] * 5


async def test_trusted_network_registers_beyond_the_limits(untrusted_tracker, connect):
    tracker = await untrusted_tracker(
        trusted_networks=("127.0.0.0/30",),
        registrations_per_source_per_hour=1,
        registrations_per_hour=1,
    )
    names = [f"bench{i}" for i in range(12)]
    assert await register_all(connect, tracker, "127.0.0.2", names) == ["OK"] * 12
    assert await register_all(connect, tracker, "127.0.0.9", ["x", "y"]) == ["OK", "rate_limited"]


async def test_taken_name_costs_a_hash_like_a_new_one(untrusted_tracker, connect):
    """Observable without a clock: a taken name competes for the hashing pool too.

    With one hashing thread and a 50 ms wait, concurrent REGISTERs of a name that exists
    get ``busy``, as new names do; a tracker that answered ``user_exists`` before hashing
    would answer them all at once.
    """
    tracker = await untrusted_tracker(
        trusted_networks=("127.0.0.1/32",), hash_workers=1, hash_wait_timeout=0.05
    )
    owner = await connect(tracker)
    assert (await owner.register("alice"))["status"] == "OK"
    clients = [await connect(tracker) for _ in range(8)]
    replies = await asyncio.gather(*(client.register("alice") for client in clients))
    codes = [reply["code"] for reply in replies]
    assert "busy" in codes
    assert set(codes) == {"user_exists", "busy"}


async def make_invites(data_dir, count: int) -> list[str]:
    status, out, err = await run_admin(data_dir, "new", "--count", str(count))
    assert status == 0, err
    return out.split()


async def test_invite_mode_takes_single_use_codes_from_the_admin_command(
    untrusted_tracker, connect, tmp_path
):
    data_dir = tmp_path / "invite"
    tracker = await untrusted_tracker(data_dir=data_dir, registration="invite")
    client = await connect(tracker, "127.0.0.2")
    assert (await client.register("alice"))["code"] == "invite_required"
    bogus = await client.request(
        "REGISTER",
        username="alice",
        password="0" * 64,
        identity_key=client.identity_key,
        invite="A" * 20,
    )
    assert bogus["code"] == "invite_invalid"

    first, second = await make_invites(data_dir, 2)  # while the tracker runs

    async def register(name: str, code: str) -> str:
        reply = await client.request(
            "REGISTER",
            username=name,
            password="0" * 64,
            identity_key=client.identity_key,
            invite=code,
        )
        return str(reply.get("code", reply["status"]))

    assert await register("alice", first) == "OK"
    assert await register("bob", first) == "invite_invalid"  # single use
    assert await register("alice", second) == "user_exists"  # a taken name spends nothing
    assert await register("bob", second) == "OK"
    # The database holds only hashes of the codes.
    db = (data_dir / "tracker.sqlite3").read_bytes()
    assert first.encode() not in db and second.encode() not in db


async def test_closed_registration(untrusted_tracker, connect):
    tracker = await untrusted_tracker(registration="closed")
    client = await connect(tracker, "127.0.0.2")
    assert (await client.register("alice"))["code"] == "registration_closed"


async def test_registration_limit_survives_a_restart(untrusted_tracker, connect, tmp_path):
    data_dir = tmp_path / "restart"
    limits = {"registrations_per_source_per_hour": 2, "data_dir": data_dir}
    first = await untrusted_tracker(**limits)
    assert await register_all(connect, first, "127.0.0.2", ["a1", "a2"]) == ["OK", "OK"]
    await first.stop()
    second = await untrusted_tracker(**limits)
    assert await register_all(connect, second, "127.0.0.2", ["a3"]) == ["rate_limited"]
    assert await register_all(connect, second, "127.0.0.3", ["b1"]) == ["OK"]


async def test_made_up_invite_codes_cost_only_their_sources(untrusted_tracker, connect, tmp_path):
    """Issue 20: 61 sources x 10 made-up codes spent the tracker-wide registration
    bucket (600 an hour) and an argon2 hash each, and 3 of 3 real invitees then got
    ``rate_limited``. Scaled down with the same rule: the shared bucket holds 6 an
    hour, each source 2; 8 sources send 3 made-up codes each (24 attempts, four times
    the shared bucket), then 3 real invitees from other addresses register."""
    data_dir = tmp_path / "invite-flood"
    tracker = await untrusted_tracker(
        data_dir=data_dir,
        registration="invite",
        registrations_per_source_per_hour=2,
        registrations_per_hour=6,
    )
    real_codes = await make_invites(data_dir, 3)

    async def register(client, name: str, code: str) -> str:
        reply = await client.request(
            "REGISTER",
            username=name,
            password="0" * 64,
            identity_key=client.identity_key,
            invite=code,
        )
        return str(reply.get("code", reply["status"]))

    for source in range(10, 18):
        attacker = await connect(tracker, f"127.0.0.{source}")
        answers = [
            await register(attacker, f"bot{source}x{i}", f"madeup{source:02d}{i:012d}")
            for i in range(3)
        ]
        # The caller's own bucket pays: two wrong codes, then its source is limited.
        assert answers == ["invite_invalid", "invite_invalid", "rate_limited"]
    for number, code in enumerate(real_codes):
        invitee = await connect(tracker, f"127.0.0.{20 + number}")
        assert await register(invitee, f"invitee{number}", code) == "OK"
