"""Peers on separate machines, in network namespaces built for the test: a routed LAN
where they dial each other, and homes behind NATs that nobody can dial into.

Everything runs in namespaces of its own (:mod:`tests.e2e.netns`), the tracker
included, on private addresses; nothing leaves them. Without root, ``ip`` or ``nft``
the tests are skipped, with the reason on one line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e import netns
from tests.e2e.batch_process import BatchProcess
from tests.tracker_process import read_banner, start_tracker_process, stop_tracker_process

#: An unanswered dial goes to the relay after 1.5 s, then one relayed handshake.
FALLBACK_WITHIN = 3.0


@pytest.fixture(scope="module")
def internet() -> Iterator[netns.Topology]:
    reason = netns.unavailable()
    if reason is not None:
        pytest.skip(f"network namespaces: {reason}")
    topology = netns.Topology()
    try:
        topology.build()
        yield topology
    finally:
        topology.delete()


@pytest.fixture
async def tracker_address(
    internet: netns.Topology, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """A tracker process in the ``core`` namespace: (``HOST:PORT``, fingerprint)."""
    proc = await start_tracker_process(
        tmp_path / "tracker", "--host", "0.0.0.0", prefix=internet.prefix("core")
    )
    try:
        port, fingerprint = await read_banner(proc)
        yield f"{netns.TRACKER_ADDRESS}:{port}", fingerprint
    finally:
        await stop_tracker_process(proc)


class Machines:
    def __init__(self, internet: netns.Topology, tracker: tuple[str, str], home: Path) -> None:
        self.internet, self.tracker, self.home = internet, tracker, home
        self.procs: list[BatchProcess] = []

    async def peer(self, role: str, name: str, *extra: str) -> BatchProcess:
        """``name`` logged in from ``role``'s machine, with no option but the tracker."""
        address, fingerprint = self.tracker
        options = ["--tracker", address, "--tracker-fingerprint", fingerprint, *extra]
        proc = await BatchProcess.spawn(
            self.home / name, options, prefix=self.internet.prefix(role)
        )
        self.procs.append(proc)
        return await proc.log_in(name)


@pytest.fixture
async def machines(
    internet: netns.Topology, tracker_address: tuple[str, str], tmp_path: Path
) -> AsyncIterator[Machines]:
    made = Machines(internet, tracker_address, tmp_path)
    yield made
    for proc in made.procs:
        await proc.stop()


async def _room_chat(first: BatchProcess, second: BatchProcess, a: str, b: str) -> str:
    """``first`` creates the room, ``second`` joins; both talk; the path ``a`` sees."""
    first.send("/create lobby")
    await first.expect("room_created", room="lobby")
    second.send("/join lobby")
    joined = await second.expect("joined", room="lobby")
    opened = await second.expect("channel_opened", user=a)
    assert opened["_read_at"] - joined["_read_at"] < FALLBACK_WITHIN
    assert (await first.expect("channel_opened", user=b))["path"] == opened["path"]
    second.send(f"hello {a}")
    first.send(f"hello {b}")
    await first.expect("message", text=f"hello {a}")
    await second.expect("message", text=f"hello {b}")
    for proc in (first, second):
        sent = await proc.expect("sent", room="lobby")
        await proc.expect("delivered", msg_id=sent["msg_id"])
    return str(opened["path"])


async def test_two_machines_of_a_lan_chat_directly_with_no_flags(machines: Machines) -> None:
    """The tracker is not on loopback: each peer listens on every interface and the
    tracker publishes the address it sees, to the room-mates only."""
    bob = await machines.peer("lan2", "bob")
    alice = await machines.peer("lan1", "alice")
    assert str(alice.ready["listen"]).startswith("0.0.0.0:")
    assert await _room_chat(bob, alice, "bob", "alice") == "direct"


async def test_peers_behind_nats_chat_through_the_relay(machines: Machines) -> None:
    """alice dials bob's public address; his NAT drops it; the relay carries the chat."""
    bob = await machines.peer("homeb", "bob")
    alice = await machines.peer("homea", "alice")
    assert await _room_chat(bob, alice, "bob", "alice") == "relay"
    alice.send("/msg bob privately, still relayed")
    await bob.expect("message", text="privately, still relayed")


async def test_a_peer_behind_a_nat_still_dials_out_directly(machines: Machines) -> None:
    """ann is behind a NAT, bob on the LAN: ann's name sorts first, so she dials, and an
    outbound connection passes her NAT."""
    bob = await machines.peer("lan2", "bob")
    ann = await machines.peer("homea", "ann")
    assert await _room_chat(bob, ann, "bob", "ann") == "direct"
