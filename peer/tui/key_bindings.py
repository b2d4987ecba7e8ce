"""The chat screen's key bindings, built from the ``[keys]`` settings.

Every binding is a priority binding, so the input line (which has the focus) does not
keep Ctrl+X or Ctrl+F for itself. Which setting runs which action, and the keys' help
text, are plain data in :mod:`peer.tui.model.keys`.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

from peer.tui.model.keys import KEY_ACTIONS
from peer.user_settings import Settings


def key_bindings(settings: Settings) -> list[BindingType]:
    """The screen's bindings for the keys ``settings`` name."""
    return [
        Binding(settings.keys(name), action, show=False, priority=True)
        for name, action in KEY_ACTIONS
    ]
