"""Replies, reactions, edits, deletes, ``/me``, typing and read markers between three real
batch processes on a real tracker (TLS on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.batch_process import BatchProcess
from tracker.server.server import TrackerServer


async def _three_in_a_room(tracker: TrackerServer, home: Path) -> list[BatchProcess]:
    peers = await asyncio.gather(
        *(BatchProcess.logged_in(tracker, home / name, name) for name in ("alice", "bob", "carol"))
    )
    alice, bob, carol = peers
    alice.send("/create lobby")
    await alice.expect("room_created", room="lobby")
    for joiner in (bob, carol):
        joiner.send("/join lobby")
        await joiner.expect("joined", room="lobby")
    for proc, others in (
        (alice, ("bob", "carol")),
        (bob, ("alice", "carol")),
        (carol, ("alice", "bob")),
    ):
        for other in others:
            await proc.expect("channel_opened", user=other)
    return list(peers)


async def test_three_batch_peers_reply_react_edit_delete_type_and_read(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    peers = await _three_in_a_room(tracker, tmp_path)
    alice, bob, carol = peers
    try:
        alice.send("hello")
        first = (await alice.expect("sent", room="lobby"))["msg_id"]
        for proc in (bob, carol):
            await proc.expect("message", msg_id=first, reply_to=None, me=False)

        bob.send(f"/reply {first} hi back")
        reply = (await bob.expect("sent", room="lobby"))["msg_id"]
        quote = {"from": "alice", "msg_id": first}
        for proc in (alice, carol):
            got = await proc.expect("message", msg_id=reply, reply_to=quote)
            assert (got["from"], got["text"]) == ("bob", "hi back")

        carol.send(f"/react {first} 👩‍💻")
        reaction = (await carol.expect("sent", room="lobby"))["msg_id"]
        for proc in (alice, bob):
            got = await proc.expect("reaction", user="carol", emoji="👩‍💻", on=True)
            assert got["target"] == quote
        await carol.expect("delivered", msg_id=reaction, user="alice")
        await carol.expect("delivered", msg_id=reaction, user="bob")
        carol.send(f"/react {first} 👍👍")
        await carol.expect("error", code="invalid_field")

        alice.send(f"/edit {first} hello, all")
        await alice.expect("sent", room="lobby")
        for proc in (bob, carol):
            got = await proc.expect("edited", user="alice", msg_id=first)
            assert got["text"] == "hello, all"
        bob.send(f"/edit {first} alice owes bob")  # not bob's message
        await bob.expect("error", command="edit")

        bob.send(f"/unsend {reply}")
        await bob.expect("sent", room="lobby")
        for proc in (alice, carol):
            await proc.expect("deleted", user="bob", msg_id=reply)
        carol.send(f"/unsend {first}")
        await carol.expect("error", command="unsend")

        alice.send("/me waves")
        action = (await alice.expect("sent", room="lobby"))["msg_id"]
        for proc in (bob, carol):
            got = await proc.expect("message", msg_id=action, me=True)
            assert got["text"] == "waves"

        bob.send("/typing on")
        assert (await bob.expect("signalled", kind="typing"))["sent"] is True
        bob.send("/typing on")  # within 3 s: not sent again
        assert (await bob.expect("signalled", kind="typing"))["sent"] is False
        for proc in (alice, carol):
            await proc.expect("typing", user="bob", room="lobby", active=True)
        bob.send("/typing off")
        for proc in (alice, carol):
            await proc.expect("typing", user="bob", room="lobby", active=False)

        carol.send(f"/read {action}")
        assert (await carol.expect("signalled", kind="read"))["sent"] is True
        for proc in (alice, bob):
            got = await proc.expect("read", user="carol", room="lobby")
            assert got["up_to"] == {"from": "alice", "msg_id": action}

        alice.send("/msg bob just you")
        private = (await alice.expect("sent", to="bob"))["msg_id"]
        await bob.expect("message", msg_id=private, room=None)
        bob.send(f"/react {private} ❤️")
        got = await alice.expect("reaction", user="bob", room=None)
        assert got["target"] == {"from": "alice", "msg_id": private}
        bob.send("/typing on alice")
        await alice.expect("typing", user="bob", room=None, active=True)
        assert not [o for o in carol.seen if o["event"] == "typing" and o["room"] is None]
    finally:
        for proc in peers:
            await proc.stop()
