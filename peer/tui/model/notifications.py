"""When and how to tell the user about a message they are not looking at, sans-I/O.

On a private message or a mention (never for one's own messages, nor for the buffer
being read while the terminal has the focus), :class:`NotificationPolicy` decides:

* the terminal **bell** (BEL), which makes tmux and screen flag the window;
* a **desktop notification**: OSC 777 (``notify``; foot, urxvt, VTE terminals) or OSC 9
  (iTerm2, WezTerm, kitty, Ghostty, Windows Terminal) where the terminal shows them,
  else ``notify-send`` where it is installed in a graphical session;
* and the terminal **title** counts unread private messages and mentions.

Each can be turned off (:mod:`peer.user_settings`). A peer decides how many messages we get,
so all of it is bounded: one bell per :data:`BELL_INTERVAL`, one desktop notification
per :data:`DESKTOP_INTERVAL`, and every piece of text that goes into an escape sequence
or a notification is stripped of control characters (a BEL or ESC in a message must not
end the sequence early and smuggle its own) and cut to :data:`MAX_NOTE_CHARS`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

BELL_INTERVAL = 2.0
DESKTOP_INTERVAL = 5.0
MAX_NOTE_CHARS = 120
PREVIEW_CHARS = 60
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
ESC = "\x1b"
BEL = "\x07"
ST = ESC + "\\"


class DesktopMethod(StrEnum):
    OSC_777 = "osc777"
    OSC_9 = "osc9"
    NOTIFY_SEND = "notify-send"


@dataclass(frozen=True, slots=True)
class DesktopNote:
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Signals:
    """What to do for one message: ring, and/or show a desktop notification."""

    bell: bool = False
    desktop: DesktopNote | None = None


def clean(text: str, limit: int = MAX_NOTE_CHARS) -> str:
    """``text`` safe inside an escape sequence or a notification: no control, line or
    direction characters, at most ``limit`` characters."""
    flat = _UNSAFE.sub(" ", text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


class NotificationPolicy:
    """Decides the signals for each message; ``bell`` etc. mirror the settings."""

    def __init__(
        self, *, bell: bool = True, title: bool = True, desktop: bool = True, preview: bool = False
    ) -> None:
        self.bell = bell
        self.title = title
        self.desktop = desktop
        self.preview = preview
        self._last_bell = float("-inf")
        self._last_desktop = float("-inf")

    def on_message(
        self,
        *,
        sender: str,
        room: str | None,
        text: str,
        own: bool,
        mention: bool,
        reading: bool,
        now: float,
    ) -> Signals:
        """Signals for one arrived message (``room`` None: private)."""
        if own or reading or not (room is None or mention):
            return Signals()
        ring = self.bell and now - self._last_bell >= BELL_INTERVAL
        if ring:
            self._last_bell = now
        note = None
        if self.desktop and now - self._last_desktop >= DESKTOP_INTERVAL:
            self._last_desktop = now
            who = clean(sender, 40)
            if room is None:
                title = f"p2pchat: private message from {who}"
            else:
                title = f"p2pchat: {who} mentioned you in #{clean(room, 40)}"
            body = clean(text, PREVIEW_CHARS) if self.preview else ""
            note = DesktopNote(title, body)
        return Signals(ring, note)

    @staticmethod
    def window_title(username: str, unread: int) -> str:
        """``(3) p2pchat - alice`` with 3 unread private messages or mentions."""
        base = f"p2pchat - {clean(username, 40)}"
        return f"({unread}) {base}" if unread else base


# ---------------------------------------------------------------------- escape sequences


def osc_title(title: str) -> str:
    """OSC 2: set the window title."""
    return f"{ESC}]2;{clean(title)}{BEL}"


def push_title() -> str:
    """xterm's title stack: save the title now, :func:`pop_title` restores it at exit."""
    return f"{ESC}[22;0t"


def pop_title() -> str:
    return f"{ESC}[23;0t"


def osc_777(note: DesktopNote) -> str:
    """``OSC 777 ; notify ; title ; body ST`` (the fields are ``;``-separated)."""
    title = clean(note.title).replace(";", ",")
    body = clean(note.body).replace(";", ",")
    return f"{ESC}]777;notify;{title};{body}{ST}"


def osc_9(note: DesktopNote) -> str:
    """``OSC 9 ; text ST`` (one text field)."""
    text = note.title if not note.body else f"{note.title}: {note.body}"
    return f"{ESC}]9;{clean(text)}{ST}"


def notify_send_args(note: DesktopNote) -> list[str]:
    """``notify-send`` argv. The body is markup for most notification services: ``&``,
    ``<`` and ``>`` are escaped so a message cannot make a link or hide text."""

    def markup_safe(text: str) -> str:
        return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    args = ["notify-send", "--app-name=p2pchat", markup_safe(note.title)]
    if note.body:
        args.append(markup_safe(note.body))
    return args


def pick_desktop_method(env: Mapping[str, str], *, notify_send: bool) -> DesktopMethod | None:
    """How this terminal can show a desktop notification, from its environment.

    Terminals that show OSC notifications are recognised by the variables they set;
    otherwise (including inside tmux and screen, whose outer terminal is unknown)
    ``notify-send`` if it is installed and a graphical session is there.
    """
    program = env.get("TERM_PROGRAM", "").lower()
    term = env.get("TERM", "").lower()
    inside_multiplexer = "TMUX" in env or term.startswith("screen")
    if not inside_multiplexer:
        if program in ("iterm.app", "wezterm", "ghostty") or "WT_SESSION" in env:
            return DesktopMethod.OSC_9
        if "KITTY_WINDOW_ID" in env or term == "xterm-kitty":
            return DesktopMethod.OSC_9
        if term.startswith(("foot", "rxvt")) or "VTE_VERSION" in env:
            return DesktopMethod.OSC_777
    graphical = "DISPLAY" in env or "WAYLAND_DISPLAY" in env
    if notify_send and graphical:
        return DesktopMethod.NOTIFY_SEND
    return None
