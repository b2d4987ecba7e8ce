"""The open channels as the core sees them, sans-I/O: one per user, each with its clock.

A channel is known by the id the channel shell gave it; once it is removed here, any
later report about that id (a frame, its close) is stale and ignored, which is how a
channel the core closed or replaced on purpose never counts as lost.

Channels are of two kinds. A *contact*'s channel carried a message from us (the user
wrote first or answered), belongs to a member of our room, or to someone pinned before;
anyone else's is a *stranger*'s, even one who wrote to us: authenticated, but nothing
we would miss. The table keeps what the core's limits need: which channel to
give up when every slot is taken (:meth:`ChannelTable.evictable`), and when to ask the
tracker whether a stranger is still online (:meth:`ChannelTable.online_checks_due`).
A channel whose reading is paused (the application is behind on events) is neither
pinged nor expired: the silence is ours.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from peer.core.actions import ChannelPath
from peer.core.liveness import ChannelClock, Due, Keepalive


@dataclass(slots=True)
class OpenChannel:
    id: int
    user: str
    initiator: bool
    private: bool  # carried a private message: leaving the room does not close it
    clock: ChannelClock
    opened_at: float = 0.0
    contact: bool = False
    last_message: float | None = None  # a chat message either way, last time
    paused: bool = False  # we stopped reading it (back-pressure from the event queue)
    online_check: float | None = None  # a stranger's: when to ask if they are online
    path: ChannelPath = ChannelPath.DIRECT
    #: An endpoint offered on this (relayed) channel was dialled already: once is enough.
    upgrade_tried: bool = False
    #: Our own endpoint went on this (relayed) channel: once is enough.
    offered: bool = False


class ChannelTable:
    def __init__(self) -> None:
        self._by_user: dict[str, OpenChannel] = {}
        self._by_id: dict[int, OpenChannel] = {}

    def __contains__(self, user: object) -> bool:
        return user in self._by_user

    def __len__(self) -> int:
        return len(self._by_user)

    def users(self) -> list[str]:
        return sorted(self._by_user)

    def paths(self) -> dict[str, ChannelPath]:
        return {user: channel.path for user, channel in sorted(self._by_user.items())}

    def get(self, user: str) -> OpenChannel | None:
        return self._by_user.get(user)

    def by_id(self, channel_id: int) -> OpenChannel | None:
        return self._by_id.get(channel_id)

    def add(self, channel: OpenChannel) -> None:
        """Register ``channel``; the caller removed any older channel to that user first."""
        self._by_user[channel.user] = channel
        self._by_id[channel.id] = channel

    def remove(self, user: str) -> OpenChannel | None:
        channel = self._by_user.pop(user, None)
        if channel is not None:
            del self._by_id[channel.id]
        return channel

    # ------------------------------------------------------------------ limits

    def evictable(
        self, members: Collection[str], has_pending: Callable[[str], bool], keep: str = ""
    ) -> OpenChannel | None:
        """The channel to close when every slot is taken, or ``None``: a stranger's, the
        one opened longest ago; else a private conversation's with nothing awaiting a
        receipt, the one whose last message is oldest. Room members are never chosen, nor
        ``keep`` (the channel just opened)."""
        others = [c for c in self._by_user.values() if c.user != keep]
        strangers = [c for c in others if not c.contact]
        if strangers:
            return min(strangers, key=lambda c: (c.opened_at, c.id))
        private = [
            c for c in self._by_user.values() if c.user not in members and not has_pending(c.user)
        ]
        if private:
            return min(private, key=lambda c: (c.last_message or c.opened_at, c.id))
        return None

    def online_checks_due(self, now: float, interval: float) -> list[str]:
        """Strangers whose online check is due at ``now`` (the next one is scheduled)."""
        due = []
        for user, channel in sorted(self._by_user.items()):
            at = channel.online_check
            if not channel.contact and at is not None and at <= now:
                channel.online_check = now + interval
                due.append(user)
        return due

    # ------------------------------------------------------------------ keepalive

    def keepalive_due(self, now: float, keepalive: Keepalive) -> list[tuple[OpenChannel, Due]]:
        """Channels that need a ping or are dead at ``now``, by user name (paused
        channels are skipped: we are the one not reading)."""
        due = [
            (c, c.clock.due(now, keepalive))
            for _, c in sorted(self._by_user.items())
            if not c.paused
        ]
        return [(c, d) for c, d in due if d is not Due.NOTHING]

    def next_check(self, keepalive: Keepalive) -> float | None:
        """The next keepalive or online check of any channel."""
        times = [c.clock.next_check(keepalive) for c in self._by_user.values() if not c.paused]
        times += [
            c.online_check
            for c in self._by_user.values()
            if not c.contact and c.online_check is not None
        ]
        return min(times, default=None)
