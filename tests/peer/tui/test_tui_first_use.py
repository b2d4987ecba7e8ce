"""First-use items of the chat screen: one clear final state when a login elsewhere
ends the session, and hints under the input that follow what the user learns of a
room (ban, unban, deletion, a new room of the same name).

Real clients on a real tracker; the hints are the chat screen's placeholder, drawn
from the model each redraw (:func:`peer.tui.model.status_lines.placeholder`).
"""

from __future__ import annotations

from pathlib import Path

from peer.events import (
    ClientEvent,
    ConnectionLost,
    InvitedToRoom,
    RemovedFromRoom,
    RoomDeleted,
    SessionReplaced,
)
from peer.tui.app import ChatApp
from peer.tui.chat_screen import ChatScreen
from peer.tui.model.buffers import STATUS, BufferId, room_buffer
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.controller import ChatController
from peer.tui.model.status_lines import placeholder, topbar
from tests.peer.tui.conftest import PASSWORD, make_client, until
from tests.peers import PeerFactory, PeerHandle
from tracker.server.server import TrackerServer


def screen_of(peer: PeerHandle) -> ChatController:
    assert peer.client.username is not None
    return ChatController(peer.client, ChatModel(peer.client.username))


# ------------------------------------------------------------- a login elsewhere


def test_a_replaced_session_ends_once_and_leaves_the_room() -> None:
    model = ChatModel("alice")
    model.set_room("lobby", ["alice", "bob"], "bob")
    model.buffers.switch_to(room_buffer("lobby"))
    model.apply(SessionReplaced())
    model.apply(ConnectionLost("the tracker closed the connection"))
    texts = [line.text for buffer in model.buffers for line in buffer.lines]
    assert not any("reconnecting" in text for text in texts)
    assert sum("logged in somewhere else" in text for text in texts) == 2  # status, #lobby
    assert model.room is None and model.members == []
    assert "session ended" in topbar(model, "t").plain
    assert "#lobby" not in topbar(model, "t").plain
    assert "session has ended" in placeholder(model)
    lobby = model.buffers.get(room_buffer("lobby"))
    assert lobby is not None and not lobby.active


async def test_a_login_elsewhere_shows_one_final_state(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    await bob.client.create_room("lobby")
    home = tmp_path / "home-alice"
    client = make_client(tracker, home)
    await client.connect()
    await client.register("alice", PASSWORD)
    await client.login("alice", PASSWORD)
    await client.join_room("lobby")
    app = ChatApp(client, tracker_label="t", home=home)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "chat screen")
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        await until(pilot, lambda: chat.model.room == "lobby", "in the room")
        handled: list[ClientEvent] = []
        handle = chat.controller.handle_event

        def recording(event: ClientEvent) -> list[BufferId]:
            handled.append(event)
            return handle(event)

        chat.controller.handle_event = recording  # type: ignore[method-assign]
        # the same account logs in on another machine (its own key, replaced)
        other = await peer_factory(
            tracker, "alice", PASSWORD, login=False, home=tmp_path / "other-machine"
        )
        await other.client.login("alice", PASSWORD, replace_key=True)
        ended = (SessionReplaced, ConnectionLost)
        await until(
            pilot, lambda: all(any(isinstance(e, k) for e in handled) for k in ended), "both"
        )
        await pilot.pause()
        texts = [line.text for buffer in chat.model.buffers for line in buffer.lines]
        assert not any("reconnecting" in text for text in texts)
        top = chat.query_one("#topbar").render()
        assert "session ended" in str(top) and "#lobby" not in str(top)
        assert chat.model.room is None
        assert "session has ended" in chat.query_one("#input").placeholder  # type: ignore[attr-defined]
        await app.shutdown()


# ------------------------------------------------------------- hints that follow


async def test_hints_follow_bans_unbans_and_deletions(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    owner, bob = await peer_factory(tracker, "owner"), await peer_factory(tracker, "bob")
    owner_screen, bob_screen = screen_of(owner), screen_of(bob)
    model = bob_screen.model
    await owner_screen.handle_line("/create den")
    await bob_screen.handle_line("/join den")
    assert model.room == "den" and model.buffers.current.id == room_buffer("den")
    assert placeholder(model).startswith("message #den")

    # banned: the hint says so; a /join refused as banned keeps saying it
    await owner_screen.handle_line("/ban bob")
    bob_screen.handle_event((await bob.wait_for(RemovedFromRoom))[0])
    model.buffers.switch_to(room_buffer("den"))
    assert "banned you from #den" in placeholder(model)
    await bob_screen.handle_line("/join den")
    assert "banned you from #den" in placeholder(model)
    # unbanned (nobody tells bob): the hint says how back in; the /join that works clears it
    await owner_screen.handle_line("/unban bob")
    assert "/join once unbanned" in placeholder(model)
    await bob_screen.handle_line("/join den")
    assert placeholder(model).startswith("message #den")

    # deleted, then the name is taken again: /rooms shows it exists, the hint follows
    await owner_screen.handle_line("/delete den")
    bob_screen.handle_event((await bob.wait_for(RoomDeleted))[0])
    model.buffers.switch_to(room_buffer("den"))
    assert "#den was deleted" in placeholder(model)
    await owner_screen.handle_line("/create den")
    await bob_screen.handle_line("/list")
    assert placeholder(model) == "you left #den: /join den to come back"

    # banned again, then unbanned and invited: the invitation clears the ban
    await bob_screen.handle_line("/join den")
    await owner_screen.handle_line("/ban bob")
    removed = await bob.wait_for(RemovedFromRoom, count=2)
    bob_screen.handle_event(removed[-1])
    model.buffers.switch_to(room_buffer("den"))
    assert "banned you from #den" in placeholder(model)
    await owner_screen.handle_line("/unban bob")
    await owner_screen.handle_line("/invite bob")
    bob_screen.handle_event((await bob.wait_for(InvitedToRoom))[0])
    assert placeholder(model) == "you left #den: /join den to come back"

    # deleted while bob was not in it (no push to him): a /join refused as not found says so
    await owner_screen.handle_line("/delete den")
    await bob_screen.handle_line("/join den")
    assert "#den was deleted" in placeholder(model)
    assert model.buffers.get(STATUS) is not None
