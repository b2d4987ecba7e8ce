"""A room-mate who dials us while our LOGIN answer is still being read is not refused.

With durable membership the tracker pushes ``PRESENCE`` to our room-mates as it answers
our ``LOGIN``; the one whose name sorts first dials at once. Until the client has read
that answer (and saved its key and login memory) its channel shell has no name to answer
with: an inbound handshake then used to be closed, and the dialler reported a
``handshake_failed`` that blamed "an older p2pchat" and waited for a fallback dial.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from peer import events as ev
from peer.session import sign_in
from tests.peers import DEFAULT_PASSWORD, TIMEOUT, PeerFactory, wait_until
from tracker.server.server import TrackerServer


async def test_a_dial_during_our_login_waits_for_it_and_opens(
    tracker: TrackerServer,
    peer_factory: PeerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob", home=tmp_path / "bob")
    await alice.client.create_room("r")
    await bob.client.join_room("r")
    await asyncio.wait_for(alice.client.wait_channels(["bob"]), TIMEOUT)
    await bob.close()
    await alice.wait_for(ev.MemberOffline, lambda e: e.username == "bob")

    # Hold bob's login between the tracker's answer and the end of the sign-in.
    release = asyncio.Event()
    remember = sign_in.remember_login

    async def held_remember(*args: Any) -> None:
        await release.wait()
        await remember(*args)

    monkeypatch.setattr(sign_in, "remember_login", held_remember)
    bob2 = await peer_factory(tracker, "bob", login=False, home=tmp_path / "bob")
    login = asyncio.create_task(bob2.client.login("bob", DEFAULT_PASSWORD))
    await alice.wait_for(ev.MemberOnline, lambda e: e.username == "bob")
    listener = bob2.client._shell._listener  # the inbound handshake is waiting there
    await wait_until(lambda: len(listener.slots) > 0)
    release.set()
    await asyncio.wait_for(login, TIMEOUT)

    await asyncio.wait_for(alice.client.wait_channels(["bob"]), TIMEOUT)
    failed = [e for e in alice.of(ev.ErrorEvent) if e.code == "handshake_failed"]
    assert failed == []
    assert "bob" in alice.client.connected_peers
