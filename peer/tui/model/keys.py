"""The chat screen's keys as plain data: which action each ``[keys]`` setting runs, and how
``/help`` describes them.

No Textual here, so ``/help`` (:mod:`peer.tui.model.local_commands`) can list the keys
without a terminal; :func:`peer.tui.key_bindings.key_bindings` turns
:data:`KEY_ACTIONS` into the screen's bindings. The keys themselves come from the settings
(:meth:`peer.user_settings.Settings.keys`); the help text names the defaults.
"""

from __future__ import annotations

#: Setting name under ``[keys]`` -> the screen action it runs.
KEY_ACTIONS: tuple[tuple[str, str], ...] = (
    ("next_buffer", "switch_relative(1)"),
    ("previous_buffer", "switch_relative(-1)"),
    ("next_unread", "next_unread"),
    ("search", "search(True)"),
    ("find", "search(False)"),
    ("scroll_up", "scroll_log(-1)"),
    ("scroll_down", "scroll_log(1)"),
    ("select_previous", "select_message(-1)"),
    ("select_next", "select_message(1)"),
    ("leave_selection", "leave_selection"),
    *((f"buffer_{n}", f"switch_number({n})") for n in range(1, 10)),
)

#: What ``/help`` shows for the keys: (keys, what they do).
KEY_HELP: tuple[tuple[str, str], ...] = (
    ("F1..F9 / Alt+1..9", "show buffer 1..9"),
    ("Ctrl+N / Ctrl+P", "next / previous buffer"),
    ("Alt+A / Ctrl+X", "next buffer with unread messages (Ctrl+X inside tmux)"),
    ("Ctrl+R / Ctrl+F", "search all buffers / the buffer shown"),
    ("Tab", "complete command, nick, room or setting"),
    ("Up / Down", "input history"),
    ("PgUp / PgDn", "scroll the messages (new ones then wait below)"),
    ("Alt+Up / Alt+Down", "select a message for /reply, /react, /edit, /unsend"),
    ("Esc", "leave the selection (those commands act on the last message)"),
    ("End", "back to the newest messages (with the cursor at the end of the line)"),
    ("Ctrl+C", "quit (same as /quit)"),
)
