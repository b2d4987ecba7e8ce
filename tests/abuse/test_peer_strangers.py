"""Fake accounts that dial a peer: their channels, the channel cap, and the pin store.

The original client kept every authenticated channel: 1,100 channels from fake accounts
that then logged out used every descriptor of a peer with the usual limit of 1,024. And
every inbound handshake pinned the stranger's key with a rewrite of the whole pin file
and an fsync; at about 31,000 strangers the file would pass its 4 MiB bound and the
victim's next login would fail.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from crypto import pinning
from crypto.errors import KeyChangedError, PinStoreFullError
from crypto.fingerprint import fingerprint
from crypto.identity import IdentityKey
from peer.channels.link import LinkClosedError, P2PLink
from peer.client.trust_gate import PINS_FILE
from peer.core.actions import CloseReason
from peer.core.frames import Accept, ChatMessage, decode_frame, encode_chat_frame
from peer.core.settings import CoreSettings
from peer.events import ChannelClosed, ChannelOpened, KeyChanged, MessageReceived
from tests.peers import PeerFactory, PeerHandle, hand_dial, lie_about_key
from tests.tracker_client import TrackerTestClient
from tracker.server.server import TrackerServer

STRANGERS = 12


async def _strangers(
    tracker: TrackerServer, count: int
) -> list[tuple[TrackerTestClient, IdentityKey, str]]:
    """``count`` fake accounts, logged in from 127.0.0.2, ... with keys we hold."""
    out = []
    for index in range(count):
        source = f"127.0.0.{2 + index % 8}"
        client = await TrackerTestClient.connect(
            "127.0.0.1", tracker.port, tracker.cert_path, source
        )
        identity = IdentityKey.generate()
        client.identity_key = identity.public_b64
        name = f"fake{index:03d}"
        assert (await client.register(name))["status"] == "OK"
        assert (await client.login(name))["status"] == "OK"
        out.append((client, identity, name))
    return out


def _source(index: int) -> str:
    """Where the strangers dial from: four sources (the lookups they cost are per source)."""
    return f"127.0.0.{20 + index % 4}"


async def _dial(peer: PeerHandle, name: str, identity: IdentityKey, source: str) -> P2PLink:
    """A stranger's channel, dialled again while ``peer`` may not look them up yet (it
    asks the tracker about at most 5 strangers from one source at once, then 1 a second)."""

    async def attempt() -> P2PLink:
        while True:
            link = await hand_dial(peer, name, identity, source)
            try:
                answer = decode_frame(await asyncio.wait_for(link.receive(), 10), "x")
            except LinkClosedError:
                await asyncio.sleep(0.2)
                continue
            assert isinstance(answer, Accept)
            return link

    return await asyncio.wait_for(attempt(), 20)


async def test_strangers_channels_close_once_they_log_out(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    settings = CoreSettings(stranger_check_interval=0.5)
    bob = await peer_factory(tracker, "bob", core=settings)
    alice = await peer_factory(tracker, "alice")
    await alice.client.send_private("bob", "a real conversation")
    await bob.wait_for(MessageReceived)
    fakes = await _strangers(tracker, STRANGERS)
    links = [await _dial(bob, name, key, _source(i)) for i, (_, key, name) in enumerate(fakes)]
    await bob.wait_for(ChannelOpened, lambda e: e.username.startswith("fake"), count=STRANGERS)

    for client, _, _ in fakes:
        await client.request("LOGOUT")
        await client.close()
    gone = await bob.wait_for(
        ChannelClosed, lambda e: e.reason == str(CloseReason.LOGGED_OUT), count=STRANGERS
    )
    assert {e.username for e in gone} == {name for _, _, name in fakes}
    assert bob.client.connected_peers == ["alice"]  # the conversation stays
    for link in links:
        link.close()


async def test_the_channel_cap_holds_and_contacts_still_get_in(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    cap = 8
    bob = await peer_factory(tracker, "bob", core=CoreSettings(max_channels=cap))
    await bob.client.create_room("lobby")
    fakes = await _strangers(tracker, STRANGERS)
    links = []
    for _, key, name in fakes:
        links.append(await _dial(bob, name, key, _source(len(links))))
        assert len(bob.client.connected_peers) <= cap
    assert len(bob.client.connected_peers) == cap

    alice = await peer_factory(tracker, "alice")  # a room member is never kept out
    await alice.client.join_room("lobby")
    await asyncio.wait_for(alice.client.wait_channels(), 10)
    carol = await peer_factory(tracker, "carol")  # nor an honest stranger with something to say
    await carol.client.send_private("bob", "hello bob")
    await bob.wait_for(MessageReceived, lambda e: e.text == "hello bob")
    assert {"alice", "carol"} <= set(bob.client.connected_peers)
    assert len(bob.client.connected_peers) <= cap
    for link in links:
        link.close()
    for client, _, _ in fakes:
        await client.close()


async def test_strangers_are_not_pinned_and_a_contact_is_one_appended_record(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    pins = tmp_path / "home-bob" / "bob" / PINS_FILE
    before = pins.read_bytes()
    inode = pins.stat().st_ino
    fakes = await _strangers(tracker, STRANGERS)
    links = [await _dial(bob, name, key, _source(i)) for i, (_, key, name) in enumerate(fakes)]
    await bob.wait_for(ChannelOpened, lambda e: e.username.startswith("fake"), count=STRANGERS)
    assert pins.read_bytes() == before  # a handshake pins nothing

    alice = await peer_factory(tracker, "alice")
    await alice.client.send_private("bob", "hi")
    await bob.wait_for(MessageReceived)
    assert pins.read_bytes() == before  # nor does a message: only an answer
    await bob.client.send_private("alice", "hi alice")
    await asyncio.wait_for(_grown(pins, len(before)), 10)
    added = pins.read_bytes()[len(before) :]
    assert pins.read_bytes().startswith(before) and pins.stat().st_ino == inode  # appended
    assert added.count(b"\n") == 1 and b'"user":"alice"' in added
    assert bob.client.pinned_key("alice") is not None
    for link in links:
        link.close()
    for client, _, _ in fakes:
        await client.close()


async def test_one_message_strangers_do_not_fill_the_pin_store_nor_hide_a_key_change(
    tracker: TrackerServer, peer_factory: PeerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: 2,000 accounts sending one private message each were pinned as contacts
    and filled the 2,000-contact store in 10 s; a new contact's key change was then shown
    with no warning. Scaled down (the rule is the same): a store of 6 contacts, 12
    strangers who each dial bob and write him one message over real channels."""
    monkeypatch.setattr(pinning, "MAX_CONTACTS", 6)
    bob = await peer_factory(tracker, "bob")
    alice = await peer_factory(tracker, "alice")
    await alice.client.send_private("bob", "hi bob")
    await bob.wait_for(MessageReceived, lambda e: e.sender == "alice")
    assert bob.client.pinned_key("alice") is None  # a message alone makes no contact
    await bob.client.send_private("alice", "hi alice")  # answering does
    await asyncio.wait_for(_pinned(bob, "alice"), 10)

    fakes = await _strangers(tracker, STRANGERS)
    links = [await _dial(bob, name, key, _source(i)) for i, (_, key, name) in enumerate(fakes)]
    for index, (link, (_, _, name)) in enumerate(zip(links, fakes, strict=True)):
        hello = ChatMessage(None, name, "buy my stuff", time.time(), f"{index:016x}-1")
        await link.send(encode_chat_frame(hello))
    await bob.wait_for(MessageReceived, lambda e: e.sender.startswith("fake"), count=STRANGERS)
    assert bob.client.contacts() == {"alice"}

    carol = await peer_factory(tracker, "carol")  # a new contact after the wave
    await carol.client.send_private("bob", "hello, I am new")
    await bob.wait_for(MessageReceived, lambda e: e.sender == "carol")
    await bob.client.send_private("carol", "welcome")
    await asyncio.wait_for(_pinned(bob, "carol"), 10)

    thief = IdentityKey.generate()  # carol's key "changes" (a lying tracker, a thief)
    lie_about_key(tracker, "carol", thief.public_bytes, audience=["bob"])
    changed = await bob.wait_for(KeyChanged, lambda e: e.username == "carol")
    assert changed[0].fingerprint == fingerprint(thief.public_bytes)
    with pytest.raises(KeyChangedError):
        await bob.client.send_private("carol", "still you?")
    for link in links:
        link.close()
    for client, _, _ in fakes:
        await client.close()


async def test_a_full_pin_store_refuses_to_write_to_someone_it_cannot_pin(
    tracker: TrackerServer, peer_factory: PeerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full of real contacts, the store pins nobody new and pushes nobody out: writing to
    a new person is refused (their key change would go unnoticed) until ``/forget``."""
    monkeypatch.setattr(pinning, "MAX_CONTACTS", 1)
    bob = await peer_factory(tracker, "bob")
    await peer_factory(tracker, "alice")
    carol = await peer_factory(tracker, "carol")
    await bob.client.send_private("alice", "hi alice")
    await asyncio.wait_for(_pinned(bob, "alice"), 10)
    with pytest.raises(PinStoreFullError, match="/forget"):
        await bob.client.send_private("carol", "hi carol")
    await bob.client.forget("alice")
    assert bob.client.contacts() == set()
    await bob.client.send_private("carol", "hi carol")
    await carol.wait_for(MessageReceived, lambda e: e.sender == "bob")
    await asyncio.wait_for(_pinned(bob, "carol"), 10)
    assert bob.client.pinned_key("alice") is None


async def _pinned(peer: PeerHandle, user: str) -> None:
    while peer.client.pinned_key(user) is None:
        await asyncio.sleep(0.02)


async def _grown(path: Path, size: int) -> None:
    while path.stat().st_size <= size:
        await asyncio.sleep(0.02)
