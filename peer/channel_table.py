"""The open channels as the core sees them, sans-I/O: one per user, each with its clock.

A channel is known by the id the channel shell gave it; once it is removed here, any
later report about that id (a frame, its close) is stale and ignored, which is how a
channel the core closed or replaced on purpose never counts as lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from peer.liveness import ChannelClock, Due, Keepalive


@dataclass(slots=True)
class OpenChannel:
    id: int
    user: str
    initiator: bool
    private: bool  # carried a private message: leaving the room does not close it
    clock: ChannelClock


class ChannelTable:
    def __init__(self) -> None:
        self._by_user: dict[str, OpenChannel] = {}
        self._by_id: dict[int, OpenChannel] = {}

    def __contains__(self, user: object) -> bool:
        return user in self._by_user

    def users(self) -> list[str]:
        return sorted(self._by_user)

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

    def keepalive_due(self, now: float, keepalive: Keepalive) -> list[tuple[OpenChannel, Due]]:
        """Channels that need a ping or are dead at ``now``, by user name."""
        due = [(c, c.clock.due(now, keepalive)) for _, c in sorted(self._by_user.items())]
        return [(c, d) for c, d in due if d is not Due.NOTHING]

    def next_check(self, keepalive: Keepalive) -> float | None:
        return min((c.clock.next_check(keepalive) for c in self._by_user.values()), default=None)
