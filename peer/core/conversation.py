"""The rules of a conversation's frames, sans-I/O: replies, reactions, edits, deletes,
``/me``, typing indicators and read markers (the frames are in :mod:`peer.core.frames`).

A conversation is a room, or the private conversation of two users
(:class:`ConversationId`); a message in it is named by its author and the author's
``msg_id``. Everything here is keyed by conversation, never by "the current room".

Receiving (:meth:`Conversations.received`, called by :class:`peer.core.peer_core.PeerCore`
once a frame passed the room checks and, for the receipted ones, the exactly-once
filter):

* *Who may edit or delete what.* An ``edit`` or ``delete`` names only a ``target_msg_id``:
  its target is always the sender's own message ``(from, target_msg_id)`` in that
  conversation. A peer naming someone else's ``msg_id`` names a message of its own that
  does not exist, which changes nothing anywhere (the UI and the history look up
  ``(conversation, author, msg_id)``).
* *Edit storms.* At most :data:`MAX_EDITS` edits per message are kept; later ones, and
  any edit of a deleted message, are refused (counted in :attr:`Conversations.refused`,
  not shown).
* *Reaction floods.* At most :data:`MAX_REACTIONS_PER_USER` distinct emoji per user per
  message; an extra one is refused (counted, not shown). Taking one back frees its place.
* Every receipted frame (message, reaction, edit, delete) costs the sender's channel the
  same event budget as a message (:mod:`peer.client.event_queue`): a flood of them is
  read no faster than the application takes its events, like a flood of messages.
* *Typing and read markers* are never queued: beyond a small per-peer token bucket
  (:data:`SIGNAL_BURST`, :data:`SIGNAL_RATE`) they are dropped; from a stranger (a
  private channel that is no contact) they are dropped; with the user's switch off
  (``typing_indicators``, ``read_receipts``) they are neither sent nor shown. A typing
  start expires :data:`TYPING_EXPIRY` seconds after its last refresh (:meth:`expired`).

Sending (the client asks before it writes): a typing start at most once per
:data:`TYPING_INTERVAL` per conversation and a stop only after a start
(:meth:`Conversations.typing_due`); a read marker at most once per :data:`READ_INTERVAL`
per conversation, the latest one held meanwhile (:meth:`Conversations.read_due`,
:meth:`Conversations.read_flush`). The client also keeps the same caps on what it sends
(:meth:`Conversations.check_outgoing`), so an honest client is never refused.

Memory: the counts are kept for the last :data:`REMEMBERED_MESSAGES` messages touched
and :meth:`Conversations.locate` knows the last :data:`REMEMBERED_MESSAGES` messages seen
or sent; older ones are forgotten first (a peer cycling through message ids to reset a
count needs that many frames, each bounded like a message).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import assert_never

from commons.errors import ValidationError
from commons.token_bucket import TokenBucket
from peer import events as ev
from peer.core.frames import ChatMessage, Deletion, Edit, Reaction, ReadMarker, Typing
from peer.core.frames import Receipted as Receipted
from peer.core.frames import Signal as Signal
from peer.events import MessageRef

#: Edits kept per message; later ones are refused.
MAX_EDITS = 20
#: Distinct emoji one user may have on one message at once.
MAX_REACTIONS_PER_USER = 8
#: A sender repeats "typing" at most this often per conversation (seconds).
TYPING_INTERVAL = 3.0
#: A receiver forgets a "typing" not refreshed within this many seconds.
TYPING_EXPIRY = 6.0
#: A sender sends at most one read marker per conversation this often (seconds).
READ_INTERVAL = 2.0
#: Per peer and per kind (typing, read): this many at once, then :data:`SIGNAL_RATE` a second.
SIGNAL_BURST = 6.0
SIGNAL_RATE = 1.0
#: Messages whose counts (edits, reactions) and location are remembered.
REMEMBERED_MESSAGES = 4096
#: Peers whose signal buckets are remembered (a full bucket is forgotten first).
MAX_SIGNAL_PEERS = 1024


@dataclass(frozen=True, slots=True)
class ConversationId:
    """A room (``room`` set, ``peer`` ``None``) or the private conversation with ``peer``."""

    room: str | None
    peer: str | None

    @classmethod
    def of(cls, room: str | None, other: str) -> ConversationId:
        """The conversation of a frame in ``room`` (``None``: private with ``other``)."""
        return cls(room, None) if room is not None else cls(None, other)


@dataclass(frozen=True, slots=True)
class Located:
    """Where a remembered message is: its conversation and its reference."""

    conversation: ConversationId
    ref: MessageRef


@dataclass(slots=True)
class _Target:
    edits: int = 0
    deleted: bool = False
    reactions: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SignalSwitches:
    """The user's switches: ``typing_indicators`` and ``read_receipts`` (both on by
    default); off means neither sent nor shown."""

    typing_indicators: bool = True
    read_receipts: bool = True


_TargetKey = tuple[ConversationId, str, str]

#: Builds a receipted frame from ``(room, sender, ts, msg_id)``: what
#: :meth:`peer.core.peer_core.PeerCore.send_room` and ``send_private`` send besides text.
Compose = Callable[[str | None, str, float, str], Receipted]
#: What a send carries: plain text (a message) or a :data:`Compose`.
Body = str | Compose


def compose_frame(body: Body, room: str | None, me: str, ts: float, msg_id: str) -> Receipted:
    """The frame a send of ``body`` writes (see :data:`Compose`)."""
    if isinstance(body, str):
        return ChatMessage(room, me, body, ts, msg_id)
    return body(room, me, ts, msg_id)


class Conversations:
    """One user's conversation rules and their bounded state (see the module docstring)."""

    def __init__(self, me: str, switches: SignalSwitches | None = None) -> None:
        self.me = me
        self.switches = switches or SignalSwitches()
        #: Frames refused or dropped, by kind: what a flood cost (never shown).
        self.refused: Counter[str] = Counter()
        self._targets: OrderedDict[_TargetKey, _Target] = OrderedDict()
        self._located: OrderedDict[str, Located] = OrderedDict()
        self._buckets: dict[str, OrderedDict[str, TokenBucket]] = {"typing": OrderedDict()}
        self._buckets["read"] = OrderedDict()
        #: Who is typing where, and when that expires.
        self._typing: OrderedDict[tuple[ConversationId, str], float] = OrderedDict()
        self._typing_sent: dict[ConversationId, float] = {}
        self._read_sent: dict[ConversationId, float] = {}
        self._read_pending: dict[ConversationId, MessageRef] = {}

    # ------------------------------------------------------------------ receiving

    def received(
        self, frame: Receipted | Signal, now: float, *, contact: bool = True
    ) -> list[ev.ClientEvent]:
        """The events ``frame`` from its sender makes (none if refused or dropped);
        ``contact``: its sender is a room-mate or a contact (typing and read markers
        from anyone else are dropped)."""
        where = ConversationId.of(frame.room, frame.sender)
        match frame:
            case ChatMessage():
                self.remember(where, MessageRef(frame.sender, frame.msg_id))
                stopped = self._typing.pop((where, frame.sender), None) is not None
                message = ev.MessageReceived(
                    frame.room,
                    frame.sender,
                    frame.text,
                    frame.ts,
                    frame.msg_id,
                    reply_to=frame.reply_to,
                    me=frame.me,
                )
                typing = ev.TypingChanged(frame.room, frame.sender, False)
                return [typing, message] if stopped else [message]
            case Reaction():
                if not self._react(where, frame.sender, frame.target, frame.emoji, frame.on):
                    return []
                target, on = frame.target, frame.on
                return [
                    ev.ReactionChanged(frame.room, frame.sender, target, frame.emoji, on, frame.ts)
                ]
            case Edit():
                if not self._edit(where, MessageRef(frame.sender, frame.target_msg_id)):
                    return []
                return [
                    ev.MessageEdited(
                        frame.room, frame.sender, frame.target_msg_id, frame.text, frame.ts
                    )
                ]
            case Deletion():
                if not self._delete(where, MessageRef(frame.sender, frame.target_msg_id)):
                    return []
                return [ev.MessageDeleted(frame.room, frame.sender, frame.target_msg_id, frame.ts)]
            case Typing():
                return self._typing_received(where, frame, now, contact=contact)
            case ReadMarker():
                if not self._signal_allowed("read", frame.sender, now, contact=contact):
                    return []
                return [ev.ReadUpTo(frame.room, frame.sender, frame.up_to)]
            case _:
                assert_never(frame)

    def _typing_received(
        self, where: ConversationId, frame: Typing, now: float, *, contact: bool
    ) -> list[ev.ClientEvent]:
        if not self._signal_allowed("typing", frame.sender, now, contact=contact):
            return []
        key = (where, frame.sender)
        was_active = self._typing.pop(key, None) is not None
        if frame.active:
            self._typing[key] = now + TYPING_EXPIRY
            while len(self._typing) > REMEMBERED_MESSAGES:
                self._typing.popitem(last=False)
        if frame.active == was_active:
            return []
        return [ev.TypingChanged(frame.room, frame.sender, frame.active)]

    def _signal_allowed(self, kind: str, sender: str, now: float, *, contact: bool) -> bool:
        """Whether a typing or read frame from ``sender`` is shown (see the docstring)."""
        switch_on = (
            self.switches.typing_indicators if kind == "typing" else self.switches.read_receipts
        )
        if not switch_on:
            return False
        if not contact:
            self.refused[f"{kind}_stranger"] += 1
            return False
        buckets = self._buckets[kind]
        bucket = buckets.get(sender)
        if bucket is None:
            if len(buckets) >= MAX_SIGNAL_PEERS:
                for peer in [p for p, b in buckets.items() if b.full(now)]:
                    del buckets[peer]
                if len(buckets) >= MAX_SIGNAL_PEERS:
                    buckets.popitem(last=False)
            bucket = buckets[sender] = TokenBucket(SIGNAL_BURST, SIGNAL_RATE, now)
        buckets.move_to_end(sender)
        if bucket.take(now) > 0:
            self.refused[f"{kind}_rate"] += 1
            return False
        return True

    def _target(self, where: ConversationId, ref: MessageRef) -> _Target:
        key = (where, ref.author, ref.msg_id)
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = _Target()
            while len(self._targets) > REMEMBERED_MESSAGES:
                self._targets.popitem(last=False)
        self._targets.move_to_end(key)
        return target

    def _react(
        self, where: ConversationId, reactor: str, target_ref: MessageRef, emoji: str, on: bool
    ) -> bool:
        target = self._target(where, target_ref)
        if target.deleted:
            self.refused["reaction_deleted"] += 1
            return False
        mine = target.reactions.setdefault(reactor, set())
        if not on:
            mine.discard(emoji)
        elif emoji not in mine and len(mine) >= MAX_REACTIONS_PER_USER:
            self.refused["reaction_cap"] += 1
            return False
        else:
            mine.add(emoji)
        return True

    def _edit(self, where: ConversationId, ref: MessageRef) -> bool:
        target = self._target(where, ref)
        if target.deleted:
            self.refused["edit_deleted"] += 1
            return False
        if target.edits >= MAX_EDITS:
            self.refused["edit_cap"] += 1
            return False
        target.edits += 1
        return True

    def _delete(self, where: ConversationId, ref: MessageRef) -> bool:
        target = self._target(where, ref)
        if target.deleted:
            self.refused["delete_again"] += 1
            return False
        target.deleted = True
        target.reactions.clear()
        return True

    def expired(self, now: float) -> list[ev.ClientEvent]:
        """Typing starts not refreshed in time: each ends with ``TypingChanged(False)``."""
        gone = [key for key, until in self._typing.items() if until <= now]
        for key in gone:
            del self._typing[key]
        return [ev.TypingChanged(where.room, user, False) for where, user in gone]

    def next_expiry(self) -> float | None:
        return min(self._typing.values(), default=None)

    def typing_now(self, where: ConversationId) -> list[str]:
        """Who is typing in ``where`` (sorted)."""
        return sorted(user for (conv, user) in self._typing if conv == where)

    # ------------------------------------------------------------------ sending

    def remember(self, where: ConversationId, ref: MessageRef) -> None:
        """``ref`` is a message of ``where`` (received, or sent by us): :meth:`locate`
        finds it by its ``msg_id``. One of ours ends our typing there (its receivers end
        it on the message: no ``typing`` stop is sent)."""
        if ref.author == self.me:
            self._typing_sent.pop(where, None)
        self._located[ref.msg_id] = Located(where, ref)
        self._located.move_to_end(ref.msg_id)
        while len(self._located) > REMEMBERED_MESSAGES:
            self._located.popitem(last=False)

    def locate(self, msg_id: str) -> Located:
        """The remembered message ``msg_id``; :class:`ValidationError` if unknown."""
        located = self._located.get(msg_id)
        if located is None:
            raise ValidationError(f"no recent message has the id {msg_id!r}")
        return located

    def check_outgoing(self, where: ConversationId, frame: Receipted) -> None:
        """Apply our own caps to a frame we are about to send (raises
        :class:`ValidationError` if a receiver would refuse it) and count it, as its
        receivers will."""
        match frame:
            case ChatMessage():
                return
            case Reaction():
                ok = self._react(where, self.me, frame.target, frame.emoji, frame.on)
                what = "reactions on one message are at most 8 per user, or it was deleted"
            case Edit():
                ok = self._edit(where, MessageRef(self.me, frame.target_msg_id))
                what = f"a message is edited at most {MAX_EDITS} times, and not once deleted"
            case Deletion():
                ok = self._delete(where, MessageRef(self.me, frame.target_msg_id))
                what = "that message is already deleted"
            case _:
                assert_never(frame)
        if not ok:
            raise ValidationError(what)

    def typing_due(self, where: ConversationId, active: bool, now: float) -> bool:
        """Whether to send a typing frame now: a start once per :data:`TYPING_INTERVAL`
        per conversation, a stop only after a start; never with the switch off."""
        if not self.switches.typing_indicators:
            return False
        last = self._typing_sent.get(where)
        if not active:
            return self._typing_sent.pop(where, None) is not None
        if last is not None and now - last < TYPING_INTERVAL:
            return False
        self._typing_sent[where] = now
        return True

    def read_due(self, where: ConversationId, up_to: MessageRef, now: float) -> float | None:
        """Offer a read marker: ``0.0`` means send it now; a positive delay means it is
        held (the latest wins) until :meth:`read_flush` after that delay; ``None``: the
        switch is off, send nothing."""
        if not self.switches.read_receipts:
            return None
        last = self._read_sent.get(where)
        if last is None or now - last >= READ_INTERVAL:
            self._read_sent[where] = now
            self._read_pending.pop(where, None)
            return 0.0
        self._read_pending[where] = up_to
        return last + READ_INTERVAL - now

    def read_flush(self, where: ConversationId, now: float) -> MessageRef | None:
        """The held marker of ``where`` if it is due now (it is then counted as sent)."""
        last = self._read_sent.get(where)
        if where not in self._read_pending or (last is not None and now - last < READ_INTERVAL):
            return None
        self._read_sent[where] = now
        return self._read_pending.pop(where)
