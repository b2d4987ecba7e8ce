"""LOOKUP and cursor paging of LIST_PEERS / LIST_ROOMS, against a real tracker."""

from __future__ import annotations

from commons.models import PeerInfo


async def test_lookup_finds_one_online_user_ignoring_case(tracker, user):
    alice = await user(tracker, "alice")
    bob = await user(tracker, "Bob", port=4242)
    reply = await alice.request("LOOKUP", user="bob")
    assert reply["status"] == "OK"
    peer = PeerInfo.from_wire(reply["peer"])
    assert (peer.username, peer.identity_key) == ("Bob", bob.identity_key)
    assert "port" not in reply["peer"] and "host" not in reply["peer"]
    await bob.request("LOGOUT")
    await bob.wait_closed()
    gone = await alice.request("LOOKUP", user="Bob")
    assert gone["code"] == "user_offline"
    assert (await alice.request("LOOKUP", user="nobody"))["code"] == "user_offline"


async def test_lookup_needs_a_valid_user_field_and_a_login(tracker, connect, user):
    alice = await user(tracker, "alice")
    assert (await alice.request("LOOKUP"))["code"] == "invalid_field"
    assert (await alice.request("LOOKUP", user="a b"))["code"] == "invalid_field"
    stranger = await connect(tracker)
    assert (await stranger.request("LOOKUP", user="alice"))["code"] == "not_authenticated"


async def test_list_peers_pages_with_a_cursor(tracker, user):
    names = [f"user{i:02d}" for i in range(7)]
    clients = [await user(tracker, name) for name in names]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        fields = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        reply = await clients[0].request("LIST_PEERS", **fields)
        assert reply["total"] == 7
        seen += [p["username"] for p in reply["peers"]]
        pages += 1
        cursor = reply["next"]
        assert reply["truncated"] is (cursor is not None)
        if cursor is None:
            break
    assert seen == names
    assert pages == 3


async def test_unpaged_list_is_the_first_page_with_a_cursor(tracker_factory, user):
    tracker = await tracker_factory(max_frame_size=2048)
    clients = [await user(tracker, f"user{i:02d}") for i in range(20)]
    first = await clients[0].request("LIST_PEERS")
    assert first["truncated"] is True and first["total"] == 20
    shown = [p["username"] for p in first["peers"]]
    assert 0 < len(shown) < 20
    assert first["next"] == shown[-1]
    rest = await clients[0].request("LIST_PEERS", cursor=first["next"])
    assert rest["peers"][0]["username"] == f"user{len(shown):02d}"


async def test_list_rooms_pages_in_name_order(tracker, user):
    owners = [await user(tracker, f"owner{i}") for i in range(4)]
    for i, owner in enumerate(owners):
        assert (await owner.request("CREATE_ROOM", room=f"room{3 - i}"))["status"] == "OK"
    page = await owners[0].request("LIST_ROOMS", limit=2)
    assert [r["room"] for r in page["rooms"]] == ["room0", "room1"]
    rest = await owners[0].request("LIST_ROOMS", limit=2, cursor=page["next"])
    assert [r["room"] for r in rest["rooms"]] == ["room2", "room3"]
    assert rest["next"] is None and rest["truncated"] is False


async def test_bad_paging_fields_are_refused(tracker, user):
    alice = await user(tracker, "alice")
    for fields in ({"limit": 0}, {"limit": 1001}, {"limit": True}, {"cursor": ""}, {"cursor": 5}):
        reply = await alice.request("LIST_PEERS", **fields)
        assert reply["code"] == "invalid_field", fields
