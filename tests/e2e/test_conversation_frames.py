"""Replies, reactions, edits, deletes, ``/me``, typing and read markers between three real
batch processes on a real tracker (TLS on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from peer import events as ev
from peer.history.archive import HistoryArchive
from peer.history.file import HISTORY_FILE_NAME
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.controller import ChatController
from tests.e2e.batch_process import TIMEOUT, BatchProcess
from tests.peers import PeerFactory
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
        carol.send(f"/read {first}")  # within 2 s: held, then sent by the timer
        assert (await carol.expect("signalled", kind="read"))["sent"] is False
        got = await alice.expect("read", user="carol", room="lobby")
        assert got["up_to"] == quote

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


async def test_the_history_keeps_the_latest_state_across_a_restart(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    """alice runs the terminal chat's controller and history in process; bob and carol
    are batch processes. What bob and carol edit, react to and delete reaches alice's
    sealed history, which shows the latest state once reopened."""
    alice = await peer_factory(tracker, "alice")
    await alice.client.create_room("lobby")
    bob, carol = await asyncio.gather(
        *(BatchProcess.logged_in(tracker, tmp_path / n, n) for n in ("bob", "carol"))
    )
    try:
        for proc in (bob, carol):
            proc.send("/join lobby")
            await proc.expect("joined", room="lobby")
        await asyncio.wait_for(alice.client.wait_channels(), TIMEOUT)
        await bob.expect("channel_opened", user="carol")
        bob.send("lunch at noon?")
        lunch = (await bob.expect("sent", room="lobby"))["msg_id"]
        await carol.expect("message", msg_id=lunch)
        carol.send("I cannot come, zebrafish")
        regret = (await carol.expect("sent", room="lobby"))["msg_id"]
        await bob.expect("message", msg_id=regret)
        carol.send(f"/react {lunch} 👍")
        bob.send(f"/edit {lunch} lunch at one?")
        carol.send(f"/unsend {regret}")
        bob.send(f"/reply {regret} too bad")
        await alice.wait_for(ev.MessageEdited, lambda e: e.msg_id == lunch)
        await alice.wait_for(ev.MessageDeleted, lambda e: e.msg_id == regret)
        await alice.wait_for(ev.ReactionChanged, lambda e: e.target.msg_id == lunch)
        await alice.wait_for(ev.MessageReceived, lambda e: e.reply_to is not None)
    finally:
        for proc in (bob, carol):
            await proc.stop()

    path = tmp_path / "alice-history" / HISTORY_FILE_NAME
    archive = HistoryArchive(path, alice.client.history_keys, days=30)
    await archive.open()
    controller = ChatController(alice.client, ChatModel("alice"), archive=archive)
    for event in list(alice.events):
        controller.handle_event(event)
    await archive.close()

    reopened = HistoryArchive(path, alice.client.history_keys, days=30)
    await reopened.open()
    try:
        kept = [s.entry for s in await reopened.recent("#lobby", 10)]
        assert [(e.sender, e.text) for e in kept] == [
            ("bob", "lunch at one?"),
            ("carol", ""),
            ("bob", "too bad"),
        ]
        assert kept[0].edited and kept[0].reactions == (("carol", "👍"),)
        assert kept[1].deleted and kept[2].reply_to == ("carol", regret)
        assert [h.entry.text for h in (await reopened.search("one", None, 10)).hits] == [
            "lunch at one?"
        ]
        assert (await reopened.search("zebrafish", None, 10)).hits == []
        assert (await reopened.search("noon", None, 10)).hits == []
    finally:
        await reopened.close()
