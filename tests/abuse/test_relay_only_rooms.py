"""Open rooms give every member's address to anyone who joins (issue 20, LOW): a user
who enters a room relay-only gives it to nobody there.

The attack: a stranger joins an open room to collect its members' addresses, from the
``JOIN_ROOM`` reply and every ``ROOM_UPDATE`` (a raw tracker session, reading what the
tracker sends). A member who joined (or created the room) relay-only is listed without
``host``/``port`` in all of them, whoever joins first, while the others' addresses still
go to the room as before. With real clients on loopback, that member's channels to
room-mates all go through the relay, in both directions: nobody dials the listener it
still runs (behind a counting proxy) and it dials nobody directly, even a room-mate
whose address the tracker lists; chat and receipts work both ways.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from commons.codec import JsonObject
from peer.events import MessageDelivered, MessageReceived
from tests.conftest import UserFactory
from tests.e2e.batch_process import BatchProcess
from tests.e2e.proxy import FramingProxy
from tests.peers import TIMEOUT, PeerFactory
from tests.tracker_client import TrackerTestClient
from tracker.server.server import TrackerServer

SHY_PORT = 40402


async def update_listing(client: TrackerTestClient, names: list[str]) -> JsonObject:
    """The next ``ROOM_UPDATE`` whose members are exactly ``names`` (earlier ones skipped)."""
    while True:
        update = await client.push("ROOM_UPDATE")
        if sorted(m["username"] for m in update["members"]) == sorted(names):
            return update


def entry(listing: JsonObject, name: str) -> JsonObject:
    found: JsonObject = {m["username"]: m for m in listing["members"]}[name]
    return found


async def test_a_stranger_in_an_open_room_gets_no_address_of_a_relay_only_member(
    tracker: TrackerServer, user: UserFactory
) -> None:
    owner = await user(tracker, "owner", port=40401)
    shy = await user(tracker, "shy", port=SHY_PORT)
    stranger = await user(tracker, "stranger", port=40403)
    hidden = {"username": "shy", "online": True, "identity_key": shy.identity_key}

    # shy joins an open room relay-only; the stranger joins after: the reply and the
    # update it gets list shy without an address, the owner's with one.
    assert (await owner.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    joined = await shy.request("JOIN_ROOM", room="lobby", relay_only=True)
    assert joined["status"] == "OK", joined
    assert entry(await update_listing(owner, ["owner", "shy"]), "shy") == hidden
    reply = await stranger.request("JOIN_ROOM", room="lobby")
    assert reply["status"] == "OK", reply
    assert entry(reply, "shy") == hidden
    assert (entry(reply, "owner")["host"], entry(reply, "owner")["port"]) == ("127.0.0.1", 40401)
    everyone = ["owner", "shy", "stranger"]
    assert entry(await update_listing(stranger, everyone), "shy") == hidden
    assert entry(await update_listing(owner, everyone), "shy") == hidden

    # The stranger is in first: shy's own join is announced without the address either.
    assert (await shy.request("LEAVE_ROOM"))["status"] == "OK"
    await update_listing(stranger, ["owner", "stranger"])
    assert (await shy.request("JOIN_ROOM", room="lobby", relay_only=True))["status"] == "OK"
    assert entry(await update_listing(stranger, everyone), "shy") == hidden

    # A room created relay-only: its creator's address goes to nobody who joins.
    assert (await shy.request("CREATE_ROOM", room="den", relay_only=True))["status"] == "OK"
    reply = await stranger.request("JOIN_ROOM", room="den")
    assert reply["status"] == "OK", reply
    assert entry(reply, "shy") == hidden
    assert entry(await update_listing(stranger, ["shy", "stranger"]), "shy") == hidden
    assert str(SHY_PORT) not in repr(stranger.pending_pushes())

    # Joining the room one is in again changes the choice (and tells the room).
    assert (await shy.request("JOIN_ROOM", room="den"))["status"] == "OK"
    listed = entry(await update_listing(stranger, ["shy", "stranger"]), "shy")
    assert listed["port"] == SHY_PORT
    assert (await shy.request("JOIN_ROOM", room="den", relay_only=True))["status"] == "OK"
    assert entry(await update_listing(stranger, ["shy", "stranger"]), "shy") == hidden


async def test_relay_only_is_validated_as_a_boolean(
    tracker: TrackerServer, user: UserFactory
) -> None:
    shy = await user(tracker, "shy", port=SHY_PORT)
    for value in ("yes", 1, []):  # 6 bad frames: under the 8 that close a session
        reply = await shy.request("JOIN_ROOM", room="lobby", relay_only=value)
        assert (reply["status"], reply["code"]) == ("ERROR", "invalid_field"), reply
        reply = await shy.request("CREATE_ROOM", room="lobby", relay_only=value)
        assert (reply["status"], reply["code"]) == ("ERROR", "invalid_field"), reply
    assert (await shy.request("CREATE_ROOM", room="lobby", relay_only=False))["status"] == "OK"


async def test_a_relay_only_member_chats_with_room_mates_only_through_the_relay(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    """bea joins cal's open room relay-only, then abe joins it. abe's name sorts before
    bea's, so abe dials her; hers before cal's, so she dials cal, whose address the
    tracker lists. bea and cal listen behind counting proxies: bea's sees nothing, cal's
    only abe's direct dial (abe and cal still connect directly)."""
    bea_proxy, cal_proxy = FramingProxy(), FramingProxy()
    bea_port, cal_port = await bea_proxy.start(), await cal_proxy.start()
    try:
        bea = await peer_factory(tracker, "bea", advertise_port=bea_port)
        cal = await peer_factory(tracker, "cal", advertise_port=cal_port)
        bea_proxy.target, cal_proxy.target = bea.client.listen_address, cal.client.listen_address
        abe = await peer_factory(tracker, "abe")
        await cal.client.create_room("lobby")
        await bea.client.join_room("lobby", relay_only=True)
        await abe.client.join_room("lobby")
        for peer in (abe, bea, cal):
            await asyncio.wait_for(peer.client.wait_channels(), TIMEOUT)

        assert bea.client.room_relay_only and not abe.client.room_relay_only
        assert bea.client.channel_paths == {"abe": "relay", "cal": "relay"}
        assert abe.client.channel_paths == {"bea": "relay", "cal": "direct"}
        assert cal.client.channel_paths == {"abe": "direct", "bea": "relay"}

        to_room = await bea.client.send_room("lobby", "hello from nowhere")
        for peer in (abe, cal):
            await peer.wait_for(MessageReceived, lambda e: e.text == "hello from nowhere")
        await bea.wait_for(MessageDelivered, lambda e: e.msg_id == to_room.msg_id, count=2)
        await cal.client.send_room("lobby", "hello bea")
        await bea.wait_for(MessageReceived, lambda e: e.text == "hello bea")
        await abe.client.send_private("bea", "just you")
        await bea.wait_for(MessageReceived, lambda e: e.text == "just you")
        await bea.client.send_private("abe", "just you too")
        await abe.wait_for(MessageReceived, lambda e: e.text == "just you too")

        assert bea_proxy.connections == 0  # nobody dialled bea's listener
        assert cal_proxy.connections == 1  # abe's direct dial; never bea's
        assert bea.client.channel_paths == {"abe": "relay", "cal": "relay"}
    finally:
        await bea_proxy.close()
        await cal_proxy.close()


async def test_batch_join_relay_only_hides_the_address_and_chats_through_the_relay(
    tracker: TrackerServer, peer_factory: PeerFactory, user: UserFactory, tmp_path: Path
) -> None:
    """The command as a user types it: a real ``p2pchat --batch`` process (listening)
    sends ``/join lobby --relay-only``; a stranger's raw session then joins and finds no
    address for it, and its channel to cal (whose address it has) is relayed."""
    cal_proxy = FramingProxy()
    cal_port = await cal_proxy.start()
    bea = await BatchProcess.logged_in(tracker, tmp_path / "bea", "bea")
    try:
        assert bea.ready["listen"] is not None
        cal = await peer_factory(tracker, "cal", advertise_port=cal_port)
        cal_proxy.target = cal.client.listen_address
        await cal.client.create_room("lobby")
        bea.send("/join lobby --relay-only")
        joined = await bea.expect("joined", room="lobby")
        assert joined["relay_only"] is True and sorted(joined["members"]) == ["bea", "cal"]
        opened = await bea.expect("channel_opened", user="cal")
        assert opened["path"] == "relay"
        stranger = await user(tracker, "stranger")
        reply = await stranger.request("JOIN_ROOM", room="lobby")
        assert reply["status"] == "OK", reply
        assert set(entry(reply, "bea")) == {"username", "online", "identity_key"}  # no address
        bea.send("hello from nowhere")
        await cal.wait_for(MessageReceived, lambda e: e.text == "hello from nowhere")
        await cal.client.send_room("lobby", "hello bea")
        await bea.expect("message", room="lobby", text="hello bea")
        assert cal_proxy.connections == 0
    finally:
        await bea.stop()
        await cal_proxy.close()
