"""Two trackers on one PostgreSQL database serve one community."""

from __future__ import annotations

from tests.tracker_client import TrackerTestClient


async def members_update(client: TrackerTestClient, expected: list[str]) -> dict:
    """The next ROOM_UPDATE listing exactly ``expected`` (earlier ones are skipped)."""
    while True:
        update = await client.push("ROOM_UPDATE")
        if [m["username"] for m in update["members"]] == expected:
            return update


async def test_a_room_is_shared_and_pushes_cross_trackers(tracker_factory, pg_database, user):
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    alice = await user(a, "alice", port=40001)
    bob = await user(b, "bob", port=40002)

    assert (await alice.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    joined = await bob.request("JOIN_ROOM", room="lobby")
    assert joined["status"] == "OK", joined
    assert [m["username"] for m in joined["members"]] == ["alice", "bob"]
    update = await members_update(alice, ["alice", "bob"])
    assert update["members"][1]["port"] == 40002

    rooms = (await bob.request("LIST_ROOMS"))["rooms"]
    assert rooms[0]["members"] == ["alice", "bob"]
    peers = (await alice.request("LIST_PEERS"))["peers"]
    assert [p["username"] for p in peers] == ["alice", "bob"]

    assert (await bob.request("LEAVE_ROOM"))["status"] == "OK"
    await members_update(alice, ["alice"])
