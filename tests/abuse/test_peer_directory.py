"""No client feature needs the whole user list: fake accounts cannot hide anyone.

The original client used ``LIST_PEERS`` (what fits in one 64 KiB frame, 417 users) as
its only directory, for ``/msg`` and for checking inbound channels: 450 fake logins made
``/msg bob`` fail with ``user_offline``. The tracker's side shows ``LOOKUP`` finding bob
among 1,000 fakes (``test_directory_flood.py``); here the tracker allows this source a
single page of the user list, and ``/msg``, the identity check of the inbound channel
and ``/fingerprint`` all work without another one.
"""

from __future__ import annotations

import pytest

from commons.errors import ErrorCode, P2PChatError
from peer.commands import results as res
from peer.commands.runner import execute
from peer.commands.table import ListPeers, ShowFingerprint
from peer.events import MessageReceived
from tests.abuse.conftest import UntrustedFactory
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer


async def test_msg_inbound_checks_and_fingerprint_never_need_the_user_list(
    untrusted_tracker: UntrustedFactory, peer_factory: PeerFactory
) -> None:
    tracker = await untrusted_tracker(pages_burst_per_source=1, pages_per_source_per_second=0.001)
    alice = await peer_factory(tracker, "alice")
    bob = await peer_factory(tracker, "bob")
    carol = await peer_factory(tracker, "carol")
    await alice.client.list_peers()  # the one page this source gets
    with pytest.raises(P2PChatError) as limited:
        await alice.client.list_peers()
    assert limited.value.code is ErrorCode.RATE_LIMITED

    await alice.client.send_private("bob", "found you")  # LOOKUP, dial, bob's LOOKUP
    await bob.wait_for(MessageReceived, lambda e: e.text == "found you")
    shown = await execute(alice.client, ShowFingerprint("carol"))
    assert isinstance(shown, res.ContactFingerprint)
    assert shown.fingerprint == carol.client.fingerprint()
    await carol.client.look_up("alice")
    assert shown.safety_number == carol.client.safety_number("alice")


async def test_the_user_list_comes_a_page_at_a_time(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    peers = [await peer_factory(tracker, name) for name in ("ann", "ben", "cat", "dan", "eve")]
    names: list[str] = []
    cursor = None
    while True:
        page = await peers[0].client.list_peers(cursor, limit=2)
        assert len(page.peers) <= 2 and page.page.total == 5
        names += [p.username for p in page.peers]
        cursor = page.page.next_cursor
        if cursor is None:
            break
    assert names == ["ann", "ben", "cat", "dan", "eve"]
    first = await execute(peers[0].client, ListPeers())
    assert isinstance(first, res.PeersListed) and first.next is None and first.total == 5
