"""Which client events change a message kept in the history, and how (sans-I/O).

An edit, a delete or a reaction that the core let through
(:mod:`peer.core.conversation`) becomes an :data:`peer.history.entries.Amendment` of the
message it names, in the conversation it came in: ``#room``, or ``@user`` for the private
conversation with its sender. The history applies it in order with the messages
(:meth:`peer.history.store.HistoryStore.append`).
"""

from __future__ import annotations

from peer import events as ev
from peer.history.entries import Amendment, DeleteKept, EditKept, ReactionKept, conversation_label


def kept_change(event: ev.ClientEvent) -> Amendment | None:
    """The amendment ``event`` makes to the history, if any."""
    match event:
        case ev.MessageEdited():
            where = _label(event.room, event.username)
            return EditKept(where, event.username, event.msg_id, event.text)
        case ev.MessageDeleted():
            return DeleteKept(_label(event.room, event.username), event.username, event.msg_id)
        case ev.ReactionChanged():
            where, target = _label(event.room, event.username), event.target
            return ReactionKept(
                where, target.author, target.msg_id, event.username, event.emoji, event.on
            )
        case _:
            return None


def _label(room: str | None, other: str) -> str:
    return (
        conversation_label("room", room)
        if room is not None
        else conversation_label("private", other)
    )
