"""The full-screen chat application: login, then the chat, and a clean exit.

:class:`ChatApp` shows the login screen (:mod:`peer.tui.login`), then the chat
(:class:`~peer.tui.chat_screen.ChatScreen`). Ctrl+C, Ctrl+Q and ``/quit`` leave the
room, log out, close the history and exit with the terminal restored; while the screen
is ours, log records go to a file (:func:`run_tui`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from peer.client.chat_client import ChatClient
from peer.config import PeerConfig
from peer.tui.chat_screen import ChatScreen
from peer.tui.terminal_keys import read_alt_digits
from peer.tui.terminal_output import TerminalOutput
from peer.user_settings import Settings

CLOSE_TIMEOUT = 5.0


class ChatApp(App[None]):
    """Login screen, then the chat; quitting always closes the client first."""

    CSS_PATH = "chat.tcss"
    TITLE = "p2pchat"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        client: ChatClient,
        *,
        tracker_label: str,
        home: Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.tracker_label = tracker_label
        self.home = home
        self.settings = settings or Settings()
        self.terminal = TerminalOutput(self)
        self.chat: ChatScreen | None = None
        self._leaving = False

    def on_mount(self) -> None:
        from peer.tui.login import LoginScreen

        self.settings.known_themes = frozenset(self.available_themes)
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        if self.client.username is not None:
            self.start_chat()
            return
        login = LoginScreen(self.client, tracker_label=self.tracker_label, home=self.home)

        def logged_in(username: str | None) -> None:
            if username:
                self.start_chat(replaced_key=login.replaced_key)

        self.push_screen(login, logged_in)

    def start_chat(self, *, replaced_key: bool = False) -> None:
        self.chat = ChatScreen(
            self.client,
            self.tracker_label,
            shutdown=self.shutdown,
            settings=self.settings,
            home=self.home,
            terminal=self.terminal,
            replaced_key=replaced_key,
        )
        self.push_screen(self.chat)

    async def action_quit(self) -> None:
        # In a worker: the message loop keeps running (and drawing) while we log out.
        self.run_worker(self.shutdown(), group="shutdown")

    async def shutdown(self) -> None:
        """Leave the room, log out, close channels and the history, then exit; never
        hangs."""
        if self._leaving:
            return
        self._leaving = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), CLOSE_TIMEOUT)
        archive = None if self.chat is None else self.chat.archive
        if archive is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(archive.close(), CLOSE_TIMEOUT)
        self.terminal.restore_title()
        self.exit()


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """Send log records to ``path`` while the screen is ours: a line written to stderr
    would be drawn over the chat. The previous handlers come back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:]
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved
        handler.close()


def run_tui(config: PeerConfig, settings: Settings | None = None) -> int:
    """Run the full-screen chat until the user quits; the ``p2pchat`` entry on a TTY."""
    read_alt_digits()
    client = ChatClient(config)
    host, port = config.tracker
    label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    app = ChatApp(client, tracker_label=label, home=config.home, settings=settings)
    with _logging_to(config.home / "p2pchat.log"):
        app.run()
    return 0
