"""Several rooms at once, end to end: real batch processes and a real TLS tracker.

Issue 21's "must show": alice, bob and carol share rooms; bob's client is killed and
restarted and is back in both rooms, in the same order, with no command typed; a message
sent to each room meanwhile by a live member reaches every live member of that room only.
The multi-room tests need a tracker with durable membership (spec21); the last one runs
the batch room commands in one room, which any tracker serves.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.e2e.batch_process import PASSWORD, BatchProcess
from tracker.server.server import TrackerServer


def messages(proc: BatchProcess, room: str | None) -> list[dict[str, Any]]:
    """The ``message`` events ``proc`` has read so far for ``room``."""
    return [o for o in proc.seen if o["event"] == "message" and o["room"] == room]


async def three_in_two_rooms(
    tracker: TrackerServer, home: Path
) -> tuple[BatchProcess, BatchProcess, BatchProcess]:
    """alice owns ``lobby`` (alice, bob, carol) and ``den`` (alice, bob)."""
    alice = await BatchProcess.logged_in(tracker, home / "alice", "alice")
    bob = await BatchProcess.logged_in(tracker, home / "bob", "bob")
    carol = await BatchProcess.logged_in(tracker, home / "carol", "carol")
    alice.send("/create lobby")
    await alice.expect("room_created", room="lobby")
    alice.send("/create den")
    await alice.expect("room_created", room="den")
    bob.send("/join lobby")
    await bob.expect("joined", room="lobby")
    bob.send("/join den")
    await bob.expect("joined", room="den")
    carol.send("/join #lobby")
    await carol.expect("joined", room="lobby")
    for proc, peers in (
        (alice, ("bob", "carol")),
        (bob, ("alice", "carol")),
        (carol, ("alice", "bob")),
    ):
        for user in peers:
            await proc.expect("channel_opened", user=user)
    return alice, bob, carol


async def test_a_member_is_in_several_rooms_and_each_message_stays_in_its_room(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    alice, bob, carol = await three_in_two_rooms(tracker, tmp_path)
    try:
        bob.send("/rooms")
        mine = await bob.expect("my_rooms")
        assert [r["room"] for r in mine["rooms"]] == ["lobby", "den"]
        den = mine["rooms"][1]
        assert den["owner"] == "alice"
        assert den["members"] == [
            {"user": "alice", "online": True},
            {"user": "bob", "online": True},
        ]

        alice.send("/say #den for the den")
        sent = await alice.expect("sent", room="den")
        assert sent["recipients"] == ["bob"]
        await bob.expect("message", room="den", text="for the den")
        # Plain lines go to the room joined last (den), then wherever /switch says.
        bob.send("plain goes to den")
        await alice.expect("message", room="den", text="plain goes to den")
        bob.send("/switch lobby")
        await bob.expect("switched", room="lobby")
        bob.send("/users")  # the current room's
        assert (await bob.expect("users"))["room"] == "lobby"
        bob.send("plain goes to the lobby")
        await carol.expect("message", room="lobby", text="plain goes to the lobby")
        await alice.expect("message", room="lobby", text="plain goes to the lobby")
        carol.send("/switch den")
        await carol.expect("error", code="not_in_room")
        assert messages(carol, "den") == []

        bob.send("/leave den")
        await bob.expect("left", room="den")
        await alice.expect("member_left", room="den", user="bob")
        bob.send("still in the lobby")  # the channel to alice is shared, and stays
        await alice.expect("message", room="lobby", text="still in the lobby")
    finally:
        for proc in (alice, bob, carol):
            await proc.stop()


async def test_a_restarted_member_is_back_in_both_rooms_with_nothing_typed(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    alice, bob, carol = await three_in_two_rooms(tracker, tmp_path)
    try:
        bob.proc.send_signal(signal.SIGKILL)
        await bob.proc.wait()
        await alice.expect("member_offline", room="lobby", user="bob")
        await alice.expect("member_offline", room="den", user="bob")
        await carol.expect("member_offline", room="lobby", user="bob")

        # Meanwhile each room goes on among its live members, and only them.
        carol.send("lobby while bob is away")
        await alice.expect("message", room="lobby", text="lobby while bob is away")
        alice.send("/say den den while bob is away")
        away = await alice.expect("sent", room="den")
        assert away["recipients"] == []

        bob = await BatchProcess.start(tracker, tmp_path / "bob")
        await bob.expect("ready")
        bob.send(f"/login bob {PASSWORD}")
        restored = await bob.expect("rooms_restored")
        assert restored["rooms"] == ["lobby", "den"]  # the same order as before
        await bob.expect("logged_in", user="bob")
        await bob.expect("channel_opened", user="alice")
        await bob.expect("channel_opened", user="carol")
        await alice.expect("member_online", room="lobby", user="bob")
        await alice.expect("member_online", room="den", user="bob")
        await carol.expect("member_online", room="lobby", user="bob")

        bob.send("/rooms")
        mine = await bob.expect("my_rooms")
        assert [r["room"] for r in mine["rooms"]] == ["lobby", "den"]
        bob.send("back, in the first room")  # after a restart: the first in join order
        await carol.expect("message", room="lobby", text="back, in the first room")
        alice.send("/say den welcome back")
        await bob.expect("message", room="den", text="welcome back")
        carol.send("/say lobby a last one")
        await bob.expect("message", room="lobby", text="a last one")
        await alice.expect("message", room="lobby", text="a last one")
        # carol is in no den: nothing of it ever reached her.
        assert messages(carol, "den") == []
        assert all(m["text"] != "den while bob is away" for m in messages(bob, "den"))
    finally:
        for proc in (alice, bob, carol):
            await proc.stop()


async def test_batch_room_commands_in_one_room(tracker: TrackerServer, tmp_path: Path) -> None:
    alice = await BatchProcess.logged_in(tracker, tmp_path / "alice", "alice")
    bob = await BatchProcess.logged_in(tracker, tmp_path / "bob", "bob")
    try:
        alice.send("/rooms")
        assert (await alice.expect("my_rooms"))["rooms"] == []
        alice.send("/create #café")
        await alice.expect("room_created", room="café")
        bob.send("/join café")
        await bob.expect("joined", room="café")
        await alice.expect("channel_opened", user="bob")
        alice.send("/rooms")
        mine = await alice.expect("my_rooms")
        assert mine["rooms"][0]["room"] == "café" and mine["rooms"][0]["owner"] == "alice"
        users = {m["user"]: m["online"] for m in mine["rooms"][0]["members"]}
        assert users == {"alice": True, "bob": True}

        alice.send("/users")
        users_listed = await alice.expect("users", room="café")
        assert users_listed["members"] == ["alice", "bob"]
        alice.send("/say café bonjour")
        await bob.expect("message", room="café", text="bonjour")
        alice.send("/say elsewhere x")
        await alice.expect("error", code="not_in_room")
        alice.send("/switch elsewhere")
        await alice.expect("error", code="not_in_room")
        alice.send("/switch café")
        await alice.expect("switched", room="café")
        alice.send("plain")
        await bob.expect("message", room="café", text="plain")
        alice.send("/msg bob private")
        private = await bob.expect("message", text="private")
        assert private["room"] is None

        bob.send("/leave")
        await bob.expect("left", room="café")
        await alice.expect("member_left", room="café", user="bob")
        bob.send("/rooms")
        assert (await bob.expect("my_rooms"))["rooms"] == []
    finally:
        for proc in (alice, bob):
            await proc.stop()
