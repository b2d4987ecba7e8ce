"""Delivery bookkeeping, sans-I/O: what we sent and await a receipt for, what we received.

Sending side, :class:`Outbox`: every message to every recipient waits here until that
recipient's client acknowledges it (an ``ack`` frame inside the channel) or it fails.
A message written on a channel that then drops is written again, once, on the next
channel to that user; a second loss fails it. Every entry also has a deadline, so nothing
waits for ever. The outbox is bounded per recipient; a message beyond the bound fails at
once (``backlog_full``) rather than growing memory without end. A sender that would rather
wait than fail asks :meth:`Outbox.has_room` first and holds its next message until it is
true (the client's ``wait=True`` sends and the batch mode do: back-pressure up to the
script that writes).

Receiving side, :class:`DeliveryFilter`: each message reaches the user once and in send
order per sender. It also remembers the last :data:`RECENT_DELIVERED` messages delivered
per sender, so that a message sent again after a re-dial is acknowledged again if (and
only if) it was delivered the first time: a receipt is never sent for a message the user
did not get.

Acknowledgements are checked against what we sent to that very user: a receipt for an id
we never sent them, or already settled, changes nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from peer.core.frames import MAX_ACK_IDS, Ack, Receipted, split_msg_id

#: Messages remembered per sender to recognise (and re-acknowledge) one sent again.
RECENT_DELIVERED = 1024


class Failure(StrEnum):
    """Why a message did not reach a recipient (the ``reason`` of ``MessageFailed``)."""

    LEFT = "left"
    CONNECTION_LOST = "connection_lost"
    KEY_CHANGED = "key_changed"
    TIMED_OUT = "timed_out"
    BACKLOG_FULL = "backlog_full"


@dataclass(slots=True)
class _Entry:
    frame: Receipted
    deadline: float
    sends: int = 0
    in_flight: bool = False


class Outbox:
    """Messages awaiting a receipt, per recipient, in send order."""

    def __init__(self, max_pending: int, timeout: float, max_sends: int = 2) -> None:
        self.max_pending = max_pending
        self.timeout = timeout
        self.max_sends = max_sends
        self._pending: dict[str, dict[str, _Entry]] = {}
        self._unsent: dict[str, deque[_Entry]] = {}  # not written on the current channel

    def add(self, user: str, frame: Receipted, now: float) -> bool:
        """Queue ``frame`` for ``user``; False (nothing queued) if their backlog is full."""
        entries = self._pending.setdefault(user, {})
        if len(entries) >= self.max_pending:
            return False
        entry = entries[frame.msg_id] = _Entry(frame, now + self.timeout)
        self._unsent.setdefault(user, deque()).append(entry)
        return True

    def take_unsent(self, user: str) -> list[Receipted]:
        """The messages to write on a channel to ``user`` that just became usable, in
        send order; they are marked as written (the second time is the last)."""
        out: list[Receipted] = []
        unsent = self._unsent.pop(user, deque())
        entries = self._pending.get(user, {})
        for entry in unsent:
            if entries.get(entry.frame.msg_id) is entry:  # not settled meanwhile
                entry.in_flight = True
                entry.sends += 1
                out.append(entry.frame)
        return out

    def _prune(self, user: str) -> None:
        """After entries were removed: forget the user or drop them from the unsent queue."""
        entries = self._pending.get(user)
        if not entries:
            self._pending.pop(user, None)
            self._unsent.pop(user, None)
        elif user in self._unsent:
            kept = [e for e in self._unsent[user] if entries.get(e.frame.msg_id) is e]
            self._unsent[user] = deque(kept)

    def acked(self, user: str, ids: Iterable[str]) -> list[str]:
        """Settle the receipts ``user`` sent; returns the ids that were indeed awaited."""
        entries = self._pending.get(user)
        if not entries:
            return []
        done: list[str] = []
        for msg_id in ids:
            entry = entries.get(msg_id)
            if entry is not None and entry.in_flight:
                del entries[msg_id]
                done.append(msg_id)
        if not entries:
            self._prune(user)
        return done

    def channel_lost(self, user: str) -> list[str]:
        """The channel to ``user`` dropped: what it carried unacknowledged waits for the
        next channel, except what was already sent twice, which fails (returned)."""
        entries = self._pending.get(user, {})
        failed: list[str] = []
        for msg_id, entry in list(entries.items()):
            if entry.in_flight:
                entry.in_flight = False
                if entry.sends >= self.max_sends:
                    del entries[msg_id]
                    failed.append(msg_id)
        if entries:
            self._unsent[user] = deque(entries.values())  # in send order, resends first
        else:
            self._pending.pop(user, None)
            self._unsent.pop(user, None)
        return failed

    def channel_switched(self, user: str) -> None:
        """Our relayed channel to ``user`` gave way to a direct one: what it carried
        unacknowledged is written again on the new channel, first, without counting as
        a send (the switch was no loss: the receiver's filter drops what had arrived)."""
        entries = self._pending.get(user, {})
        for entry in entries.values():
            if entry.in_flight:
                entry.in_flight = False
                entry.sends -= 1
        if entries:
            self._unsent[user] = deque(entries.values())

    def drop(self, user: str, keep: Callable[[Receipted], bool] | None = None) -> list[str]:
        """Give up on what awaits ``user`` (all, or all but what ``keep`` accepts)."""
        entries = self._pending.get(user, {})
        gone = [msg_id for msg_id, e in entries.items() if keep is None or not keep(e.frame)]
        for msg_id in gone:
            del entries[msg_id]
        self._prune(user)
        return gone

    def drop_room(self, room: str) -> list[tuple[str, str]]:
        """Give up on every message to ``room`` (we left it): ``(user, msg_id)`` pairs."""
        out: list[tuple[str, str]] = []
        for user in list(self._pending):
            out += [(user, m) for m in self.drop(user, keep=lambda f: f.room != room)]
        return out

    def expired(self, now: float) -> list[tuple[str, str]]:
        """Entries past their deadline, removed: ``(user, msg_id)`` pairs."""
        out: list[tuple[str, str]] = []
        for user in list(self._pending):
            entries = self._pending[user]
            for msg_id, entry in list(entries.items()):
                if entry.deadline > now:
                    break  # entries are in send order, so deadlines only grow
                del entries[msg_id]
                out.append((user, msg_id))
            self._prune(user)
        return out

    def next_deadline(self) -> float | None:
        firsts = [next(iter(e.values())).deadline for e in self._pending.values() if e]
        return min(firsts, default=None)

    def has_pending(self, user: str) -> bool:
        return bool(self._pending.get(user))

    def pending_count(self, user: str) -> int:
        return len(self._pending.get(user, {}))

    def has_room(self, user: str) -> bool:
        """Whether one more message to ``user`` would be queued (not ``backlog_full``)."""
        return self.pending_count(user) < self.max_pending


class Verdict(Enum):
    NEW = "new"  # deliver it, then acknowledge
    DUPLICATE = "duplicate"  # delivered before: acknowledge again, do not deliver
    STALE = "stale"  # older than the last delivered and not known delivered: drop silently


@dataclass(slots=True)
class _SenderState:
    session_id: str
    last: int
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_DELIVERED))


class DeliveryFilter:
    """Exactly-once, in-order delivery per sender.

    A message is new only if its sequence number is above the last one delivered for the
    same sender session; a new session id (the sender restarted) starts afresh. Gaps are
    normal: a sender's counter also numbers messages sent to other people.
    """

    def __init__(self) -> None:
        self._senders: dict[str, _SenderState] = {}

    def verdict(self, sender: str, msg_id: str) -> Verdict:
        session_id, seq = split_msg_id(msg_id)
        state = self._senders.get(sender)
        if state is None or state.session_id != session_id or seq > state.last:
            return Verdict.NEW
        return Verdict.DUPLICATE if seq in state.recent else Verdict.STALE

    def record(self, sender: str, msg_id: str) -> None:
        """``msg_id`` was handed to the user (it must be :attr:`Verdict.NEW`)."""
        session_id, seq = split_msg_id(msg_id)
        state = self._senders.get(sender)
        if state is None or state.session_id != session_id:
            state = self._senders[sender] = _SenderState(session_id, seq)
        state.last = seq
        state.recent.append(seq)

    def accept(self, sender: str, msg_id: str) -> bool:
        """Record and return True if ``msg_id`` is new; False otherwise."""
        if self.verdict(sender, msg_id) is not Verdict.NEW:
            return False
        self.record(sender, msg_id)
        return True


class Inbox:
    """What we received: the exactly-once filter plus the receipts still to send."""

    def __init__(self) -> None:
        self.filter = DeliveryFilter()
        self._acks: dict[str, list[str]] = {}

    def receive(self, frame: Receipted) -> bool:
        """True if ``frame`` is new (hand it to the user). Its receipt is queued unless it
        is stale: only what the user got, now or before, is acknowledged."""
        verdict = self.filter.verdict(frame.sender, frame.msg_id)
        if verdict is Verdict.NEW:
            self.filter.record(frame.sender, frame.msg_id)
        if verdict is not Verdict.STALE:
            self._acks.setdefault(frame.sender, []).append(frame.msg_id)
        return verdict is Verdict.NEW

    def take_acks(self) -> list[tuple[str, Ack]]:
        """The queued receipts as ``ack`` frames (at most MAX_ACK_IDS ids each), per sender."""
        acks, self._acks = self._acks, {}
        return [
            (user, Ack(tuple(ids[start : start + MAX_ACK_IDS])))
            for user, ids in acks.items()
            for start in range(0, len(ids), MAX_ACK_IDS)
        ]
