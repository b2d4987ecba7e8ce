"""Tracker loss and return, key changes, simultaneous dials."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from commons.errors import ErrorCode
from crypto.errors import KeyChangedError
from crypto.pinning import TrustState
from peer.client.chat_client import ChatClient
from peer.events import (
    ChannelClosed,
    ChannelOpened,
    ConnectionLost,
    ErrorEvent,
    KeyChanged,
    MemberJoined,
    MemberLeft,
    MemberOnline,
    MessageFailed,
    MessageReceived,
    Reconnected,
    RoomsRestored,
)
from tests.conftest import TrackerFactory
from tests.peers import PeerFactory
from tracker.storage.sqlite_file import DB_FILE_NAME


async def test_tracker_loss_keeps_channels_and_reconnects(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory()
    port, data_dir = tracker.port, tracker.config.data_dir
    alice = await peer_factory(tracker, "alice", reconnect_initial_delay=0.1)
    bob = await peer_factory(tracker, "bob", reconnect_initial_delay=0.1)
    await alice.client.create_room("lobby")
    await bob.client.join_room("lobby")
    await asyncio.wait_for(bob.client.wait_channels(), 10)

    await tracker.stop()
    for handle in (alice, bob):
        await handle.wait_for(ConnectionLost)
    await bob.client.send_room("lobby", "the tracker is down but we are not")
    got = await alice.wait_for(MessageReceived)
    assert got[0].text == "the tracker is down but we are not"

    again = await tracker_factory(port=port, data_dir=data_dir)
    for handle in (alice, bob):
        await handle.wait_for(Reconnected)
        assert handle.client.tracker_connected
        assert handle.client.room == "lobby"
    rooms = (await alice.client.list_rooms()).rooms
    assert sorted(rooms[0].members) == ["alice", "bob"]
    assert alice.client.members == ["alice", "bob"]
    assert alice.of(ChannelOpened) == [ChannelOpened("bob")]  # the channel never dropped
    # Back by resumption tickets: the restarted tracker verified no password.
    assert again._hashing is not None and again._hashing.verifications == 0
    assert again.counters["resumed"] == 2


async def test_a_refused_ticket_falls_back_to_the_login_secret(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory()
    port, data_dir = tracker.port, tracker.config.data_dir
    alice = await peer_factory(tracker, "alice", reconnect_initial_delay=0.1)
    await alice.client.create_room("lobby")
    await tracker.stop()
    await alice.wait_for(ConnectionLost)
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        conn.execute("DELETE FROM tickets")  # say, a tracker restored from an older backup

    again = await tracker_factory(port=port, data_dir=data_dir)
    await alice.wait_for(Reconnected)
    assert alice.client.room == "lobby"
    assert again.counters["resumed"] == 0
    assert again._hashing is not None and again._hashing.verifications == 1


async def test_key_change_blocks_sending_until_trusted(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    tracker = await tracker_factory()
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob", "bob-password")
    await bob.client.create_room("bobs")
    await alice.client.join_room("bobs")
    await asyncio.wait_for(alice.client.wait_channels(), 10)
    old_fingerprint = alice.client.fingerprint("bob")
    await bob.close()

    # Bob on a new machine: a new identity key, replacing the registered one.
    bob2 = await peer_factory(tracker, "bob", login=False, home=tmp_path / "bob-new-home")
    await bob2.client.login("bob", "bob-password", replace_key=True)
    changed = await alice.wait_for(KeyChanged)
    assert changed[0].username == "bob"
    assert changed[0].fingerprint == bob2.client.fingerprint()
    assert changed[0].fingerprint != old_fingerprint
    assert alice.client.trust_state("bob") is TrustState.KEY_CHANGED
    # Before deciding, alice compares the safety number of the *new* key with bob.
    assert alice.client.fingerprint("bob") == bob2.client.fingerprint()
    await bob2.client.look_up("alice")
    assert alice.client.safety_number("bob") == bob2.client.safety_number("alice")
    with pytest.raises(KeyChangedError):
        await alice.client.send_private("bob", "hello?")

    # Issue 21: bob's membership outlived his logout; his login brought him back into
    # his room, online, with the new key (a presence change, not a join).
    await bob2.wait_for(RoomsRestored, lambda e: e.rooms == ("bobs",))
    await alice.wait_for(MemberOnline, lambda e: (e.room, e.username) == ("bobs", "bob"))
    assert [e for e in alice.of(MemberJoined) if e.username == "bob"] == []
    sent = await alice.client.send_room("bobs", "anyone?")
    assert sent.recipients == ("bob",)
    failed = await alice.wait_for(MessageFailed, lambda e: e.msg_id == sent.msg_id)
    assert (failed[0].username, failed[0].reason) == ("bob", "key_changed")
    await alice.wait_for(ErrorEvent, lambda e: e.code == ErrorCode.KEY_CHANGED)
    assert "bob" not in alice.client.connected_peers
    assert [e for e in bob2.of(MessageReceived) if e.text == "anyone?"] == []

    await alice.client.trust("bob", changed[0].key)
    assert alice.client.trust_state("bob") is TrustState.UNVERIFIED
    await alice.client.send_private("bob", "welcome back")
    got = await bob2.wait_for(MessageReceived)
    assert got[0].text == "welcome back"
    assert alice.client.safety_number("bob") == bob2.client.safety_number("alice")
    await alice.client.verify("bob", alice.client.key_to_verify("bob"))
    assert alice.client.trust_state("bob") is TrustState.VERIFIED


async def test_simultaneous_private_messages_share_one_channel(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory()
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob")
    await alice.client.look_up("bob")
    await bob.client.look_up("alice")
    await asyncio.gather(
        alice.client.send_private("bob", "hi bob"),
        bob.client.send_private("alice", "hi alice"),
    )
    assert (await bob.wait_for(MessageReceived))[0].text == "hi bob"
    assert (await alice.wait_for(MessageReceived))[0].text == "hi alice"
    await alice.client.send_private("bob", "second")
    await bob.wait_for(MessageReceived, count=2)
    assert alice.client.connected_peers == ["bob"]
    assert bob.client.connected_peers == ["alice"]
    assert len(alice.of(ChannelOpened)) == 1
    assert len(bob.of(ChannelOpened)) == 1


async def test_unexpected_error_in_a_channel_reports_the_member_gone(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while handling one frame closes that channel visibly, never silently."""
    tracker = await tracker_factory()
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob")
    await alice.client.create_room("lobby")
    await bob.client.join_room("lobby")
    await asyncio.wait_for(alice.client.wait_channels(), 10)

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug in frame handling")

    assert alice.client.core is not None
    monkeypatch.setattr(alice.client.core, "frames_received", broken)
    await bob.client.send_room("lobby", "this frame trips the bug")
    closed = await alice.wait_for(ChannelClosed)
    assert closed[0].username == "bob" and "RuntimeError" in closed[0].reason
    left = await alice.wait_for(MemberLeft)
    assert left[0].username == "bob" and left[0].reason == "connection_lost"
    assert "bob" not in alice.client.connected_peers


async def test_private_chat_reaches_a_user_who_moved_to_a_new_machine(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """No shared room, so no push tells alice: the dial itself must find bob's new address."""
    tracker = await tracker_factory()
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob", "bob-password")
    await alice.client.send_private("bob", "hi")
    await bob.wait_for(MessageReceived)
    await bob.close()

    bob2 = await peer_factory(tracker, "bob", login=False, home=tmp_path / "bob-new-home")
    await bob2.client.login("bob", "bob-password", replace_key=True)
    await alice.wait_for(ChannelClosed)
    with pytest.raises(KeyChangedError):
        await alice.client.send_private("bob", "are you there?")
    changed = await alice.wait_for(KeyChanged)
    assert changed[0].fingerprint == bob2.client.fingerprint()
    await alice.client.trust("bob", changed[0].key)
    await alice.client.send_private("bob", "welcome back")
    got = await bob2.wait_for(MessageReceived)
    assert [m.text for m in got] == ["welcome back"]


async def test_a_slow_first_login_after_the_tracker_dropped_the_idle_link(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    """The login screen connects before anything is typed; the tracker closes a link that
    does not log in within its auth timeout. A slow typist still gets in, and no
    'connection lost' is reported for a session that never existed."""
    tracker = await tracker_factory(auth_timeout=0.3)
    slow = await peer_factory(tracker, "slow", login=False)
    await asyncio.wait_for(_until_disconnected(slow.client), 10)
    await slow.client.register("slow", "pw-slow-typist")
    await slow.client.login("slow", "pw-slow-typist")
    assert slow.client.tracker_connected and slow.client.username == "slow"
    assert slow.of(ConnectionLost) == []


async def _until_disconnected(client: ChatClient) -> None:
    while client.tracker_connected:  # the tracker's auth timeout closes it
        await asyncio.sleep(0.02)
