"""The chat screen's notifications: the policy's signals carried out on the terminal.

For each arrived message :class:`Alerts` asks
:class:`~peer.tui.model.notifications.NotificationPolicy`
what to do and makes :class:`~peer.tui.terminal_output.TerminalOutput` ring or show a
desktop notification; after each redraw it keeps the window title's unread count. The
``notifications.*`` settings take effect at once (:meth:`Alerts.follow`). Without a
terminal (a screen built for tests) the policy still decides, and nothing is written.
"""

from __future__ import annotations

import time

from peer.events import MessageReceived
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.notifications import NotificationPolicy
from peer.tui.terminal_output import TerminalOutput
from peer.user_settings import Settings


class Alerts:
    """Bell, desktop notifications and window title for one chat screen."""

    def __init__(self, settings: Settings, terminal: TerminalOutput | None) -> None:
        self.policy = NotificationPolicy()
        self.terminal = terminal
        self.follow(settings)

    def follow(self, settings: Settings) -> None:
        """Take the ``notifications.*`` settings as they are now."""
        self.policy.bell = settings.bell
        self.policy.title = settings.title
        self.policy.desktop = settings.desktop
        self.policy.preview = settings.desktop_preview

    def message(self, model: ChatModel, event: MessageReceived, focused: bool) -> None:
        """Ring or notify for ``event`` as the policy says; ``focused``: the terminal has
        the focus (a message to the buffer being read then signals nothing)."""
        target = model.buffer_for(event)
        signals = self.policy.on_message(
            sender=event.sender,
            room=event.room,
            text=event.text,
            own=event.sender == model.username,
            mention=event.room is not None and model.is_mention(event.text),
            reading=model.buffers.current.id == target and focused,
            now=time.monotonic(),
        )
        if self.terminal is None:
            return
        if signals.bell:
            self.terminal.bell()
        if signals.desktop is not None:
            self.terminal.notify(signals.desktop)

    def update_title(self, model: ChatModel) -> None:
        if self.terminal is None:
            return
        if self.policy.title:
            unread = model.buffers.highlights
            self.terminal.set_title(self.policy.window_title(model.username, unread))
        else:
            self.terminal.restore_title()
