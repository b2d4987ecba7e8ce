"""The peer's routing table of relayed links, against a recording stand-in for the
tracker session: which link a push goes to, what opens an inbound channel, what is
ignored, and what the other side is told."""

from __future__ import annotations

import asyncio

import pytest

from commons.relay_frames import RelayedBody, RelayEnded
from peer.channels.link import LinkClosedError, LinkRefusedError
from peer.channels.relay import MAX_QUEUED, RelayLinks, RelayTransport
from peer.supervisor import TaskSupervisor


class Tracker:
    """Records the RELAY frames the links write."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bool, bytes | None]] = []
        self.up = True

    def send_relay(self, to: str, link: int, back: bool, body: bytes | None) -> None:
        if not self.up:
            from peer.errors import NotConnectedError

            raise NotConnectedError("down")
        self.sent.append((to, link, back, body))

    async def drain_relay(self) -> None:
        return None


class Harness:
    def __init__(self, max_pending: int = 64) -> None:
        self.tracker = Tracker()
        self.accepted: list[RelayTransport] = []
        self.release = asyncio.Event()
        self.tasks = TaskSupervisor()
        self.links = RelayLinks(self.tracker, self._accept, self.tasks, max_pending=max_pending)
        self.links.available = True

    async def _accept(self, transport: RelayTransport) -> None:
        self.accepted.append(transport)
        await self.release.wait()


async def test_an_opened_link_writes_and_reads_whole_bodies_in_order() -> None:
    h = Harness()
    link = h.links.open("bob")
    link.write_body(b"m1")
    assert h.tracker.sent == [("bob", link.key.link, False, b"m1")]
    for body in (b"a", b"b"):
        h.links.received(RelayedBody("bob", link.key.link, True, body))
    assert await link.read_bodies() == [b"a", b"b"]
    # Bodies that arrived before the end are read first, then the end is reported.
    h.links.received(RelayedBody("bob", link.key.link, True, b"c"))
    h.links.ended(RelayEnded("bob", link.key.link, True, "closed", "closed"))
    assert await link.read_bodies() == [b"c"]
    with pytest.raises(LinkClosedError, match="closed the connection"):
        await link.read_bodies()
    await h.tasks.close()


async def test_a_first_frame_from_the_other_side_starts_an_inbound_channel() -> None:
    h = Harness()
    h.links.received(RelayedBody("carol", 7, False, b"msg1"))
    await asyncio.sleep(0)
    [inbound] = h.accepted
    assert inbound.key.mine is False and await inbound.read_bodies() == [b"msg1"]
    inbound.write_body(b"msg2")
    assert h.tracker.sent == [("carol", 7, True, b"msg2")]
    # carol's link 7 and our own link 7 to carol are two links.
    ours = h.links.open("carol")
    assert ours.key != inbound.key
    h.release.set()
    await h.tasks.close()


async def test_inbound_handshakes_are_bounded_the_excess_ended_at_once() -> None:
    h = Harness(max_pending=2)  # and 16 per user: one user takes both
    for link in (1, 2, 3):
        h.links.received(RelayedBody("mallory", link, False, b"hello"))
    await asyncio.sleep(0)
    assert len(h.accepted) == 2
    assert h.tracker.sent == [("mallory", 3, True, None)]  # the third is ended
    h.links.received(RelayedBody("mallory", 3, False, b"again"))  # and stays ended
    await asyncio.sleep(0)
    assert len(h.accepted) == 2
    h.release.set()
    await asyncio.sleep(0)
    h.links.received(RelayedBody("mallory", 4, False, b"hello"))  # slots are free again
    await asyncio.sleep(0)
    assert len(h.accepted) == 3
    await h.tasks.close()


async def test_frames_for_links_we_closed_or_never_opened_are_dropped() -> None:
    h = Harness()
    link = h.links.open("bob")
    link.close()
    assert h.tracker.sent[-1] == ("bob", link.key.link, False, None)  # bob is told
    h.links.received(RelayedBody("bob", link.key.link, True, b"late"))
    h.links.received(RelayedBody("bob", 999, True, b"never ours"))
    await asyncio.sleep(0)
    assert h.accepted == [] and len(h.links) == 0
    await h.tasks.close()


async def test_a_replaced_link_lingers_before_its_end_goes_out() -> None:
    h = Harness()
    link = h.links.open("bob")
    link.close(linger=0.05)
    assert h.tracker.sent == []
    h.links.received(RelayedBody("bob", link.key.link, True, b"crossing"))  # dropped

    async def told() -> None:
        while not h.tracker.sent:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(told(), 5)
    assert h.tracker.sent == [("bob", link.key.link, False, None)]
    await h.tasks.close()


async def test_a_user_going_offline_or_the_tracker_link_ending_ends_the_links() -> None:
    h = Harness()
    to_bob, to_carol = h.links.open("bob"), h.links.open("carol")
    h.links.ended(RelayEnded("bob", None, False, "user_offline", "bob went offline"))
    with pytest.raises(LinkRefusedError, match="bob went offline"):
        await to_bob.read_bodies()
    h.links.lost("reset")
    with pytest.raises(LinkRefusedError, match="tracker connection was lost"):
        await to_carol.read_bodies()
    assert not h.links.available
    with pytest.raises(Exception, match="does not relay"):
        h.links.open("dave")
    await h.tasks.close()


async def test_writing_while_the_tracker_is_down_is_a_refused_link() -> None:
    h = Harness()
    link = h.links.open("bob")
    h.tracker.up = False
    with pytest.raises(LinkRefusedError):
        link.write_body(b"x")
    await h.tasks.close()


async def test_a_link_whose_reader_falls_behind_is_ended_not_grown() -> None:
    h = Harness()
    link = h.links.open("mallory")
    for n in range(MAX_QUEUED + 10):
        h.links.received(RelayedBody("mallory", link.key.link, True, b"%d" % n))
    bodies = await link.read_bodies()
    assert len(bodies) == MAX_QUEUED
    with pytest.raises(LinkClosedError, match="overflow"):
        await link.read_bodies()
    await h.tasks.close()
