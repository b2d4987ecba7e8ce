"""Deadlines on writing to a channel: a remote that stops reading is dropped. Sans-I/O.

A remote that does not read makes everything we write to it pile up, first in the
kernel, then in our process; waiting for that buffer to drain would freeze the sender
(the original client blocked in ``drain()`` for ever once about 3.7 MB waited for one
room member, and did not even answer ``/quit``). So the channel shell watches each
channel's send buffer with a :class:`WriteWatch`:

* while more than ``high`` bytes wait, at least ``high`` more bytes must leave the
  buffer (reach the kernel) every ``timeout`` seconds, or the channel is *stalled*:
  closed and its member reported lost (``connection_lost``);
* more than ``limit`` bytes waiting closes it at once, however fast it drains (the
  largest honest burst, every message awaiting a receipt written again after a re-dial,
  is 512 messages of at most 24 KB: about 12 MiB).

A sender waits for a full buffer to drain (:meth:`peer.channels.shell.ChannelShell.drain`) at
most ``timeout`` seconds; a channel that made it wait that long is *slow* and is not
waited for again until its buffer is back under ``high``, so one slow member cannot set
the pace of a whole room; the deadline above still drops it if it stops.
"""

from __future__ import annotations

from enum import Enum

#: Defaults: the asyncio high-water mark, the deadline, and the hard cap per channel.
HIGH_WATER = 64 * 1024
WRITE_TIMEOUT = 10.0
MAX_BUFFERED = 16 * 1024 * 1024


class WriteState(Enum):
    OK = "ok"  # nothing to watch (the buffer is under the mark)
    WATCH = "watch"  # over the mark: check again at :attr:`WriteWatch.check_at`
    STALLED = "stalled"  # close the channel


class WriteWatch:
    """One channel's send buffer. ``buffered``: bytes waiting in our process; ``sent``:
    bytes that ever left it (monotonic)."""

    __slots__ = ("_since_sent", "check_at", "high", "limit", "slow", "timeout")

    def __init__(
        self, timeout: float = WRITE_TIMEOUT, high: int = HIGH_WATER, limit: int = MAX_BUFFERED
    ) -> None:
        self.timeout = timeout
        self.high = high
        self.limit = limit
        self.check_at: float | None = None
        self._since_sent = 0
        self.slow = False

    def wrote(self, buffered: int, sent: int, now: float) -> WriteState:
        """After a write: start watching if the buffer went over the mark."""
        if buffered > self.limit:
            return WriteState.STALLED
        if buffered <= self.high:
            return WriteState.OK
        if self.check_at is None:
            self.check_at = now + self.timeout
            self._since_sent = sent
            return WriteState.WATCH
        return WriteState.OK  # already watched: the check is armed

    def check(self, buffered: int, sent: int, now: float) -> WriteState:
        """At :attr:`check_at`: stalled, still watched (re-armed), or drained."""
        if buffered <= self.high:
            self.check_at = None
            self.slow = False
            return WriteState.OK
        if sent - self._since_sent < self.high:
            return WriteState.STALLED
        self.check_at = now + self.timeout
        self._since_sent = sent
        return WriteState.WATCH

    def worth_waiting(self, buffered: int) -> bool:
        """Whether a sender should wait for this buffer to drain."""
        if buffered <= self.high:
            self.slow = False
            return False
        return not self.slow
