"""1,000 fake accounts online must not hide bob: LOOKUP finds him, paging reaches him.

The original LIST_PEERS returned what fit in one frame (417 users) in login order; 450
fake logins made ``/msg bob`` fail with ``user_offline``. The fake names here sort
before ``bob``, so he is not on the first page either way.
"""

from __future__ import annotations

import asyncio

import pytest

from crypto.identity import IdentityKey
from tests.abuse.conftest import seed_users
from tests.tracker_client import TrackerTestClient

FAKES = 1000
SOURCES = 20  # 50 sessions each: under the per-source session cap, as an attacker would
PASSWORD = "fake password"


@pytest.mark.timeout(300)  # 1,000 argon2 verifications: ~30 s here, more on a loaded box
async def test_directory_still_finds_bob_after_1000_fake_logins(untrusted_tracker, tmp_path):
    data_dir = tmp_path / "tracker"
    fakes = [f"aaa{i:04d}" for i in range(FAKES)]
    keys = {name: IdentityKey.generate() for name in fakes}
    seed_users(data_dir, fakes, keys, PASSWORD)
    # Nobody heartbeats in this test: keep every session for its whole length.
    tracker = await untrusted_tracker(data_dir=data_dir, heartbeat_interval=120.0)
    clients: list[TrackerTestClient] = []

    async def connect(source: str) -> TrackerTestClient:
        client = await TrackerTestClient.connect(
            "127.0.0.1", tracker.port, tracker.cert_path, source
        )
        clients.append(client)
        return client

    try:
        bob = await connect("127.0.0.1")
        assert (await bob.register("bob"))["status"] == "OK"
        assert (await bob.login("bob", port=5005))["status"] == "OK"
        alice = await connect("127.0.0.1")
        assert (await alice.register("alice"))["status"] == "OK"
        assert (await alice.login("alice"))["status"] == "OK"

        async def attacker(index: int) -> int:
            source = f"127.0.0.{2 + index}"
            logged_in = 0
            for name in fakes[index::SOURCES]:
                client = await connect(source)
                client.identity = keys[name]
                client.identity_key = keys[name].public_b64
                reply = await client.login(name, PASSWORD)
                while reply.get("code") == "busy":  # the hashing pool is the bottleneck
                    reply = await client.login(name, PASSWORD)
                assert reply["status"] == "OK", reply
                logged_in += 1
            return logged_in

        assert sum(await asyncio.gather(*(attacker(i) for i in range(SOURCES)))) == FAKES

        found = await alice.request("LOOKUP", user="bob")
        assert found["status"] == "OK"
        assert "port" not in found["peer"]  # a directory never shows an address
        assert found["peer"]["identity_key"] == bob.identity_key

        first = await alice.request("LIST_PEERS")  # an old client's unpaged request
        assert first["total"] == FAKES + 2
        assert first["truncated"] is True and first["next"]
        assert "bob" not in {p["username"] for p in first["peers"]}

        names: list[str] = []
        cursor = None
        while True:
            page = await alice.request(
                "LIST_PEERS", **({} if cursor is None else {"cursor": cursor})
            )
            names += [p["username"] for p in page["peers"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert len(names) == len(set(names)) == FAKES + 2
        assert "bob" in names and "alice" in names
    finally:
        await asyncio.gather(*(client.close() for client in clients))


async def test_directory_pages_are_rate_limited_per_source(untrusted_tracker, user):
    """Building a page of peers costs the tracker ~2 ms: one source cannot order many."""
    tracker = await untrusted_tracker(pages_burst_per_source=5, pages_per_source_per_second=0.1)
    first, second = [await user(tracker, f"bot{i}", source="127.0.0.2") for i in range(2)]
    honest = await user(tracker, "honest", source="127.0.0.3")
    codes = []
    for _ in range(4):
        for client in (first, second):
            codes.append((await client.request("LIST_PEERS")).get("code", "OK"))
    assert codes == ["OK"] * 5 + ["rate_limited"] * 3
    assert (await first.request("LOOKUP", user="honest"))["status"] == "OK"
    assert (await honest.request("LIST_PEERS"))["status"] == "OK"
