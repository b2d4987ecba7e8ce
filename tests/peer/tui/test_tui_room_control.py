"""The terminal chat's room control: an owner's commands and what the kicked user sees.

Real clients on a real tracker; the controller and the model are the chat screen's,
without the screen (the lines asserted are the ones it would draw).
"""

from __future__ import annotations

from peer.events import InvitedToRoom, RemovedFromRoom
from peer.tui.model.buffers import room_buffer
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.controller import ChatController
from tests.conftest import TrackerFactory
from tests.peers import PeerFactory, PeerHandle
from tracker.server.server import TrackerServer


def _screen(peer: PeerHandle) -> ChatController:
    assert peer.client.username is not None
    return ChatController(peer.client, ChatModel(peer.client.username))


def _lines(controller: ChatController) -> list[str]:
    return [line.text for buffer in controller.model.buffers for line in buffer.lines]


async def test_owner_commands_and_the_kicked_users_screen(
    tracker: TrackerServer, peer_factory: PeerFactory
) -> None:
    owner, bob = await peer_factory(tracker, "owner"), await peer_factory(tracker, "bob")
    owner_screen, bob_screen = _screen(owner), _screen(bob)
    await owner_screen.handle_line("/create private --invite-only")
    await owner_screen.handle_line("/invite bob")
    invited = await bob.wait_for(InvitedToRoom)
    bob_screen.handle_event(invited[0])
    assert any("/join private" in line for line in _lines(bob_screen))

    await bob_screen.handle_line("/join private")
    assert bob_screen.model.room == "private"
    await owner_screen.handle_line("/access")
    await owner_screen.handle_line("/kick bob")
    shown = _lines(owner_screen)
    assert "#private is invite-only" in shown and "  invited: bob" in shown
    assert "kicked bob in #private" in shown

    removed = await bob.wait_for(RemovedFromRoom)
    bob_screen.handle_event(removed[0])
    assert bob_screen.model.room is None
    buffer = bob_screen.model.buffers.get(room_buffer("private"))
    assert buffer is not None and buffer.lines[-1].text == "owner removed you from #private"

    await owner_screen.handle_line("/peers")
    assert "2 users online:" in _lines(owner_screen)
    await owner_screen.handle_line("/kick nobody")  # an error line, never an exception
    assert any(line.endswith("[not_in_room]") for line in _lines(owner_screen))


async def test_inviting_into_a_full_room_tells_the_owner(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory
) -> None:
    tracker = await tracker_factory(room_capacity=2)
    owner, bob = await peer_factory(tracker, "owner"), await peer_factory(tracker, "bob")
    await peer_factory(tracker, "carol")
    owner_screen = _screen(owner)
    await owner_screen.handle_line("/create pair")
    await owner_screen.handle_line("/invite carol")  # a seat is free: no warning
    await bob.client.join_room("pair")
    await owner_screen.handle_line("/invite carol")
    shown = _lines(owner_screen)
    assert shown.count("invited carol in #pair") == 2
    assert [line for line in shown if "full" in line] == [
        "  #pair is full (2/2): carol can join once someone leaves"
    ]
    await owner_screen.handle_line("/list")
    assert "  #pair  2/2  owner owner  members: owner, bob" in _lines(owner_screen)
