"""Trust decisions against real peers and a real tracker (sometimes made to lie).

* ``/reject`` keeps the pinned key after a lying ``KEY_CHANGED`` and gets the chat with
  the genuine key back.
* A handshake whose key conflicts with the pin is refused inside the handshake: the
  initiator never writes message 3, the responder never answers message 3 (seen on
  the wire through a recording proxy).
* A directory listing older than the bound is refreshed before an inbound channel is
  accepted, and a thief holding a replaced key is refused.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from commons.errors import ErrorCode
from commons.models import PeerInfo
from commons.private_file import write_private_file
from crypto.errors import KeyChangedError, PinStoreUnauthenticatedError
from crypto.fingerprint import fingerprint
from crypto.identity import IdentityKey
from crypto.keystore import TEST_KDF_PARAMS, load_or_create_identity
from crypto.pinning import TrustState
from peer.channels.link import LinkClosedError
from peer.client.directory import LOOKUP_BURST, MAX_LISTING_AGE, REFRESH_INTERVAL
from peer.errors import ChannelRefusedError
from peer.events import (
    ChannelClosed,
    ChannelOpened,
    ErrorEvent,
    KeyChanged,
    MemberJoined,
    MemberLeft,
    MessageReceived,
)
from tests.e2e.proxy import FramingProxy
from tests.peers import (
    DEFAULT_PASSWORD,
    FakeClock,
    PeerFactory,
    PeerHandle,
    hand_dial,
    lie_about_key,
)
from tracker.server.server import TrackerServer

BOB_PASSWORD = "bob-password-1"


async def test_reject_keeps_the_pin_and_restores_the_chat_with_the_genuine_key(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob")
    await bob.client.create_room("lobby")
    await alice.client.join_room("lobby")
    await asyncio.wait_for(alice.client.wait_channels(), 10)
    genuine = bob.client.fingerprint()
    await alice.client.verify("bob", alice.client.key_to_verify("bob"))

    # The tracker lies to alice: bob "changed" keys to one mallory holds.
    mallory = IdentityKey.generate()
    lie_about_key(tracker, "bob", mallory.public_bytes, audience=["alice"])
    changed = await alice.wait_for(KeyChanged)
    assert changed[0].fingerprint == fingerprint(mallory.public_bytes)
    with pytest.raises(KeyChangedError):
        await alice.client.send_private("bob", "locked out until I decide")

    refused = await alice.client.reject("bob")
    assert refused == (mallory.public_bytes,)
    assert alice.client.trust_state("bob") is TrustState.VERIFIED
    assert alice.client.fingerprint("bob") == genuine
    # Reconnected to the genuine key, although the tracker still lists mallory's.
    await alice.wait_for(ChannelOpened, lambda e: e.username == "bob", count=2)
    await alice.client.send_room("lobby", "still you?")
    got = await bob.wait_for(MessageReceived, lambda m: m.text == "still you?")
    assert got[0].sender == "alice"
    await bob.client.send_private("alice", "still me")
    await alice.wait_for(MessageReceived, lambda m: m.text == "still me")

    # The rejected key stays refused: mallory claiming to be bob gets nothing back.
    link = await hand_dial(alice, "bob", mallory)
    with pytest.raises(LinkClosedError):
        await asyncio.wait_for(link.receive(), 10)
    error = await alice.wait_for(ErrorEvent, lambda e: "rejected" in e.message)
    assert error[0].code == ErrorCode.KEY_MISMATCH
    assert len(alice.of(KeyChanged)) == 1  # no new question for a rejected key


async def _bob_moves(
    tracker: TrackerServer,
    peer_factory: PeerFactory,
    home: Path,
    proxy: FramingProxy | None = None,
) -> PeerHandle:
    """bob logs in from a new machine with a new key (reached through ``proxy``)."""
    changes = {} if proxy is None else {"advertise_port": proxy.port}
    moved = await peer_factory(tracker, "bob", login=False, home=home, **changes)
    if proxy is not None:
        proxy.target = moved.client.listen_address
    await moved.client.login("bob", BOB_PASSWORD, replace_key=True)
    return moved


def _key_of(home: Path) -> bytes:
    identity, _ = load_or_create_identity(home, "bob", BOB_PASSWORD, kdf_params=TEST_KDF_PARAMS)
    return identity.public_bytes


async def test_initiator_refuses_a_key_conflicting_with_the_pin_before_message_3(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """Room-mates learn each other's address: alice dials bob directly (she leads).

    bob leaves the room before he moves: memberships are durable (issue 21), and a
    member's key change is pushed to his room-mates; sharing no room with alice when he
    replaces his key, bob's change is pushed to no one, so only the handshake can catch
    the conflict with alice's pin."""
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob", BOB_PASSWORD)
    await alice.client.create_room("lobby")
    await bob.client.join_room("lobby")
    await alice.client.send_private("bob", "hi")
    await bob.wait_for(MessageReceived)
    await bob.client.leave_room("lobby")
    await alice.wait_for(MemberLeft, lambda e: (e.username, e.reason) == ("bob", "left"))
    await bob.close()

    proxy = FramingProxy()
    await proxy.start()
    try:
        moved = await _bob_moves(tracker, peer_factory, tmp_path / "bob-new", proxy)
        await moved.client.join_room("lobby")
        await alice.wait_for(MemberJoined, lambda e: e.username == "bob", count=2)
        # alice dials bob where the tracker now lists him: through the proxy.
        with pytest.raises(KeyChangedError):
            await alice.client.send_private("bob", "are you there?")
        await proxy.wait_finished()
        # Message 1 out, message 2 back, and nothing more from alice: no message 3.
        assert len(proxy.frames["out"]) == 1 and len(proxy.frames["in"]) == 1
        changed = await alice.wait_for(KeyChanged)
        assert changed[0].key == _key_of(tmp_path / "bob-new")
        assert alice.client.pinned_key("bob") != changed[0].key
    finally:
        await proxy.close()


async def test_responder_refuses_a_key_conflicting_with_the_pin_before_accepting_it(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """Zoe and bob are room-mates; bob's name sorts first, so he dials her, through the
    proxy her address leads to."""
    proxy = FramingProxy()
    await proxy.start()
    clock = FakeClock()
    try:
        zoe = await peer_factory(
            tracker, "zoe", login=False, advertise_port=proxy.port, clock=clock
        )
        proxy.target = zoe.client.listen_address
        await zoe.client.register("zoe", "zoe-password")
        await zoe.client.login("zoe", "zoe-password")
        await zoe.client.create_room("lobby")  # hers: bob's key change is pushed to no one
        bob = await peer_factory(tracker, "bob", BOB_PASSWORD)
        await bob.client.join_room("lobby")  # bob dials: zoe pins his key
        await zoe.wait_for(ChannelOpened)
        await proxy.wait_finished(0)
        # bob leaves before he moves: a member's new key would be pushed to zoe by the
        # tracker (KEY_CHANGED); this is about the handshake catching it on its own.
        await bob.client.leave_room("lobby")
        await zoe.wait_for(MemberLeft, lambda e: e.username == "bob")
        await bob.close()
        await proxy.wait_finished(1)
        before = {d: len(f) for d, f in proxy.frames.items()}

        moved = await _bob_moves(tracker, peer_factory, tmp_path / "bob-new")
        clock.advance(REFRESH_INTERVAL)  # zoe may ask the tracker again
        await moved.client.join_room("lobby")
        with pytest.raises(ChannelRefusedError):
            await moved.client.send_private("zoe", "it is me, new key")
        await proxy.wait_finished(2)
        # bob's message 1 and 3 reached zoe; zoe answered message 1 only: not even
        # an encrypted refusal, since she never accepted message 3.
        assert len(proxy.frames["out"]) - before["out"] == 2
        assert len(proxy.frames["in"]) - before["in"] == 1
        refused = await zoe.wait_for(ErrorEvent, lambda e: e.code == ErrorCode.KEY_CHANGED)
        assert "bob" in refused[0].message
        changed = await zoe.wait_for(KeyChanged)
        assert changed[0].key == _key_of(tmp_path / "bob-new")
        assert "bob" not in zoe.client.connected_peers
        assert not any(m.text == "it is me, new key" for m in zoe.of(MessageReceived))
    finally:
        await proxy.close()


async def test_old_listing_is_refreshed_and_a_replaced_key_refused(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """bob's key was stolen; he replaced it. alice shares no room with him, so no push
    tells her: her listing still says the old key until it is older than the bound."""
    clock = FakeClock()
    alice = await peer_factory(tracker, "alice", clock=clock)
    bob = await peer_factory(tracker, "bob", BOB_PASSWORD)
    await alice.client.send_private("bob", "hi")
    await bob.wait_for(MessageReceived)
    stolen, _ = load_or_create_identity(
        tmp_path / "home-bob", "bob", BOB_PASSWORD, kdf_params=TEST_KDF_PARAMS
    )
    await bob.close()
    await alice.wait_for(ChannelClosed)
    await _bob_moves(tracker, peer_factory, tmp_path / "bob-new")
    assert alice.of(KeyChanged) == []  # no push reached alice

    clock.advance(MAX_LISTING_AGE + 1)
    link = await hand_dial(alice, "bob", stolen)  # the thief, with the old key
    with pytest.raises(LinkClosedError):
        await asyncio.wait_for(link.receive(), 10)
    # Refreshed from the tracker: the new key is put before alice, the old one refused.
    changed = await alice.wait_for(KeyChanged)
    assert changed[0].key == _key_of(tmp_path / "bob-new")
    refused = await alice.wait_for(ErrorEvent, lambda e: e.code == ErrorCode.KEY_CHANGED)
    assert "bob" in refused[0].message
    assert "bob" not in alice.client.connected_peers
    assert alice.client.pinned_key("bob") == stolen.public_bytes  # nothing decided for her


async def test_strangers_claiming_unknown_names_cost_a_bounded_number_of_lookups(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    clock = FakeClock()
    alice = await peer_factory(tracker, "alice", clock=clock)
    driver = alice.client._driver
    assert driver is not None
    asked: list[str] = []
    lookup = driver.lookups._lookup

    async def counted(user: str) -> PeerInfo:
        asked.append(user)
        return await lookup(user)

    driver.lookups._lookup = counted
    for index in range(30):  # the fake clock stands still: no token comes back
        link = await hand_dial(alice, f"ghost{index}")
        with pytest.raises(LinkClosedError):
            await asyncio.wait_for(link.receive(), 10)
    assert asked == [f"ghost{i}" for i in range(LOOKUP_BURST)]
    await alice.wait_for(ErrorEvent, lambda e: "ghost0" in e.message)


async def test_a_planted_unauthenticated_pin_store_is_refused_not_imported(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """Issue 20: a version 1 store (no MAC) planted over alice's authenticated one was
    imported, so the planter's key for bob became the pinned one (and a ``/reject`` of
    the key the tracker lists kept it). Now such a file is refused at login, never
    read, never rewritten; the refusal says how to start over."""
    bob = await peer_factory(tracker, "bob")
    alice = await peer_factory(tracker, "alice")
    await alice.client.send_private("bob", "hi")
    await bob.wait_for(MessageReceived)
    pinned = alice.client.pinned_key("bob")
    assert pinned is not None and fingerprint(pinned) == bob.client.fingerprint()
    await alice.close()

    planted = IdentityKey.generate()
    store = tmp_path / "home-alice" / "alice" / "known_peers.json"
    old = {"version": 1, "contacts": {"bob": {"key": planted.public_b64, "verified": True}}}
    write_private_file(store, json.dumps(old).encode())
    again = await peer_factory(tracker, "alice", login=False)
    with pytest.raises(PinStoreUnauthenticatedError) as refused:
        await again.client.login("alice", DEFAULT_PASSWORD)
    assert refused.value.code == ErrorCode.PIN_STORE_UNAUTHENTICATED
    assert "mv " in refused.value.message
    assert json.loads(store.read_text()) == old  # not imported, not rewritten
