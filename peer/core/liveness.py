"""Channel keepalive, sans-I/O: when to ping, when a silent channel is dead.

A client pings a channel on which it has heard nothing for one interval, and again every
interval while the silence lasts; any authenticated frame from the remote (a message, a
receipt, a ping, a pong) counts as hearing from them. A channel silent for ``misses``
intervals is dead: a frozen or unplugged peer whose TCP connection never reports an
error is noticed within ``interval * misses`` seconds (15 s by default).

Pings go out only on a silent channel, so a busy channel carries no keepalive traffic at
all, and the receipts that answer every message double as proof of life.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class Keepalive:
    interval: float = 5.0
    misses: int = 3

    @property
    def deadline(self) -> float:
        return self.interval * self.misses

    @property
    def stale_after(self) -> float:
        """Silence after which frames read at last are no longer delivered.

        One interval short of :attr:`deadline`: the remote hears from a live channel at
        least once an interval (it pings when silent), so a silence this long means this
        process was frozen; and the remote, which gives up at the deadline measured from
        the last frame *it* heard, may give up a little before our own clock says so
        (that frame can be a reply to the last frame we heard). The interval of margin
        keeps what the sender reports ``failed`` from being delivered late.
        """
        return self.interval * max(1, self.misses - 1)


class Due(Enum):
    NOTHING = "nothing"
    PING = "ping"
    EXPIRED = "expired"


class ChannelClock:
    """When a channel was last heard from and last pinged."""

    __slots__ = ("last_heard", "last_ping")

    def __init__(self, now: float) -> None:
        self.last_heard = now
        self.last_ping: float | None = None

    def heard(self, now: float) -> None:
        self.last_heard = now

    def _next_ping(self, keepalive: Keepalive) -> float:
        if self.last_ping is not None and self.last_ping >= self.last_heard:
            return self.last_ping + keepalive.interval
        return self.last_heard + keepalive.interval

    def due(self, now: float, keepalive: Keepalive) -> Due:
        """What the channel needs at ``now``; a ping is recorded as sent."""
        if now - self.last_heard >= keepalive.deadline:
            return Due.EXPIRED
        if now >= self._next_ping(keepalive):
            self.last_ping = now
            return Due.PING
        return Due.NOTHING

    def stale(self, now: float, keepalive: Keepalive) -> bool:
        """Whether frames read at ``now`` come too late to be delivered."""
        return now - self.last_heard >= keepalive.stale_after

    def next_check(self, keepalive: Keepalive) -> float:
        return min(self._next_ping(keepalive), self.last_heard + keepalive.deadline)
