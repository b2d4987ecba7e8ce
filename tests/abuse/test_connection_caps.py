"""Idle connections and sessions from one source do not lock out another source.

The original's only cap was global: 300 idle sockets from one address made everyone
else get ``too_many_connections``.
"""

from __future__ import annotations

from tests.peers import wait_until
from tests.tracker_client import TrackerTestClient


async def test_idle_tls_connections_from_one_source_are_capped(untrusted_tracker, connect):
    tracker = await untrusted_tracker(
        max_unauthenticated_per_source=4, max_connections=50, max_unauthenticated=20
    )
    idle = [await connect(tracker, "127.0.0.2") for _ in range(4)]
    refused = await connect(tracker, "127.0.0.2")
    reply = await refused.reply()
    assert reply["code"] == "too_many_connections"
    assert "your address" in reply["msg"]
    await refused.wait_closed()
    assert tracker.counters["rejected"] == 1
    honest = await connect(tracker, "127.0.0.3")
    assert (await honest.register("alice"))["status"] == "OK"
    assert (await honest.login("alice"))["status"] == "OK"
    # A slot comes back when an idle connection goes.
    await idle[0].close()
    await wait_until(lambda: tracker.admission.usage("127.0.0.2") == (3, 0))
    again = await connect(tracker, "127.0.0.2")
    assert (await again.request("PING"))["code"] == "not_authenticated"


async def test_sessions_per_source_are_capped(untrusted_tracker, user, connect):
    tracker = await untrusted_tracker(max_sessions_per_source=3)
    sessions = [await user(tracker, f"bot{i}", source="127.0.0.2") for i in range(3)]
    extra = await connect(tracker, "127.0.0.2")
    assert (await extra.register("bot3"))["status"] == "OK"
    assert (await extra.login("bot3"))["code"] == "too_many_connections"
    # Logging in again as one of the three replaces that session: allowed.
    replacing = await connect(tracker, "127.0.0.2")
    replacing.identity_key = sessions[0].identity_key
    assert (await replacing.login("bot0"))["status"] == "OK"
    await sessions[0].wait_closed()
    assert (await user(tracker, "honest", source="127.0.0.3")).username == "honest"


async def test_connection_rate_per_source(untrusted_tracker):
    source = "127.0.0.2"
    tracker = await untrusted_tracker(
        connection_burst_per_source=3, connections_per_source_per_second=0.01
    )
    clients = []
    try:
        for _ in range(3):
            clients.append(
                await TrackerTestClient.connect(
                    "127.0.0.1", tracker.port, tracker.cert_path, source
                )
            )
        late = await TrackerTestClient.connect("127.0.0.1", tracker.port, tracker.cert_path, source)
        clients.append(late)
        assert (await late.reply())["code"] == "too_many_connections"
        other = await TrackerTestClient.connect(
            "127.0.0.1", tracker.port, tracker.cert_path, "127.0.0.3"
        )
        clients.append(other)
        assert (await other.request("PING"))["code"] == "not_authenticated"
    finally:
        for client in clients:
            await client.close()
