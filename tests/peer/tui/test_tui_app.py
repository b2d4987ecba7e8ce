"""The chat UI driven headless by Textual's Pilot, against a real tracker and real peers.

One session as a user lives it: create an account on the login screen (key fingerprint
shown), join a room, send and receive (the sender's nick drawn in its colour), see a
join notice, switch to a private conversation and back with the unread counts right,
get the key-changed warning, have a send to that user blocked, decide with /trust, and
quit with Ctrl+C, which logs out.
"""

from __future__ import annotations

from pathlib import Path

from rich.segment import Segment
from textual.widgets import Input, Static

from crypto.pinning import TrustState
from peer.events import MessageReceived
from peer.tui.app import ChatApp
from peer.tui.chat_screen import ChatScreen
from peer.tui.login import LoginScreen
from peer.tui.message_log import MessageLog
from peer.tui.model.buffers import LineKind, private_buffer, room_buffer
from peer.tui.model.nick_colors import nick_color
from peer.tui.widgets import KeyChangedDialog, group_fingerprint
from tests.peer.tui.conftest import PASSWORD, click, make_client, until
from tests.peers import DEFAULT_PASSWORD, PeerFactory
from tracker.server.server import TrackerServer


def log_segments(screen: ChatScreen) -> list[Segment]:
    log = screen.query_one("#log", MessageLog)
    return [segment for strip in log.lines for segment in strip]


def log_text(screen: ChatScreen) -> str:
    log = screen.query_one("#log", MessageLog)
    return "\n".join(strip.text for strip in log.lines)


def static_text(screen: ChatScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_full_session(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    await bob.client.create_room("lobby")
    home = tmp_path / "home-alice"
    client = make_client(tracker, home)
    app = ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}", home=home)

    async with app.run_test(size=(120, 40)) as pilot:
        # -- first run: create the account; the password is never drawn ------------------
        login = app.screen
        assert isinstance(login, LoginScreen) and login.registering
        await pilot.press(*"alice", "enter", *PASSWORD, "enter", *PASSWORD)
        assert PASSWORD not in app.export_screenshot()
        await pilot.press("enter")
        await until(pilot, lambda: login.query_one("#done").has_class("shown"), "fingerprint")
        shown = str(login.query_one("#fingerprint", Static).render())
        assert shown == group_fingerprint(client.fingerprint())
        assert login.query_one("#password", Input).value == ""
        await click(pilot, "#continue")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "chat screen")
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        model = chat.model

        # -- join a room, send, receive with the nick in its colour ------------------------
        await pilot.press(*"/join lobby", "enter")
        await until(pilot, lambda: model.room == "lobby", "joined lobby")
        assert model.buffers.current.id == room_buffer("lobby")
        assert "bob" in static_text(chat, "#members")
        await pilot.press(*"hello bob", "enter")
        await bob.wait_for(MessageReceived, lambda e: e.text == "hello bob")
        # bob's client acknowledged it: the line ends with the delivered mark
        await until(pilot, lambda: "hello bob \u2713" in log_text(chat), "delivered mark")
        await bob.client.send_room("lobby", "hi alice")
        await until(pilot, lambda: "hi alice" in log_text(chat), "bob's message drawn")
        bob_nicks = [s for s in log_segments(chat) if s.text.strip() == "bob" and s.style]
        assert bob_nicks
        color = bob_nicks[0].style.color  # type: ignore[union-attr]
        assert color is not None and color.triplet is not None
        assert color.triplet.hex == nick_color("bob")

        # -- a third user joins: a notice, and the members panel grows -----------------------
        carol = await peer_factory(tracker, "carol")
        await carol.client.join_room("lobby")
        await until(pilot, lambda: "carol joined #lobby" in log_text(chat), "join notice")
        assert "carol" in model.members
        notices = [line for line in model.buffers.current.lines if "carol joined" in line.text]
        assert notices[0].kind is LineKind.NOTICE

        # -- a private message arrives while the room is shown ------------------------------
        await bob.client.send_private("alice", "psst")
        bob_buffer = private_buffer("bob")

        def bob_unread() -> int:
            buffer = model.buffers.get(bob_buffer)
            return -1 if buffer is None else buffer.unread

        await until(pilot, lambda: bob_unread() == 1, "private unread count")
        assert "@bob(1)" in static_text(chat, "#bufferbar")
        assert "psst" not in log_text(chat)

        # switch with F3, the count clears; room traffic now counts for #lobby
        await pilot.press("f3")
        assert model.buffers.current.id == bob_buffer and bob_unread() == 0
        await until(pilot, lambda: "psst" in log_text(chat), "private message drawn")
        await carol.client.send_room("lobby", "while you were away")
        lobby = model.buffers.get(room_buffer("lobby"))
        assert lobby is not None
        await until(pilot, lambda: lobby.unread == 1, "room unread count")
        assert "#lobby(1)" in static_text(chat, "#bufferbar")
        await pilot.press(*"hey bob", "enter")
        await bob.wait_for(MessageReceived, lambda e: e.text == "hey bob" and e.room is None)
        await pilot.press(*"/switch #lobby", "enter")
        await until(pilot, lambda: model.buffers.current is lobby, "back in the room")
        assert lobby.unread == 0
        await until(pilot, lambda: "while you were away" in log_text(chat), "room backlog")
        assert "#lobby(" not in static_text(chat, "#bufferbar")

        # -- bob's key changes: the warning, the blocked send, the decision ----------------
        await client.wait_channels()  # alice pinned bob's first key before it changes
        assert client.trust_state("bob") is not None
        await bob.close()  # bob sets up p2pchat again on another machine
        await until(pilot, lambda: "bob" not in model.members, "bob gone")
        bob2 = await peer_factory(tracker, "bob", login=False, home=tmp_path / "home-bob-new")
        await bob2.client.login("bob", DEFAULT_PASSWORD, replace_key=True)
        await until(pilot, lambda: isinstance(app.screen, KeyChangedDialog), "key dialog")
        assert model.verification_of("bob") is TrustState.KEY_CHANGED
        assert chat.query_one("#banner").has_class("shown")
        assert "IDENTITY KEY CHANGED" in static_text(chat, "#banner")
        await click(pilot, "#later")
        await until(pilot, lambda: app.screen is chat, "dialog closed")
        await pilot.press(*"/msg bob are you there", "enter")
        await until(
            pilot,
            lambda: any("not sent" in line.text for line in model.buffers.current.lines),
            "blocked send warning",
        )
        assert model.buffers.current.lines[-1].kind is LineKind.WARNING
        # a room message goes to carol, not to bob's unaccepted key: the red mark says so
        await bob2.client.join_room("lobby")
        await until(pilot, lambda: "bob" in model.members, "bob back in the room")
        await pilot.press(*"/switch #lobby", "enter", *"room while undecided", "enter")
        await carol.wait_for(MessageReceived, lambda e: e.text == "room while undecided")
        await until(pilot, lambda: "room while undecided \u27171" in log_text(chat), "failed mark")
        await pilot.press(*"/receipts", "enter")
        await until(
            pilot,
            lambda: any(
                line.text.endswith("delivered to carol; NOT delivered to bob (key changed)")
                for line in model.buffers.current.lines
            ),
            "receipt names",
        )
        await pilot.press(*"/trust bob", "enter")
        await until(pilot, lambda: not chat.query_one("#banner").has_class("shown"), "banner")
        await pilot.press(*"/msg bob after trust", "enter")
        await bob2.wait_for(MessageReceived, lambda e: e.text == "after trust")
        assert all(e.text != "are you there" for e in bob2.of(MessageReceived))

        # -- Ctrl+C leaves the room and logs out --------------------------------------------
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "app exit")
    online = {p.username for p in (await bob2.client.list_peers()).peers}
    assert "alice" not in online
