"""What :class:`peer.client.chat_client.ChatClient` sends for replies, ``/me``, reactions,
edits, deletes, typing indicators and read markers (the rules: :mod:`peer.core.conversation`).

Receipted frames (a reply, an action, a reaction, an edit, a delete) are built as
:data:`peer.core.conversation.Compose` functions that the core calls with the frame's own
``msg_id``; those that count against a cap check our own count first
(:meth:`peer.core.conversation.Conversations.check_outgoing`), so an honest client never
sends what its receivers would refuse.

Typing indicators and read markers are never queued and never receipted: a signal goes
now, over the channels open now, to the conversation's present room-mates, or to the
other end of a private conversation if that user is a contact; anyone else gets nothing
(a stranger learns neither that we type nor that we read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from commons.errors import ValidationError
from peer.client.driver import CoreDriver
from peer.core.actions import SendFrame, Step
from peer.core.conversation import Compose, ConversationId, Conversations, Located, Signal
from peer.core.frames import ChatMessage, Deletion, Edit, Reaction, ReadMarker, Receipted, Typing
from peer.core.peer_core import PeerCore
from peer.events import MessageRef


def own_message(conversations: Conversations, msg_id: str) -> Located:
    """Our own recent message ``msg_id``: only the author edits or deletes."""
    located = conversations.locate(msg_id)
    if located.ref.author != conversations.me:
        raise ValidationError("you can only edit or delete your own messages")
    return located


def message(text: str, *, reply_to: MessageRef | None = None, me: bool = False) -> Compose:
    """A message quoting ``reply_to``, or an action (``me``)."""

    def compose(room: str | None, sender: str, ts: float, msg_id: str) -> ChatMessage:
        return ChatMessage(room, sender, text, ts, msg_id, reply_to=reply_to, me=me)

    return compose


def reaction(conversations: Conversations, located: Located, emoji: str, on: bool) -> Compose:
    """Put (``on``) or take back ``emoji`` on ``located``."""

    def compose(room: str | None, sender: str, ts: float, msg_id: str) -> Reaction:
        return Reaction(room, sender, located.ref, emoji, on, ts, msg_id)

    return _checked(conversations, located.conversation, compose)


def edit(conversations: Conversations, located: Located, text: str) -> Compose:
    """New text for our own ``located``."""

    def compose(room: str | None, sender: str, ts: float, msg_id: str) -> Edit:
        return Edit(room, sender, located.ref.msg_id, text, ts, msg_id)

    return _checked(conversations, located.conversation, compose)


def deletion(conversations: Conversations, located: Located) -> Compose:
    """Delete our own ``located``."""

    def compose(room: str | None, sender: str, ts: float, msg_id: str) -> Deletion:
        return Deletion(room, sender, located.ref.msg_id, ts, msg_id)

    return _checked(conversations, located.conversation, compose)


def _checked(conversations: Conversations, where: ConversationId, make: Compose) -> Compose:
    def compose(room: str | None, sender: str, ts: float, msg_id: str) -> Receipted:
        frame = make(room, sender, ts, msg_id)
        conversations.check_outgoing(where, frame)
        return frame

    return compose


def signal_step(
    core: PeerCore, where: ConversationId, frame: Signal, contact: Callable[[str], bool]
) -> Step:
    """The :class:`SendFrame` actions that carry ``frame`` in ``where``; ``contact`` says
    whether a user is a contact (their key is pinned)."""
    users: list[str] = []
    if where.room is not None:
        room = core.room
        if room is not None and room.name == where.room:
            users = sorted(room.others())
    elif where.peer is not None and contact(where.peer):
        users = [where.peer]
    step = Step()
    for user in users:
        channel = core.channel_of(user)
        if channel is not None:
            step.actions.append(SendFrame(user, channel, frame))
    return step


class SignalSender:
    """One client's typing indicators and read markers: the pace rules of
    :class:`peer.core.conversation.Conversations`, then :func:`signal_step`. A read
    marker held back is sent by a timer once its 2 s are up (if the client still runs:
    ``driver()`` is then not ``None``)."""

    def __init__(
        self, driver: Callable[[], CoreDriver | None], contact: Callable[[str], bool]
    ) -> None:
        self._driver = driver
        self._contact = contact

    def typing(self, driver: CoreDriver, where: ConversationId, active: bool) -> bool:
        """Send a typing start or stop in ``where`` if due; whether a frame went."""
        core = driver.core
        if not core.conversation.typing_due(where, active, driver.now()):
            return False
        return self._send(driver, where, Typing(where.room, core.me, active))

    def mark_read(self, driver: CoreDriver, located: Located) -> bool:
        """A read marker up to ``located``: now (True if a frame went), or held."""
        where = located.conversation
        delay = driver.core.conversation.read_due(where, located.ref, driver.now())
        if delay is None:
            return False
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._flush, where)
            return False
        return self._send(driver, where, ReadMarker(where.room, driver.core.me, located.ref))

    def _flush(self, where: ConversationId) -> None:
        driver = self._driver()
        if driver is None:
            return
        ref = driver.core.conversation.read_flush(where, driver.now())
        if ref is not None:
            self._send(driver, where, ReadMarker(where.room, driver.core.me, ref))

    def _send(self, driver: CoreDriver, where: ConversationId, frame: Signal) -> bool:
        step = signal_step(driver.core, where, frame, self._contact)
        driver.apply(step)
        return bool(step.actions)
