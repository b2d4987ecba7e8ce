"""Writes the bell, the window title and desktop notifications to the terminal.

The thin I/O side of :mod:`peer.tui.model.notifications`. Escape sequences go through the
Textual driver's writer (the same queue as the screen updates, so they never land in the
middle of a frame); headless (tests) nothing reaches a terminal. Every sequence written,
or that would have been, is kept in :attr:`TerminalOutput.sent` (the last
:data:`SENT_KEPT`) so tests can check exactly what a user's terminal would receive.
``notify-send`` runs as a child process, one at a time, killed after
:data:`NOTIFY_TIMEOUT` seconds, never through a shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections import deque
from typing import Any

from textual.app import App

from peer.tui.model.notifications import (
    BEL,
    DesktopMethod,
    DesktopNote,
    notify_send_args,
    osc_9,
    osc_777,
    osc_title,
    pick_desktop_method,
    pop_title,
    push_title,
)

log = logging.getLogger(__name__)

SENT_KEPT = 64
NOTIFY_TIMEOUT = 5.0


class TerminalOutput:
    """The chat's channel to the terminal around it (not the screen it draws)."""

    def __init__(self, app: App[Any], env: dict[str, str] | None = None) -> None:
        self._app = app
        self._env = dict(os.environ if env is None else env)
        self.sent: deque[str] = deque(maxlen=SENT_KEPT)
        self.method = pick_desktop_method(
            self._env, notify_send=shutil.which("notify-send") is not None
        )
        self._title_pushed = False
        self._title: str | None = None
        self._notify_task: asyncio.Task[None] | None = None

    def _write(self, data: str) -> None:
        self.sent.append(data)
        driver = getattr(self._app, "_driver", None)  # Textual keeps it private
        if driver is not None and not driver.is_headless:
            driver.write(data)

    def bell(self) -> None:
        self._write(BEL)

    def set_title(self, title: str) -> None:
        """Set the window title (saving the user's first, for :meth:`restore_title`)."""
        if title == self._title:
            return
        if not self._title_pushed:
            self._write(push_title())
            self._title_pushed = True
        self._title = title
        self._write(osc_title(title))

    def restore_title(self) -> None:
        if self._title_pushed:
            self._write(pop_title())
            self._title_pushed = False
            self._title = None

    def notify(self, note: DesktopNote) -> None:
        """Show ``note`` the way this terminal can; nothing if it cannot."""
        if self.method is DesktopMethod.OSC_777:
            self._write(osc_777(note))
        elif self.method is DesktopMethod.OSC_9:
            self._write(osc_9(note))
        elif self.method is DesktopMethod.NOTIFY_SEND and (
            self._notify_task is None or self._notify_task.done()
        ):
            self._notify_task = asyncio.get_running_loop().create_task(self._notify_send(note))

    async def _notify_send(self, note: DesktopNote) -> None:
        args = notify_send_args(note)
        self.sent.append(" ".join(args))
        try:
            process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            log.info("notify-send failed: %s", type(exc).__name__)
            return
        try:
            await asyncio.wait_for(process.wait(), NOTIFY_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
