"""Room names in any script and emoji drawn whole, through a real TLS tracker and real
end-to-end channels: ``café`` and ``東京`` are created, joined (typed decomposed, as a
macOS keyboard does), listed and chatted in; a name that looks like an existing room's
is refused; ZWJ sequences, flags and skin tones arrive byte for byte."""

from __future__ import annotations

import asyncio

import pytest

from commons.errors import ErrorCode, RoomError
from peer.events import MessageReceived
from tests.commons.test_untrusted_text import WHOLE_EMOJI
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer

#: What a user types: every emoji whose parts are invisible, and hostile invisibles
#: around them (they must arrive too: hiding them is the display's job, not the wire's).
EMOJI_TEXT = "hi " + " ".join(WHOLE_EMOJI) + " \u200d x\u200b \U000e0041"


async def test_unicode_room_names_end_to_end(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob")
    carol = await peer_factory(tracker, "carol")

    await alice.client.create_room("café")
    await carol.client.create_room("東京")
    await bob.client.join_room("cafe\u0301")  # decomposed: the same room
    assert bob.client.room == "café"
    listed = sorted(r.name for r in (await carol.client.list_rooms()).rooms)
    assert listed == ["café", "東京"]
    # the directory pages by room name: a Unicode name is a cursor too
    second = await carol.client.list_rooms("café", limit=1)
    assert [r.name for r in second.rooms] == ["東京"]

    for handle in (alice, bob):
        await asyncio.wait_for(handle.client.wait_channels(), 10)
    await alice.client.send_room("café", "bonjour")
    got = await bob.wait_for(MessageReceived, lambda e: e.text == "bonjour")
    assert got[0].room == "café"

    await bob.client.join_room("東京")
    await asyncio.wait_for(carol.client.wait_channels(), 10)
    await asyncio.wait_for(bob.client.wait_channels(), 10)
    await carol.client.send_room("東京", "こんにちは")
    got = await bob.wait_for(MessageReceived, lambda e: e.text == "こんにちは")
    assert got[0].room == "東京"


@pytest.mark.parametrize("alike", ["Café", "CAFE\u0301", "\uff43\uff41\uff46é"])  # fullwidth
async def test_a_room_name_that_looks_like_an_existing_one_is_refused(
    tracker: TrackerServer, peer_factory: PeerFactory, alike: str
) -> None:
    alice = await peer_factory(tracker, "alice")
    mallory = await peer_factory(tracker, "mallory")
    await alice.client.create_room("café")
    with pytest.raises(RoomError) as refused:
        await mallory.client.create_room(alike)
    assert refused.value.code is ErrorCode.ROOM_EXISTS
    assert "café" in refused.value.message and "looks the same" in refused.value.message
    assert [r.name for r in (await mallory.client.list_rooms()).rooms] == ["café"]


async def test_emoji_cross_a_real_channel_byte_for_byte(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob")
    await alice.client.create_room("lobby")
    await bob.client.join_room("lobby")
    await asyncio.wait_for(alice.client.wait_channels(), 10)
    await alice.client.send_room("lobby", EMOJI_TEXT)
    await alice.client.send_private("bob", EMOJI_TEXT)
    got = await bob.wait_for(MessageReceived, lambda e: e.sender == "alice", count=2)
    assert {e.room for e in got} == {"lobby", None}
    for event in got:
        assert event.text.encode("utf-8") == EMOJI_TEXT.encode("utf-8")
