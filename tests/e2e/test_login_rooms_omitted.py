"""A user in more full rooms than one login reply can hold still logs in, and learns who
is online in the rooms whose member entries the reply left out (``members_omitted``)."""

from __future__ import annotations

from tests.conftest import TrackerFactory
from tests.peers import PeerFactory, wait_until

ROOMS = [f"room{n}" for n in range(4)]
OTHERS = [f"member{n}" for n in range(6)]


async def test_omitted_member_lists_are_fetched_after_login(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory(max_frame_size=4096)
    bob = await peer_factory(tracker, "bob")
    for name in ROOMS:
        await bob.client.create_room(name)
    others = [await peer_factory(tracker, name) for name in OTHERS]
    for other in others:
        for name in ROOMS:
            await other.client.join_room(name)
    await bob.close()

    again = await peer_factory(tracker, "bob", login=False, home=bob.client.config.home)
    await again.client.login("bob", "pw-" + "x" * 8)  # the reply does not fit: rooms omitted
    login = again.client._session.login_reply
    assert login is not None and login.rooms is not None
    assert any(record.omitted for record in login.rooms)
    assert again.client.rooms == ROOMS

    def everyone_online() -> bool:
        return all(
            [m.username for m in again.client.room_members(name) if m.online] == ["bob", *OTHERS]
            for name in ROOMS
        )

    await wait_until(everyone_online)
