"""The chat in several rooms at once: a buffer per room in join order after the status
buffer (the same after a restart), private buffers after the rooms, presence notices and
the member list's online marks.

The model tests run without a tracker; the Pilot test needs a tracker with durable
membership and several rooms per user (spec21).
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from peer.events import (
    MemberOffline,
    MemberOnline,
    MessageReceived,
    RoomsRestored,
)
from peer.tui.model.buffers import STATUS, BufferList, private_buffer, room_buffer
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.joined_rooms import RoomView
from peer.tui.model.rendering import render_members
from tests.peer.tui.conftest import until
from tests.peer.tui.test_tui_daily_use import SIZE, chat_of, log_text, logged_in_app
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer


def ids(buffers: BufferList) -> list[str]:
    return [b.id.label for b in buffers]


def test_room_buffers_follow_the_status_buffer_in_join_order_and_privates_come_after() -> None:
    model = ChatModel("alice", clock=lambda: 0.0)
    model.open_private("bob")  # a private buffer opened before any room
    model.set_rooms(
        [RoomView("den", "bob", ["alice", "bob"]), RoomView("lobby", "alice", ["alice"])]
    )
    assert ids(model.buffers) == ["status", "#den", "#lobby", "@bob"]
    model.buffers.switch_to(private_buffer("bob"))
    # A restart gets the rooms in the tracker's (join) order whatever was shown.
    model.set_rooms([RoomView("den", "bob", ["alice"]), RoomView("lobby", "alice", ["alice"])])
    assert ids(model.buffers) == ["status", "#den", "#lobby", "@bob"]
    assert model.buffers.current.id == private_buffer("bob")
    # A room joined later goes after the rooms, before the private buffers.
    model.set_rooms(
        [
            RoomView("den", "bob", ["alice"]),
            RoomView("lobby", "alice", ["alice"]),
            RoomView("attic", "eve", ["alice"]),
        ]
    )
    assert ids(model.buffers) == ["status", "#den", "#lobby", "#attic", "@bob"]


def test_the_current_room_is_the_room_buffer_shown_or_the_last_one_shown() -> None:
    model = ChatModel("alice", clock=lambda: 0.0)
    model.set_rooms(
        [RoomView("den", "bob", ["alice", "bob"]), RoomView("lobby", "alice", ["alice"])]
    )
    assert model.room == "den"  # nothing shown yet: the first in join order
    model.buffers.switch_to(room_buffer("lobby"))
    assert model.room == "lobby" and model.members == ["alice"]
    model.buffers.switch_to(STATUS)
    assert model.room == "lobby"
    model.buffers.switch_to(room_buffer("den"))
    assert model.room == "den" and model.members == ["alice", "bob"]


def test_presence_notices_go_to_each_rooms_buffer_and_the_member_list_marks_offline() -> None:
    model = ChatModel("alice", clock=lambda: 0.0)
    model.set_rooms(
        [
            RoomView("den", "bob", ["alice", "bob"]),
            RoomView("lobby", "alice", ["alice", "bob"], ["carol"]),
        ]
    )
    touched = model.apply(MemberOffline("den", "bob")) + model.apply(MemberOffline("lobby", "bob"))
    assert touched == [room_buffer("den"), room_buffer("lobby")]
    den = model.buffers.get(room_buffer("den"))
    assert den is not None and den.lines[-1].text == "bob went offline in #den"
    model.buffers.switch_to(room_buffer("lobby"))
    drawn = render_members(model).plain
    assert "1 online / 3" in drawn and "○ bob offline" in drawn and "○ carol offline" in drawn
    model.apply(MemberOnline("lobby", "carol"))
    assert "carol" in model.members
    lobby = model.buffers.get(room_buffer("lobby"))
    assert lobby is not None and lobby.lines[-1].text == "carol is online in #lobby"


def test_a_message_goes_to_its_rooms_buffer() -> None:
    model = ChatModel("alice", clock=lambda: 0.0)
    model.set_rooms(
        [RoomView("den", "bob", ["alice", "bob"]), RoomView("lobby", "alice", ["alice", "bob"])]
    )
    assert model.apply(MessageReceived("lobby", "bob", "hi lobby", 1.0, "m1")) == [
        room_buffer("lobby")
    ]
    assert model.apply(MessageReceived("den", "bob", "hi den", 1.0, "m2")) == [room_buffer("den")]
    assert model.apply(RoomsRestored(("den", "lobby"))) == [STATUS]


async def test_several_room_buffers_in_the_chat_stable_across_a_restart(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    home = tmp_path / "home-alice"
    app = await logged_in_app(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        model = chat.model
        await pilot.press(*"/create den", "enter")
        await until(pilot, lambda: "den" in model.joined, "den created")
        await pilot.press(*"/create lobby", "enter")
        await until(pilot, lambda: "lobby" in model.joined, "lobby created")
        await bob.client.join_room("den")
        await bob.client.join_room("lobby")
        assert ids(model.buffers)[:3] == ["status", "#den", "#lobby"]
        assert model.buffers.current.id == room_buffer("lobby")

        await bob.client.send_room("den", "only in the den")
        den = model.buffers.get(room_buffer("den"))
        await until(pilot, lambda: den is not None and den.unread == 1, "den unread")
        assert "#den(1)" in str(chat.query_one("#bufferbar", Static).render())
        await pilot.press(*"for the lobby", "enter")
        await bob.wait_for(
            MessageReceived, lambda e: e.text == "for the lobby" and e.room == "lobby"
        )
        await pilot.press(*"/switch #den", "enter")
        await until(pilot, lambda: model.room == "den", "den shown")
        await until(pilot, lambda: "only in the den" in log_text(chat), "den message drawn")
        await pilot.press(*"for the den", "enter")
        await bob.wait_for(MessageReceived, lambda e: e.text == "for the den" and e.room == "den")

        await bob.client.close()  # a durable tracker keeps bob's seats: offline, not left
        await until(pilot, lambda: "bob went offline in #den" in log_text(chat), "offline notice")
        assert "○ bob offline" in str(chat.query_one("#members", Static).render())
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")

    app = await logged_in_app(tracker, home)  # a restart: nothing typed
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        await until(pilot, lambda: chat.model.joined.names() == ["den", "lobby"], "rooms back")
        assert ids(chat.model.buffers)[:3] == ["status", "#den", "#lobby"]
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")


async def test_say_and_leave_name_a_room_from_any_buffer(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        model = chat.model
        await pilot.press(*"/create lobby", "enter")
        await until(pilot, lambda: "lobby" in model.joined, "lobby created")
        await bob.client.join_room("lobby")
        await app.client.wait_channels()  # type: ignore[attr-defined]
        await pilot.press("f1")
        assert model.buffers.current.id == STATUS
        await pilot.press(*"/say #lobby from the status buffer", "enter")
        got = await bob.wait_for(MessageReceived, lambda e: e.text == "from the status buffer")
        assert got[0].room == "lobby"
        lobby = model.buffers.get(room_buffer("lobby"))
        assert lobby is not None and lobby.lines[-1].text == "from the status buffer"
        await pilot.press(*"/leave", "enter")  # the room shown last
        await until(pilot, lambda: "lobby" not in model.joined, "left lobby")
        assert app.client.rooms == []  # type: ignore[attr-defined]
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")


async def test_at_80_columns_the_members_panel_gives_way_to_the_messages(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    app = await logged_in_app(tracker, tmp_path / "home")
    async with app.run_test(size=(80, 24)) as pilot:
        chat = await chat_of(pilot, app)
        await pilot.press(*"/create lobby", "enter")
        await until(pilot, lambda: chat.model.room == "lobby", "in the lobby")
        members = chat.query_one("#members", Static)
        assert not members.display
        await pilot.resize_terminal(110, 30)
        await until(pilot, lambda: members.display, "panel shown when wide")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")
