"""The chat for daily use, driven by Pilot against a real tracker and real peers.

Sign-up typed in one burst, history that survives a restart and is sealed at rest,
search across runs, scroll lock, the bell and the title, settings and their flags,
completion of rooms and users, and the tracker-down message before the password.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from textual.pilot import Pilot
from textual.widgets import Input, Static

from crypto.history_seal import derive_history_keys
from crypto.identity import IdentityKey
from crypto.keystore import TEST_KDF_PARAMS, load_or_create_identity
from crypto.login_secret import legacy_digest
from peer.__main__ import build_parser, settings_from_args
from peer.client.chat_client import ChatClient
from peer.config import PeerConfig
from peer.events import MessageReceived
from peer.history.file import HISTORY_FILE_NAME, HistoryKeyError
from peer.history.store import HistoryStore
from peer.tui.app import ChatApp
from peer.tui.chat_screen import ChatScreen
from peer.tui.login import LoginScreen
from peer.tui.message_log import MessageLog
from peer.tui.model.buffers import STATUS, LineKind, private_buffer, room_buffer
from peer.tui.model.notifications import BEL
from peer.tui.search_screen import SearchScreen
from peer.user_settings import Settings
from tests.peer.test_login_downgrade import schema_2_with
from tests.peer.tui.conftest import PASSWORD, burst, click, make_client, until
from tests.peers import PeerFactory
from tracker.server.server import TrackerServer

SIZE = (110, 30)


def log_text(chat: ChatScreen) -> str:
    return chat.query_one(MessageLog).text()


async def logged_in_app(
    tracker: TrackerServer, home: Path, name: str = "alice", **app_args: Any
) -> ChatApp:
    """The app with its client already registered (first run) or logged in."""
    client = make_client(tracker, home)
    await client.connect()
    if not (home / name).exists():
        await client.register(name, PASSWORD)
    await client.login(name, PASSWORD)
    return ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}", home=home, **app_args)


async def chat_of(pilot: Pilot[Any], app: ChatApp) -> ChatScreen:
    await until(pilot, lambda: app.chat is not None and app.chat.is_mounted, "chat screen")
    assert app.chat is not None
    return app.chat


async def history_open(pilot: Pilot[Any], chat: ChatScreen) -> None:
    await until(
        pilot,
        lambda: chat.archive is not None and chat.archive.enabled,
        "history opened",
    )


# ---------------------------------------------------------------------- sign-up


async def test_auto_typed_sign_up_never_shows_the_password(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    home = tmp_path / "home-carol"
    client = make_client(tracker, home)
    app = ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}", home=home)
    secret = "carolpw99-Secret"
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen) and login.registering
        # What KeePassXC's auto-type and tmux send-keys deliver: everything at once.
        burst(app, [*"carol", "tab", *secret, "tab", *secret, "enter"])
        done, status = login.query_one("#done"), login.query_one("#status")
        await until(pilot, lambda: done.has_class("shown") or status.has_class("error"), "end")
        assert secret not in app.export_screenshot()
        assert login.query_one("#username", Input).value == "carol"
        assert done.has_class("shown"), str(status.render())
        assert client.username == "carol"
        assert login.query_one("#password", Input).value == ""


async def test_the_card_is_as_tall_as_its_content(tracker: TrackerServer, tmp_path: Path) -> None:
    client = make_client(tracker, tmp_path / "home")
    app = ChatApp(client, tracker_label="x", home=tmp_path / "home")
    async with app.run_test(size=(100, 60)) as pilot:
        login = app.screen
        await until(pilot, lambda: login.query_one("#login-box").region.height > 0, "card")
        await pilot.press("enter", "enter", "enter")  # an empty form: an error appears
        status = login.query_one("#status")
        await until(pilot, lambda: status.has_class("error"), "error shown")
        box = login.query_one("#login-box").region
        assert box.height < 30, box  # not the whole 60-row screen
        assert status.region.y - login.query_one("#submit").region.y < 8


# ---------------------------------------------------------------------- tracker down


async def test_an_unreachable_tracker_is_reported_before_the_password(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    client = ChatClient(
        PeerConfig(tracker=("127.0.0.1", port), home=tmp_path / "home"),
        kdf_params=TEST_KDF_PARAMS,
    )
    app = ChatApp(client, tracker_label=f"127.0.0.1:{port}", home=tmp_path / "home")
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        status = login.query_one("#tracker-status", Static)
        await until(pilot, lambda: status.has_class("error"), "tracker-down message")
        text = str(status.render())
        assert "nothing is listening there" in text and f"127.0.0.1:{port}" in text
        assert "Errno" not in text
        assert login.query_one("#password", Input).value == ""  # nothing typed yet
        await client.close()


async def test_the_pinned_tracker_fingerprint_is_shown_on_first_use(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    client = ChatClient(
        PeerConfig(tracker=("127.0.0.1", tracker.port), home=home), kdf_params=TEST_KDF_PARAMS
    )
    app = ChatApp(client, tracker_label="t", home=home)
    async with app.run_test(size=SIZE) as pilot:
        status = app.screen.query_one("#tracker-status", Static)
        await until(pilot, lambda: "pinned" in str(status.render()), "pinned fingerprint")
        shown = str(status.render())
        assert tracker.cert_fingerprint.replace(":", "")[:16] in shown.replace(":", "")
        await client.close()


# ---------------------------------------------------------------------- history


async def test_history_survives_a_restart_and_is_sealed_at_rest(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    home = tmp_path / "home-alice"
    app = await logged_in_app(tracker, home)
    room_secret = "the zebra password is orange-4711"
    private_secret = "meet me by the quokka statue"
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        await history_open(pilot, chat)
        await pilot.press(*"/create lobby", "enter")
        await until(pilot, lambda: chat.model.room == "lobby", "room")
        await bob.client.join_room("lobby")
        await app.client.wait_channels()  # type: ignore[attr-defined]
        await bob.client.send_room("lobby", room_secret)
        await bob.client.send_private("alice", private_secret)
        await pilot.press(*"my own words about wombats", "enter")
        await bob.wait_for(MessageReceived, lambda e: "wombats" in e.text)
        await until(pilot, lambda: room_secret in log_text(chat), "room message")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not app.is_running, "exit")

    path = home / "alice" / HISTORY_FILE_NAME
    raw = b"".join(p.read_bytes() for p in path.parent.glob(HISTORY_FILE_NAME + "*"))
    for needle in ("zebra", "4711", "quokka", "wombats", "lobby", "bob"):
        assert needle.encode() not in raw, needle
    assert path.stat().st_mode & 0o077 == 0
    # Without the password there is no identity key, so no history key: another key fails.
    with pytest.raises(HistoryKeyError):
        HistoryStore.open(
            path, lambda salt: derive_history_keys(IdentityKey.generate(), "alice", salt)
        )

    app = await logged_in_app(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        lobby = room_buffer("lobby")
        await until(
            pilot,
            lambda: any(
                ln.text == room_secret for ln in getattr(chat.model.buffers.get(lobby), "lines", ())
            ),
            "room history restored",
        )
        restored = chat.model.buffers.get(lobby)
        assert restored is not None
        texts = [(ln.text, ln.history, ln.kind) for ln in restored.lines]
        assert (room_secret, True, LineKind.MESSAGE) in texts
        assert ("my own words about wombats", True, LineKind.OWN) in texts
        private = chat.model.buffers.get(private_buffer("bob"))
        assert private is not None and any(ln.text == private_secret for ln in private.lines)
        await pilot.press("f3" if chat.model.buffers.number_of(lobby) == 3 else "f2")
        await until(pilot, lambda: room_secret in log_text(chat), "drawn")
        assert "your history from earlier sessions" in log_text(chat) or restored.lines[-1].history
        await app.shutdown()


async def test_search_finds_a_message_from_a_previous_run(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    home = tmp_path / "home-alice"
    app = await logged_in_app(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        chat.model.open_private("bob")  # a conversation, not a stranger's request
        await history_open(pilot, chat)
        await bob.client.send_private("alice", "the archipelago trip is on Friday")
        for n in range(30):
            await bob.client.send_private("alice", f"filler message {n}")
        await until(pilot, lambda: chat.model.buffers.highlights >= 31, "messages")
        await app.shutdown()

    app = await logged_in_app(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        await history_open(pilot, chat)
        await pilot.press("ctrl+r", *"archi")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen), "search dialog")
        dialog = app.screen
        status = dialog.query_one("#search-status", Static)
        await until(pilot, lambda: "1 match" in str(status.render()), "one hit")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is chat, "jumped")
        assert chat.model.buffers.current.id == private_buffer("bob")
        log = chat.query_one(MessageLog)
        await until(pilot, lambda: "archipelago" in log.text(), "hit drawn")
        marked = [s for s in log.segments() if s.text == "archi" and s.style and s.style.reverse]
        assert marked, "the matching word is marked"
        await app.shutdown()


async def test_no_history_is_kept_with_zero_days(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    home = tmp_path / "home-alice"
    settings = Settings()
    settings.set("history.days", 0, "flag")
    app = await logged_in_app(tracker, home, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        chat.model.open_private("bob")  # a conversation, not a stranger's request
        await bob.client.send_private("alice", "nothing of this is kept")
        await until(pilot, lambda: chat.model.buffers.highlights == 1, "message")
        await app.shutdown()
    assert not (home / "alice" / HISTORY_FILE_NAME).exists()


async def test_clear_history_deletes_everything_kept(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    home = tmp_path / "home-alice"
    app = await logged_in_app(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        chat.model.open_private("bob")  # a conversation, not a stranger's request
        await history_open(pilot, chat)
        await bob.client.send_private("alice", "forget me soon")
        await until(pilot, lambda: chat.model.buffers.highlights == 1, "message")
        assert chat.archive is not None
        await chat.archive.flush()
        await pilot.press(*"/clear-history", "enter")
        await until(pilot, lambda: "history was deleted" in log_text(chat), "cleared")
        await app.shutdown()
    app = await logged_in_app(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        await history_open(pilot, chat)
        await pilot.press(*"/search -all forget", "enter")
        await until(pilot, lambda: isinstance(app.screen, SearchScreen), "dialog")
        status = app.screen.query_one("#search-status", Static)
        await until(pilot, lambda: "no match" in str(status.render()), "nothing found")
        await app.shutdown()


# ---------------------------------------------------------------------- scrolling


async def test_scroll_lock_keeps_the_view_while_50_messages_arrive(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        await pilot.press(*"/query bob", "enter")
        await until(pilot, lambda: chat.model.buffers.current.id == private_buffer("bob"), "@bob")
        for n in range(60):
            await bob.client.send_private("alice", f"earlier {n}")
        buffer = chat.model.buffers.current
        await until(pilot, lambda: buffer.total >= 60, "first 60")
        log = chat.query_one(MessageLog)
        await until(pilot, lambda: log.max_scroll_y > 0 and log.at_end, "at the end")
        await pilot.press("pageup", "pageup")
        await until(pilot, lambda: not log.at_end, "scrolled up")
        top = log.scroll_offset.y
        for n in range(50):
            await bob.client.send_private("alice", f"while reading {n}")
        await until(pilot, lambda: buffer.total >= 110, "50 more")
        await pilot.pause(0.1)
        assert log.scroll_offset.y == top  # the view did not move
        below = chat.query_one("#below", Static)
        assert below.has_class("shown") and "50 new lines below" in str(below.render())
        await pilot.press("end")  # the input line is empty: End goes to the newest
        await until(pilot, lambda: log.at_end, "back at the end")
        assert not below.has_class("shown")
        assert "while reading 49" in log.text()
        await app.shutdown()


async def test_full_scrollback_after_a_switch_and_the_read_marker(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        for n in range(1500):
            chat.model.add(private_buffer("bob"), LineKind.NOTICE, f"old line {n}")
        await bob.client.send_private("alice", "read before leaving")
        await pilot.press(*"/switch @bob", "enter")
        await until(pilot, lambda: "read before leaving" in log_text(chat), "shown")
        await pilot.press("f1")
        await bob.client.send_private("alice", "arrived while away")
        await until(pilot, lambda: chat.model.buffers.highlights == 1, "unread")
        await pilot.press(*"/switch @bob", "enter")
        await until(pilot, lambda: "arrived while away" in log_text(chat), "back")
        text = log_text(chat)
        assert "old line 0" in text  # all 1,500+ kept lines, not the last 500
        assert text.index("read before leaving") < text.index("new since you last looked")
        assert text.index("new since you last looked") < text.index("arrived while away")
        await app.shutdown()


# ---------------------------------------------------------------------- notifications


async def test_a_private_message_rings_the_bell_and_updates_the_title(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        chat.model.open_private("bob")  # a conversation, not a stranger's request
        sent = app.terminal.sent
        await until(pilot, lambda: any("\x1b]2;p2pchat - alice" in s for s in sent), "title")
        before = len(sent)
        await bob.client.send_private("alice", "are you there?")
        await until(pilot, lambda: BEL in list(sent)[before:], "bell")
        await until(
            pilot, lambda: "\x1b]2;(1) p2pchat - alice\x07" in list(sent), "unread in title"
        )
        # Reading that buffer: no bell for the next one, and the count goes.
        await pilot.press("f2")
        assert chat.model.buffers.current.id == private_buffer("bob")
        await until(pilot, lambda: list(sent)[-1] == "\x1b]2;p2pchat - alice\x07", "read")
        mark = len(sent)
        await bob.client.send_private("alice", "hello again")
        await until(pilot, lambda: "hello again" in log_text(chat), "shown")
        assert BEL not in list(sent)[mark:]
        await app.shutdown()
        assert list(sent)[-1] == "\x1b[23;0t"  # the user's own title comes back


async def test_the_bell_can_be_turned_off(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    settings = Settings()
    settings.set("notifications.bell", False, "flag")
    app = await logged_in_app(tracker, tmp_path / "home-alice", settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        chat.model.open_private("bob")  # a conversation, not a stranger's request
        await bob.client.send_private("alice", "quiet please")
        await until(pilot, lambda: chat.model.buffers.highlights == 1, "message")
        assert BEL not in app.terminal.sent
        await pilot.press(*"/set bell on", "enter")
        await until(pilot, lambda: "notifications.bell = true" in log_text(chat), "set")
        await bob.client.send_private("alice", "now ring")
        await until(pilot, lambda: BEL in app.terminal.sent, "bell after /set")
        await app.shutdown()


# ---------------------------------------------------------------------- settings


async def test_config_values_and_flag_overrides_reach_the_chat(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    config = tmp_path / "config.toml"
    config.write_text(
        '[display]\ntheme = "nord"\ntimestamp_format = "%H.%M"\nnick_width = 6\n'
        "[history]\ndays = 0\n",
        encoding="utf-8",
    )
    args = build_parser().parse_args(["--config", str(config), "--theme", "gruvbox"])
    settings = settings_from_args(args)
    app = await logged_in_app(tracker, tmp_path / "home-alice", settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        assert app.theme == "gruvbox"  # the flag beats the file's "nord"
        assert chat.archive is not None and chat.archive.days == 0  # the file
        await pilot.press(*"/query bob", "enter")
        await bob.client.send_private("alice", "timestamps")
        await until(pilot, lambda: "timestamps" in log_text(chat), "message")
        line = next(ln for ln in log_text(chat).splitlines() if "timestamps" in ln)
        assert line[2] == "." and line[5] == " "  # %H.%M
        await pilot.press(*"/set", "enter")
        await until(pilot, lambda: "display.theme" in log_text(chat), "/set lists")
        listing = log_text(chat)
        assert '"gruvbox"  [flag]' in listing and '"%H.%M"  [file]' in listing
        await pilot.press(*"/set timestamp_format %H:%M:%S", "enter")
        await bob.client.send_private("alice", "seconds now")
        await until(pilot, lambda: "seconds now" in log_text(chat), "message")
        line = next(ln for ln in log_text(chat).splitlines() if "seconds now" in ln)
        assert line[2] == ":" and line[5] == ":"
        await pilot.press(*"/set theme nosuchtheme", "enter")
        await until(pilot, lambda: "no theme 'nosuchtheme'" in log_text(chat), "refused")
        assert app.theme == "gruvbox"
        await pilot.press(*"/set tracker 10.0.0.1:1", "enter")
        await until(pilot, lambda: "cannot change while the chat runs" in log_text(chat), "no")
        await app.shutdown()


# ---------------------------------------------------------------------- completion and polish


async def test_rooms_and_users_complete_from_what_was_listed(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    carol = await peer_factory(tracker, "carol")
    await carol.client.create_room("lounge")
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        field = chat.query_one("#input", Input)
        await pilot.press(*"/join lo", "tab")
        assert field.value == "/join lo"  # nothing known yet
        await pilot.press("ctrl+u", *"/list", "enter")
        await until(pilot, lambda: "1 room:" in log_text(chat), "rooms listed")
        await pilot.press(*"/join lo", "tab")
        assert field.value == "/join lounge "
        await pilot.press("ctrl+u", *"/peers", "enter")
        await until(pilot, lambda: "2 users online" in log_text(chat), "peers listed")
        await pilot.press(*"/msg ca", "tab")
        assert field.value == "/msg carol "
        await pilot.press("ctrl+u", *"/help jo", "tab")
        assert field.value == "/help join "
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                "one end-to-end encrypted channel" in log_text(chat)
                or "end-to-end encrypted channel opens" in log_text(chat)
            ),
            "help",
        )
        await app.shutdown()


async def test_a_message_over_the_limit_stays_in_the_input(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    await peer_factory(tracker, "bob")
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        await pilot.press(*"/query bob", "enter")
        field = chat.query_one("#input", Input)
        field.value = "x" * 4500
        await pilot.press("enter")
        await until(pilot, lambda: "4,500 characters" in log_text(chat), "refused")
        assert field.value == "x" * 4500
        assert "cut 500" in log_text(chat)
        await app.shutdown()


async def test_a_long_nick_keeps_the_column(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    name = "a" * 14 + "_middle_" + "z" * 10  # 32 characters
    long = await peer_factory(tracker, name)
    app = await logged_in_app(tracker, tmp_path / "home-alice")
    async with app.run_test(size=SIZE) as pilot:
        chat = await chat_of(pilot, app)
        await pilot.press(*"/create lobby", "enter")
        await until(pilot, lambda: chat.model.room == "lobby", "room")
        await long.client.join_room("lobby")
        await app.client.wait_channels()  # type: ignore[attr-defined]
        await long.client.send_room("lobby", "first")
        await pilot.press(*"second", "enter")
        await until(pilot, lambda: "first" in log_text(chat) and "second" in log_text(chat), "x")
        rows = [
            ln for ln in log_text(chat).splitlines() if ln.rstrip().endswith(("first", "second"))
        ]
        columns = {ln.index("first") if "first" in ln else ln.index("second") for ln in rows}
        assert len(columns) == 1  # both texts start in the same column
        assert "aaaaaa\u2026" in rows[0] and rows[0].count("z") >= 4  # both ends kept
        await app.shutdown()


async def test_replacing_the_key_says_why_contacts_refuse(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    bob = await peer_factory(tracker, "bob")
    await bob.client.create_room("lobby")
    first = await logged_in_app(tracker, tmp_path / "old-laptop")
    await first.client.join_room("lobby")  # type: ignore[attr-defined]
    await first.client.wait_channels()  # type: ignore[attr-defined]
    await first.client.close()  # alice moves to a new machine

    home = tmp_path / "new-laptop"
    client = make_client(tracker, home)
    app = ChatApp(client, tracker_label="t", home=home)
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen)
        await pilot.press("ctrl+t", *"alice", "tab", *PASSWORD, "enter")
        replace = login.query_one("#replace-key")
        await until(pilot, lambda: replace.has_class("shown"), "key mismatch offered")
        await pilot.click("#replace-key")
        chat = await chat_of(pilot, app)

        def said(text: str) -> bool:
            return any(text in line.text for line in chat.model.buffers.current.lines)

        assert said("you replaced your identity key")
        await pilot.press(*"/join lobby", "enter")
        await until(pilot, lambda: chat.model.room == "lobby", "joined")
        assert said("members who knew the old one refuse your channel")
        status = chat.model.buffers.get(STATUS)
        await until(pilot, lambda: status is not None and status.unread > 0, "refusal noted")
        await app.shutdown()


async def test_a_login_downgrade_is_named_on_the_login_screen(
    tracker: TrackerServer, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    alice = await peer_factory(tracker, "alice", PASSWORD)
    await alice.close()
    old_verifier = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(
        legacy_digest(PASSWORD)
    )
    await tracker.storage.set_password("alice", old_verifier, None, None)  # a restored backup
    home = tmp_path / "home-alice"
    client = make_client(tracker, home)
    app = ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}", home=home)
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen) and not login.registering
        login.query_one("#username", Input).value = "alice"
        login.query_one("#password", Input).value = PASSWORD
        await pilot.click("#submit")
        status = login.query_one("#status", Static)
        await until(pilot, lambda: status.has_class("error"), "refusal shown")
        text = str(status.render())
        assert "downgrade attack" in text and "[login_downgrade]" in text, text
        assert client.username is None
        await client.close()


async def test_an_account_of_an_older_version_is_upgraded_by_one_click(
    tracker_factory: Any, tmp_path: Path
) -> None:
    home = tmp_path / "home-olduser"
    identity, _ = load_or_create_identity(home, "olduser", PASSWORD, kdf_params=TEST_KDF_PARAMS)
    data_dir = tmp_path / "schema2"
    schema_2_with(data_dir, "olduser", identity.public_b64, PASSWORD)
    tracker = await tracker_factory(data_dir=data_dir)
    client = make_client(tracker, home)
    app = ChatApp(client, tracker_label=f"127.0.0.1:{tracker.port}", home=home)
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen) and not login.registering
        login.query_one("#password", Input).value = PASSWORD
        await pilot.click("#submit")
        upgrade = login.query_one("#legacy-login")
        await until(pilot, lambda: upgrade.has_class("shown"), "upgrade offered")
        text = str(login.query_one("#status", Static).render())
        assert "[legacy_login_refused]" in text and "nothing of it was sent" in text, text
        before = await tracker.storage.get_user("olduser")
        assert before is not None and before.salt is None  # not upgraded: nothing sent
        await click(pilot, "#legacy-login")
        await chat_of(pilot, app)
        assert client.username == "olduser"
        after = await tracker.storage.get_user("olduser")
        assert after is not None and after.salt is not None  # upgraded
        await app.shutdown()
