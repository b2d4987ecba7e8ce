"""Wrong passwords from an attacker's addresses never lock the owner out.

The original counted failures per username: three wrong passwords from anywhere made
the owner get ``throttled`` from every address, and 12 requests an hour kept it so.
"""

from __future__ import annotations

import asyncio
import time


async def test_three_wrong_passwords_from_one_address_never_stop_the_owner(
    untrusted_tracker, connect
):
    tracker = await untrusted_tracker(throttle_base_delay=60.0)
    owner = await connect(tracker, "127.0.0.3")
    assert (await owner.register("alice"))["status"] == "OK"
    attacker = await connect(tracker, "127.0.0.2")
    attacker.identity_key = owner.identity_key
    codes = [(await attacker.login("alice", password=f"guess{i}"))["code"] for i in range(4)]
    assert codes == ["auth_failed"] * 3 + ["throttled"]
    # Guessing on: every further attempt is refused without hashing, right or wrong.
    for _ in range(10):
        assert (await attacker.login("alice", password="guess"))["code"] == "throttled"
    assert (await attacker.login("alice"))["code"] == "throttled"
    assert (await owner.login("alice"))["status"] == "OK"


async def test_many_sources_guessing_one_account_slow_down_but_never_lock_it(
    untrusted_tracker, connect
):
    delay = 0.5
    tracker = await untrusted_tracker(
        account_slowdown_failures=20, account_failure_delay=delay, throttle_account_failures=3
    )
    owner = await connect(tracker, "127.0.0.200")
    assert (await owner.register("alice"))["status"] == "OK"

    async def guesser(index: int) -> list[str]:
        client = await connect(tracker, f"127.0.0.{10 + index}")
        client.identity_key = owner.identity_key
        return [(await client.login("alice", password="nope"))["code"] for _ in range(3)]

    results = await asyncio.gather(*(guesser(i) for i in range(10)))
    assert all(codes == ["auth_failed"] * 3 for codes in results)  # 30 failures in all
    # Past the account's threshold a failure is answered only after the delay ...
    late = await connect(tracker, "127.0.0.99")
    late.identity_key = owner.identity_key
    started = time.monotonic()
    assert (await late.login("alice", password="nope"))["code"] == "auth_failed"
    assert time.monotonic() - started >= delay
    # ... while the owner, from yet another address, gets in.
    assert (await owner.login("alice"))["status"] == "OK"


async def test_throttle_survives_a_restart(untrusted_tracker, connect, tmp_path):
    data_dir = tmp_path / "restart"
    first = await untrusted_tracker(data_dir=data_dir, throttle_base_delay=120.0)
    owner = await connect(first, "127.0.0.3")
    assert (await owner.register("alice"))["status"] == "OK"
    attacker = await connect(first, "127.0.0.2")
    attacker.identity_key = owner.identity_key
    for _ in range(3):
        assert (await attacker.login("alice", password="guess"))["code"] == "auth_failed"
    await first.stop()

    second = await untrusted_tracker(data_dir=data_dir, throttle_base_delay=120.0)
    again = await connect(second, "127.0.0.2")
    again.identity_key = owner.identity_key
    reply = await again.login("alice", password="guess")
    assert reply["code"] == "throttled"
    assert reply["retry_after"] > 60
    owner_again = await connect(second, "127.0.0.3")
    owner_again.identity_key = owner.identity_key
    assert (await owner_again.login("alice"))["status"] == "OK"
