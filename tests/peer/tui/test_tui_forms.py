"""Every form typed in one burst, as a password manager's auto-type or ``tmux send-keys``
delivers it (name, Tab, password, [Tab, password,] Enter, with no pause between keys):
sign-up, log-in with the name filled in, after Ctrl+T, after Shift+Tab, and the
key-replacing log-in. Each test checks the right action happened and that the password
was never on screen, in any frame drawn while the burst was handled. Then the dialogs:
the safe default focused and the arrow keys moving between buttons.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button, Input

from peer.tui.app import ChatApp
from peer.tui.chat_screen import ChatScreen
from peer.tui.login import LoginScreen
from peer.tui.widgets import KeyChangedDialog, PasteDialog, VerifyDialog
from tests.peer.tui.conftest import DEADLINE, PASSWORD, burst, make_client, until
from tracker.server.server import TrackerServer

SIZE = (100, 34)
SECRET = "Hunter2-burst-pw"


async def existing_account(tracker: TrackerServer, home: Path, name: str, password: str) -> None:
    """``name`` registered on the tracker with its key file in ``home``, logged out."""
    client = make_client(tracker, home)
    await client.connect()
    await client.register(name, password)
    await client.login(name, password)
    await client.close()


def app_for(tracker: TrackerServer, home: Path) -> ChatApp:
    return ChatApp(make_client(tracker, home), tracker_label="t", home=home)


async def watch(
    pilot: Pilot[Any], app: ChatApp, condition: Callable[[], object], secrets: Sequence[str]
) -> None:
    """Let the app run until ``condition()`` holds, checking every frame on the way that
    no secret is drawn and that none sits in the username field."""
    deadline = time.monotonic() + DEADLINE
    while True:
        shot = app.export_screenshot()
        for secret in secrets:
            assert secret not in shot, "a password was drawn"
            if isinstance(app.screen, LoginScreen):
                assert secret not in app.screen.query_one("#username", Input).value
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; status: {status_of(app)}")
        await pilot.pause(0.02)


def status_of(app: ChatApp) -> str:
    screen = app.screen
    return str(screen.query_one("#status").render()) if isinstance(screen, LoginScreen) else ""


def in_chat(app: ChatApp) -> Callable[[], bool]:
    return lambda: isinstance(app.screen, ChatScreen)


def typed(name: str, *passwords: str) -> list[str]:
    """What auto-type sends: the name, then Tab and each password, then Enter."""
    keys = [*name]
    for password in passwords:
        keys += ["tab", *password]
    return [*keys, "enter"]


# ---------------------------------------------------------------------- log-in


async def test_log_in_with_the_name_filled_in(tracker: TrackerServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    await existing_account(tracker, home, "alice", SECRET)
    app = app_for(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen) and not login.registering
        assert login.query_one("#username", Input).value == "alice"
        burst(app, typed("alice", SECRET))
        await watch(pilot, app, in_chat(app), [SECRET])
        assert app.client.username == "alice"
        await app.shutdown()


async def test_a_person_types_only_the_password(tracker: TrackerServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    await existing_account(tracker, home, "alice", SECRET)
    app = app_for(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        burst(app, [*SECRET, "enter"])
        await watch(pilot, app, in_chat(app), [SECRET])
        assert app.client.username == "alice"
        await app.shutdown()


async def test_log_in_after_shift_tab_into_the_name(tracker: TrackerServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    await existing_account(tracker, home, "alice", SECRET)
    app = app_for(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen)
        await pilot.press("shift+tab")
        assert login.focused is login.query_one("#username", Input)
        burst(app, typed("alice", SECRET))
        await watch(pilot, app, in_chat(app), [SECRET])
        assert app.client.username == "alice"
        await app.shutdown()


async def test_log_in_after_ctrl_t_from_sign_up(tracker: TrackerServer, tmp_path: Path) -> None:
    await existing_account(tracker, tmp_path / "old", "alice", SECRET)
    home = tmp_path / "new"  # a first run here: the screen opens on sign-up
    app = app_for(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen) and login.registering
        burst(app, ["ctrl+t", *typed("alice", SECRET)])
        replace = login.query_one("#replace-key")
        # a new machine: the tracker holds the old key, so the replace button is offered
        await watch(pilot, app, lambda: replace.has_class("shown"), [SECRET])
        assert login.query_one("#password", Input).value == SECRET  # kept for the button
        # the key-replacing log-in, by keyboard: Tab to the button, Enter
        assert login.focused is login.query_one("#password", Input)
        burst(app, ["tab", "tab", "tab", "enter"])
        await watch(pilot, app, in_chat(app), [SECRET])
        assert app.client.username == "alice" and login.replaced_key
        await app.shutdown()


# ---------------------------------------------------------------------- sign-up


async def test_sign_up_after_ctrl_t_from_log_in(tracker: TrackerServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    await existing_account(tracker, home, "alice", PASSWORD)
    app = app_for(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen) and not login.registering
        burst(app, ["ctrl+t", *typed("dave", SECRET, SECRET)])
        done = login.query_one("#done")
        await watch(pilot, app, lambda: done.has_class("shown"), [SECRET])
        assert app.client.username == "dave"
        burst(app, ["enter"])  # "Start chatting" has the focus
        await watch(pilot, app, in_chat(app), [SECRET])
        await app.shutdown()


async def test_sign_up_typed_twice_after_a_taken_name(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    await existing_account(tracker, tmp_path / "other", "alice", PASSWORD)
    home = tmp_path / "home"
    app = app_for(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen) and login.registering
        burst(app, typed("alice", SECRET, SECRET))
        await watch(pilot, app, lambda: "taken" in status_of(app), [SECRET])
        # the password manager is run again, on whatever field has the focus now
        burst(app, typed("erin", SECRET, SECRET))
        done = login.query_one("#done")
        await watch(pilot, app, lambda: done.has_class("shown"), [SECRET])
        assert app.client.username == "erin"
        await app.shutdown()


async def test_log_in_typed_again_after_a_wrong_password(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    await existing_account(tracker, home, "alice", SECRET)
    app = app_for(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        wrong = "not-the-password-7"
        burst(app, typed("alice", wrong))
        await watch(pilot, app, lambda: "wrong" in status_of(app), [wrong])
        burst(app, typed("alice", SECRET))
        await watch(pilot, app, in_chat(app), [SECRET, wrong])
        assert app.client.username == "alice"
        await app.shutdown()


async def test_sign_up_typed_again_after_the_passwords_differed(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    app = app_for(tracker, home)
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen) and login.registering
        burst(app, typed("frank", SECRET, SECRET + "x"))
        await watch(pilot, app, lambda: "differ" in status_of(app), [SECRET])
        assert login.query_one("#password", Input).value == ""
        burst(app, typed("frank", SECRET, SECRET))
        done = login.query_one("#done")
        await watch(pilot, app, lambda: done.has_class("shown"), [SECRET])
        assert app.client.username == "frank"
        await app.shutdown()


# ---------------------------------------------------------------------- dialogs


class DialogApp(App[None]):
    """Shows one dialog and keeps what it was dismissed with."""

    def __init__(self, dialog: Screen[Any]) -> None:
        super().__init__()
        self.dialog = dialog
        self.results: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.results.append)


FP = "ab" * 32


async def focus_walk(pilot: Pilot[Any], app: DialogApp, keys: Sequence[str]) -> list[str | None]:
    """The focused button's id after each of ``keys``."""
    seen = []
    for key in keys:
        await pilot.press(key)
        focused = app.screen.focused
        seen.append(None if focused is None else focused.id)
    return seen


async def test_the_verify_dialog_starts_on_cancel_and_arrows_move() -> None:
    app = DialogApp(VerifyDialog("alice", FP, "bob", [(FP, "12345 " * 12)]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.focused is not None and app.screen.focused.id == "cancel"
        walk = await focus_walk(pilot, app, ["right", "right", "left", "down", "up"])
        assert walk == ["confirm-0", "cancel", "confirm-0", "cancel", "confirm-0"]
        await pilot.press("enter")
        assert app.results == [0]


async def test_an_enter_on_the_verify_dialog_verifies_nothing() -> None:
    app = DialogApp(VerifyDialog("alice", FP, "bob", [(FP, "1"), (FP, "2")], new_key=True))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        assert app.results == [None]


async def test_the_key_changed_dialog_walks_its_buttons_with_the_arrows() -> None:
    app = DialogApp(KeyChangedDialog("bob", (FP,)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.focused is not None and app.screen.focused.id == "verify"
        walk = await focus_walk(pilot, app, ["right", "right", "right", "right", "left"])
        assert walk == ["trust", "reject", "later", "verify", "later"]
        dialog = app.dialog
        assert isinstance(dialog, KeyChangedDialog)
        dialog.withdraw()  # the keys changed meanwhile: it closes, deciding nothing
        await pilot.pause()
        assert app.results == [None]


async def test_the_arrows_skip_dead_buttons() -> None:
    app = DialogApp(KeyChangedDialog("bob", (FP,)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for button_id in ("#trust", "#reject"):
            app.screen.query_one(button_id, Button).disabled = True
        walk = await focus_walk(pilot, app, ["right", "right", "left"])
        assert walk == ["later", "verify", "later"]


async def test_the_paste_dialog_starts_on_cancel_and_arrows_move() -> None:
    app = DialogApp(PasteDialog(["one", "two"], "#lobby"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.focused is not None and app.screen.focused.id == "cancel"
        assert await focus_walk(pilot, app, ["left", "left"]) == ["send", "cancel"]
        await pilot.press("enter")
        assert app.results == [False]


async def test_the_buttons_grow_with_their_labels(tracker: TrackerServer, tmp_path: Path) -> None:
    app = app_for(tracker, tmp_path / "home")
    async with app.run_test(size=SIZE) as pilot:
        toggle = app.screen.query_one("#toggle", Button)
        await pilot.press("ctrl+t")
        assert str(toggle.label) == "Create an account instead"
        await until(pilot, lambda: toggle.region.width >= len(str(toggle.label)), "drawn whole")
