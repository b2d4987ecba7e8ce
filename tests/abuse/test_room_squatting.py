"""Room squatting: the owner kicks and bans, invite-only rooms, quotas, join/leave floods.

The original had no owner control and no quota: two fake accounts filled a 3-seat room
for good, and one user created 70,800 permanent rooms in 20 s.
"""

from __future__ import annotations

import time

from tests.tracker_client import TrackerTestClient


async def test_owner_kicks_and_bans_a_squatter(untrusted_tracker, user, tmp_path):
    data_dir = tmp_path / "rooms"
    tracker = await untrusted_tracker(data_dir=data_dir)
    owner = await user(tracker, "owner", source="127.0.0.3")
    assert (await owner.request("CREATE_ROOM", room="general"))["status"] == "OK"
    squatters = [await user(tracker, f"squat{i}", source="127.0.0.2") for i in range(2)]
    for squatter in squatters:
        assert (await squatter.request("JOIN_ROOM", room="general"))["status"] == "OK"
    friend = await user(tracker, "friend", source="127.0.0.4")
    assert (await friend.request("JOIN_ROOM", room="general"))["code"] == "room_full"

    kicked = await owner.request("KICK", room="general", user="squat0")
    assert kicked == {"status": "OK", "id": kicked["id"], "room": "general", "user": "squat0"}
    push = await squatters[0].push("KICKED")
    assert push == {"event": "KICKED", "room": "general", "by": "owner", "reason": "kicked"}
    # A kick is not a ban: the squatter can come back ...
    assert (await squatters[0].request("JOIN_ROOM", room="general"))["status"] == "OK"
    # ... until banned, which removes them too.
    for name, squatter in zip(("squat0", "squat1"), squatters, strict=True):
        assert (await owner.request("BAN", room="general", user=name))["status"] == "OK"
        banned = await squatter.push("KICKED")
        assert banned["reason"] == "banned"
        assert (await squatter.request("JOIN_ROOM", room="general"))["code"] == "banned"
    assert (await friend.request("JOIN_ROOM", room="general"))["status"] == "OK"
    update = await owner.push("ROOM_UPDATE")
    while [m["username"] for m in update["members"]] != ["owner", "friend"]:
        update = await owner.push("ROOM_UPDATE")
    access = await owner.request("ROOM_ACCESS", room="general")
    assert access["banned"] == ["squat0", "squat1"]
    assert (await squatters[0].request("KICK", room="general", user="owner"))["code"] == (
        "not_owner"
    )

    # Bans are kept across a restart.
    await tracker.stop()
    again = await untrusted_tracker(data_dir=data_dir)
    squatter = await TrackerTestClient.connect(
        "127.0.0.1", again.port, again.cert_path, "127.0.0.2"
    )
    squatter.identity_key = squatters[0].identity_key
    try:
        assert (await squatter.login("squat0"))["status"] == "OK"
        assert (await squatter.request("JOIN_ROOM", room="general"))["code"] == "banned"
    finally:
        await squatter.close()


async def test_invite_only_room_refuses_strangers(untrusted_tracker, user):
    tracker = await untrusted_tracker()
    owner = await user(tracker, "owner", source="127.0.0.3")
    created = await owner.request("CREATE_ROOM", room="private", invite_only=True)
    assert created["room"]["invite_only"] is True
    stranger = await user(tracker, "stranger", source="127.0.0.2")
    friend = await user(tracker, "friend", source="127.0.0.4")
    assert (await stranger.request("JOIN_ROOM", room="private"))["code"] == "not_invited"
    assert (await owner.request("INVITE", room="private", user="friend"))["status"] == "OK"
    assert await friend.push("INVITED") == {"event": "INVITED", "room": "private", "by": "owner"}
    assert (await friend.request("JOIN_ROOM", room="private"))["status"] == "OK"
    assert (await stranger.request("JOIN_ROOM", room="private"))["code"] == "not_invited"
    rooms = (await stranger.request("LIST_ROOMS"))["rooms"]
    assert rooms[0]["invite_only"] is True


async def test_room_quota_holds(untrusted_tracker, user):
    tracker = await untrusted_tracker(max_rooms=8, room_changes_burst=50)
    hoarder = await user(tracker, "hoarder", source="127.0.0.2")
    codes = [
        (await hoarder.request("CREATE_ROOM", room=f"r{i}")).get("code", "OK") for i in range(7)
    ]
    assert codes == ["OK"] * 5 + ["quota_exceeded"] * 2
    second = await user(tracker, "hoarder2", source="127.0.0.2")
    codes = [
        (await second.request("CREATE_ROOM", room=f"s{i}")).get("code", "OK") for i in range(4)
    ]
    assert codes == ["OK"] * 3 + ["quota_exceeded"]  # 8 rooms in all
    assert (await hoarder.request("DELETE_ROOM", room="r0"))["status"] == "OK"
    honest = await user(tracker, "honest", source="127.0.0.3")
    assert (await honest.request("CREATE_ROOM", room="general"))["status"] == "OK"


async def test_join_leave_flood_is_rate_limited(untrusted_tracker, user):
    tracker = await untrusted_tracker(room_changes_burst=10, room_changes_per_second=1.0)
    owner = await user(tracker, "owner", source="127.0.0.3")
    assert (await owner.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    await owner.push("ROOM_UPDATE")
    flooder = await user(tracker, "flooder", source="127.0.0.2")
    codes = []
    started = time.monotonic()
    for _ in range(100):
        codes.append((await flooder.request("JOIN_ROOM", room="lobby")).get("code", "OK"))
        codes.append((await flooder.request("LEAVE_ROOM")).get("code", "OK"))
    # The burst, plus what the rate gave back while the loop ran.
    allowed = 10 + int(time.monotonic() - started) + 1
    assert 10 <= codes.count("OK") <= allowed
    assert codes.count("rate_limited") == 200 - codes.count("OK")
    assert (await owner.request("PING"))["status"] == "OK"  # pushes before it have arrived
    updates = [p for p in owner.pending_pushes() if p["event"] == "ROOM_UPDATE"]
    assert len(updates) <= allowed
