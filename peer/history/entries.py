"""What the local history keeps and gives back, as plain values, and how conversations
are named in it.

:class:`HistoryEntry` goes in (:meth:`peer.history.store.HistoryStore.append`),
:class:`StoredEntry` and :class:`SearchResult` come out; :class:`HistoryLimits` bounds
the file (:mod:`peer.history.retention`) and :class:`HistoryStats` counts what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import assert_never

from commons.errors import ValidationError
from commons.models import validate_room_name, validate_username


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    """Quotas and bounds (tests shrink them)."""

    max_messages: int = 200_000
    max_per_conversation: int = 50_000
    max_bytes: int = 256 * 1024 * 1024
    max_conversations: int = 10_000
    max_scan: int = 10_000


def conversation_label(kind: str, name: str) -> str:
    """``#room`` or ``@user``: how a conversation is named in the file and in results."""
    if kind == "room":
        return "#" + validate_room_name(name)
    if kind == "private":
        return "@" + validate_username(name)
    raise ValidationError(f"unknown conversation kind {kind!r}")


def validate_label(label: str) -> str:
    """``label`` if it names a conversation (``#room``, ``@user``); raises otherwise."""
    if label[:1] == "#":
        return conversation_label("room", label[1:])
    if label[:1] == "@":
        return conversation_label("private", label[1:])
    raise ValidationError(f"not a conversation: {label!r}")


#: Reactions kept on one message (``(user, emoji)`` pairs); later ones are not kept.
MAX_KEPT_REACTIONS = 256


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One message to keep. ``sent_at`` is the sender's time, ``received_at`` ours.

    ``reply_to``: the ``(author, msg_id)`` it quotes; ``me``: an action (``/me``);
    ``edited``: its text is the latest of edits; ``deleted``: its author deleted it (its
    text is then empty); ``reactions``: ``(user, emoji)`` pairs, oldest first."""

    conversation: str
    sender: str
    text: str
    sent_at: float
    received_at: float
    msg_id: str = ""
    own: bool = False
    reply_to: tuple[str, str] | None = None
    me: bool = False
    edited: bool = False
    deleted: bool = False
    reactions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class EditKept:
    """The author's message ``msg_id`` in ``conversation`` now reads ``text``."""

    conversation: str
    author: str
    msg_id: str
    text: str


@dataclass(frozen=True, slots=True)
class DeleteKept:
    """The author deleted ``msg_id``: its text leaves the file."""

    conversation: str
    author: str
    msg_id: str


@dataclass(frozen=True, slots=True)
class ReactionKept:
    """``user`` put (``on``) or took back ``emoji`` on the author's ``msg_id``."""

    conversation: str
    author: str
    msg_id: str
    user: str
    emoji: str
    on: bool


#: A change to a kept message, applied in the order it came with the messages.
Amendment = EditKept | DeleteKept | ReactionKept


def amended(entry: HistoryEntry, change: Amendment) -> HistoryEntry | None:
    """``entry`` with ``change`` applied, or ``None`` if it changes nothing (a deleted
    message stays deleted: no edit or reaction brings its text or reactions back)."""
    if entry.deleted:
        return None
    match change:
        case EditKept():
            return replace(entry, text=change.text, edited=True)
        case DeleteKept():
            return replace(entry, text="", deleted=True, reactions=())
        case ReactionKept():
            pair = (change.user, change.emoji)
            if change.on and pair not in entry.reactions:
                if len(entry.reactions) >= MAX_KEPT_REACTIONS:
                    return None
                return replace(entry, reactions=(*entry.reactions, pair))
            if not change.on and pair in entry.reactions:
                return replace(entry, reactions=tuple(p for p in entry.reactions if p != pair))
            return None
        case _:
            assert_never(change)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A message read back; ``row`` identifies it in the file (for
    :meth:`peer.history.store.HistoryStore.around`)."""

    row: int
    entry: HistoryEntry


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Hits newest first; ``complete`` is False when the scan limit cut the search."""

    hits: list[StoredEntry]
    complete: bool = True


@dataclass(slots=True)
class HistoryStats:
    """What the open file holds, and what was evicted or found damaged since it opened."""

    messages: int = 0
    bytes: int = 0
    conversations: int = 0
    evicted: int = 0
    damaged: int = 0
