"""The chat screen's one-line texts, sans-I/O: the top bar and the input's placeholder.

The placeholder is the hint under the typed text: where a line would go now, from the
model at each redraw, so a ban, a deletion or the end of the session shows at once.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from peer.tui.model.buffers import BufferKind
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.rendering import ERROR_STYLE, TIMESTAMP_STYLE, nick_text


def topbar(model: ChatModel, tracker_label: str) -> Text:
    """The line at the top: who, which room, which tracker, connected or not."""
    text = Text()
    text.append("p2pchat ", style=Style(bold=True))
    text.append_text(nick_text(model.username, own=True))
    if model.room is not None:
        text.append(f"  in #{model.room} ({len(model.members)})")
    text.append(f"  tracker {tracker_label} ")
    if model.session_ended:
        text.append("\u25cb session ended", style=ERROR_STYLE)
    elif model.connected:
        text.append("\u25cf connected", style=Style(color="green"))
    else:
        text.append("\u25cb reconnecting", style=ERROR_STYLE)
    text.append("  end-to-end encrypted", style=TIMESTAMP_STYLE)
    return text


def placeholder(model: ChatModel) -> str:
    """What the empty input line says: where a typed line would go."""
    current = model.buffers.current.id
    if model.session_ended:
        return "this session has ended (you logged in somewhere else): /quit"
    if current.kind is BufferKind.ROOM:
        name = current.name
        if name == model.room:
            return f"message #{name}  (/help for commands)"
        # Facts last seen, worded to stay true: no one tells us of an unban, and a
        # deleted room's name may be taken again (/list, /join and invites refresh them).
        if name in model.deleted_rooms:
            return f"#{name} was deleted: /close this buffer, /list shows the rooms now"
        if name in model.banned_from:
            return f"the owner banned you from #{name}: /close this buffer (/join once unbanned)"
        return f"you left #{name}: /join {name} to come back"
    if current.kind is BufferKind.PRIVATE:
        return f"private message to {current.name}  (end-to-end encrypted)"
    if current.kind is BufferKind.REQUESTS:
        return "messages from strangers: /query NAME opens one to answer"
    return "type /help, /list, /join ROOM or /msg USER TEXT"
