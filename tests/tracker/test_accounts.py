"""Login throttling and the hashing pool's busy limit, against a real tracker."""

from __future__ import annotations

import asyncio


async def test_failed_logins_are_throttled_per_source_and_account(tracker_factory, connect):
    tracker = await tracker_factory(throttle_account_failures=2, throttle_base_delay=30.0)
    owner = await connect(tracker)
    await owner.register("alice")
    attacker = await connect(tracker, "127.0.0.2")
    attacker.identity_key = owner.identity_key
    codes = [(await attacker.login("alice", password=f"guess{i}"))["code"] for i in range(3)]
    assert codes == ["auth_failed", "auth_failed", "throttled"]
    # Even the right password is refused from that source while the backoff lasts.
    refused = await attacker.login("alice")
    assert refused["code"] == "throttled"
    assert 0 < refused["retry_after"] <= 30.0
    # Another account from the same source is not affected ...
    other = await connect(tracker, "127.0.0.2")
    await other.register("bob")
    assert (await other.login("bob"))["status"] == "OK"
    # ... nor alice from another source.
    assert (await owner.login("alice"))["status"] == "OK"


async def test_failed_logins_are_throttled_per_address(tracker_factory, connect):
    tracker = await tracker_factory(throttle_address_failures=3, throttle_base_delay=30.0)
    client = await connect(tracker)
    await client.register("real")
    codes = [(await client.login(f"user{i}"))["code"] for i in range(4)]
    assert codes == ["auth_failed", "auth_failed", "auth_failed", "throttled"]
    assert (await client.login("real"))["code"] == "throttled"


async def test_saturated_hashing_pool_answers_busy(tracker_factory, connect):
    tracker = await tracker_factory(hash_workers=1, hash_wait_timeout=0.05)
    clients = [await connect(tracker) for _ in range(8)]
    replies = await asyncio.gather(
        *(client.register(f"user{i}") for i, client in enumerate(clients))
    )
    codes = [r.get("code", r["status"]) for r in replies]
    assert "OK" in codes
    assert "busy" in codes
    assert set(codes) <= {"OK", "busy"}
