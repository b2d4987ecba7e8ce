"""The peer's routing table of relayed links, against a recording stand-in for the
tracker session: which link a push goes to, what opens an inbound channel, what is
ignored, and what the other side is told."""

from __future__ import annotations

import asyncio

import pytest

from commons.relay_frames import RelayedBody, RelayEnded
from crypto.channel import MSG1_LEN
from peer.channels.inbound_limits import StartRates
from peer.channels.link import LinkClosedError, LinkRefusedError
from peer.channels.relay import MAX_QUEUED, RelayLinks, RelayTransport
from peer.supervisor import TaskSupervisor
from tests.peers import FakeClock

#: A handshake start's size (what a first Noise message is): only that opens a link.
START = bytes(MSG1_LEN)


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
    def __init__(self, max_pending: int = 64, rates: StartRates | None = None) -> None:
        self.tracker = Tracker()
        self.accepted: list[RelayTransport] = []
        self.release = asyncio.Event()
        self.tasks = TaskSupervisor()
        self.clock = FakeClock()
        self.links = RelayLinks(
            self.tracker,
            self._accept,
            self.tasks,
            max_pending=max_pending,
            rates=rates,
            clock=self.clock,
        )
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
    h.links.received(RelayedBody("carol", 7, False, START))
    await asyncio.sleep(0)
    [inbound] = h.accepted
    assert inbound.key.mine is False and await inbound.read_bodies() == [START]
    inbound.write_body(b"msg2")
    assert h.tracker.sent == [("carol", 7, True, b"msg2")]
    # carol's link 7 and our own link 7 to carol are two links.
    ours = h.links.open("carol")
    assert ours.key != inbound.key
    h.release.set()
    await h.tasks.close()


async def test_inbound_handshakes_are_bounded_the_excess_ended_at_once() -> None:
    h = Harness(max_pending=2)  # and 2 per user: one user takes both
    for link in (1, 2, 3):
        h.links.received(RelayedBody("mallory", link, False, START))
    await asyncio.sleep(0)
    assert len(h.accepted) == 2
    assert h.tracker.sent == [("mallory", 3, True, None)]  # the third is ended
    h.links.received(RelayedBody("mallory", 3, False, START))  # and stays ended
    await asyncio.sleep(0)
    assert len(h.accepted) == 2
    h.release.set()
    await asyncio.sleep(0)
    h.links.received(RelayedBody("mallory", 4, False, START))  # slots are free again
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


async def test_junk_on_unknown_links_gets_no_answer_and_opens_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Relay reflection, the rule: every answer would be paid from our own relay budget,
    so a body that is not a handshake start, on a link we do not know, gets none."""
    h = Harness()
    for link in range(1, 2001):
        body = b"x" * (1 + link % (2 * MSG1_LEN))
        if len(body) != MSG1_LEN:
            h.links.received(RelayedBody("mallory", link, False, body))
    await asyncio.sleep(0)
    assert h.tracker.sent == [] and h.accepted == [] and len(h.links) == 0
    lines = [r for r in caplog.records if r.name == "peer.channels.relay"]
    assert len(lines) <= 1
    await h.tasks.close()


async def test_starts_are_answered_at_a_bounded_rate_per_user_and_for_strangers() -> None:
    """One stranger gets its burst of 4 starts, then one per 2 s; strangers together 20,
    then 10 a second; the refused are ended within 10 ends, then in silence."""
    h = Harness()
    for link in range(1, 101):  # each start is ended at once by the "handshake" below
        h.links.received(RelayedBody("mallory", link, False, START))
    await asyncio.sleep(0)
    assert len(h.accepted) == 2  # its 2 slots (the handshakes are still running)
    h.release.set()
    await asyncio.sleep(0)
    h.release.clear()
    for link in range(101, 201):
        h.links.received(RelayedBody("mallory", link, False, START))
    await asyncio.sleep(0)
    assert len(h.accepted) == 4  # the burst of 4, and no more
    assert len(h.tracker.sent) == 10  # ends for the refused: the courtesy budget only
    h.clock.advance(2.0)
    h.links.received(RelayedBody("mallory", 300, False, START))
    await asyncio.sleep(0)
    assert len(h.accepted) == 4  # its 2 slots are held again
    h.release.set()
    await asyncio.sleep(0)
    h.clock.advance(2.0)
    h.links.received(RelayedBody("mallory", 301, False, START))
    await asyncio.sleep(0)
    assert len(h.accepted) == 5  # one more after 2 s
    # 30 other strangers: what is left of the shared burst of 20 (refilled during
    # those 4 s; mallory's last start took one), then nothing.
    for n in range(30):
        h.links.received(RelayedBody(f"sybil{n}", 1, False, START))
    await asyncio.sleep(0)
    assert len(h.accepted) == 5 + 19
    # A contact is not counted with strangers.
    h.links.known = lambda user: user == "carol"
    h.links.received(RelayedBody("carol", 1, False, START))
    await asyncio.sleep(0)
    assert h.accepted[-1].key.user == "carol"
    await h.tasks.close()


async def test_a_known_user_takes_a_strangers_handshake_slot() -> None:
    h = Harness(max_pending=8, rates=StartRates(per_user=(8, 1), strangers=(100, 100)))
    for n in range(10):
        h.links.received(RelayedBody(f"sybil{n}", 1, False, START))
    await asyncio.sleep(0)
    assert len(h.accepted) == 6  # 8 slots, 2 kept for users we know
    h.links.received(RelayedBody("dave", 1, False, START))  # another stranger
    await asyncio.sleep(0)
    assert len(h.accepted) == 6
    h.links.known = lambda user: user in ("carol", "erin", "frank")
    for user in ("carol", "erin", "frank"):
        h.links.received(RelayedBody(user, 1, False, START))
    await asyncio.sleep(0)
    assert [t.key.user for t in h.accepted[6:]] == ["carol", "erin", "frank"]
    with pytest.raises(LinkRefusedError, match="slot went to another"):
        await h.accepted[0].read_bodies()
        await h.accepted[0].read_bodies()
    await h.tasks.close()


def test_link_numbers_start_at_a_random_point_in_each_process() -> None:
    """A restarted client must not reuse its previous run's link numbers (the other side
    drops frames on links it closed lately)."""
    firsts = {RelayLinks(Tracker(), _never, TaskSupervisor())._next_link for _ in range(8)}
    assert len(firsts) == 8


async def _never(_transport: RelayTransport) -> None:
    return None
