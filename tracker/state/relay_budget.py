"""The relay's budgets, sans-I/O: how fast a session may relay, to how many users, and
what the relay carried.

Each session that relays has one :class:`RelaySession`, which
:mod:`tracker.state.relay` (where these meet the sessions) asks before forwarding a
frame. Everything is bounded against a user with many accounts or a client that never
stops sending:

* **shaping, not dropping, for the sender**: each session has a byte budget and a frame
  budget (token buckets, :class:`RelayLimits`). A frame over budget is not refused: the
  tracker holds that connection's further input for the wait the bucket names, exactly
  as a slow network link would; TCP pushes back to the sender, and the channel stays
  intact (a dropped frame would break its Noise nonce sequence and kill it);
* **pairs**: a session relays to at most ``max_pairs`` distinct users at once; a pair
  unused for ``pair_idle`` seconds (an open channel is never silent that long: its
  keepalive pings every 5 s) gives its place to a new one, so no one can hold slots;
* **slow receivers** are the I/O shell's business (it sees buffers): their frames are
  dropped, and :func:`~tracker.state.relay.forward_dropped` says whom to tell;
* :class:`RelayStats` counts what was forwarded, refused, shaped and dropped, for the
  tracker's log (no names, no contents).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from commons.relay_frames import MAX_RELAY_BODY
from tracker.limits.rate_limit import TokenBucket


@dataclass(frozen=True, slots=True)
class RelayLimits:
    """The relay's settings (``TrackerConfig`` fills them; ``--no-relay`` disables it)."""

    enabled: bool = True
    #: Relayed body bytes per session: per second, and at most this many at once.
    bytes_per_second: float = 256 * 1024
    burst_bytes: float = 512 * 1024
    #: Relayed frames per session: per second, and at most this many at once.
    frames_per_second: float = 500.0
    burst_frames: float = 1000.0
    #: Distinct users one session relays to at once, and when an unused pair expires.
    max_pairs: int = 64
    pair_idle: float = 30.0

    def check(self) -> None:
        """Raise ValueError for settings the relay cannot work with."""
        if self.bytes_per_second <= 0 or self.frames_per_second <= 0:
            raise ValueError("relay rates must be positive")
        if self.burst_bytes < MAX_RELAY_BODY or self.burst_frames < 1:
            raise ValueError(f"the relay's byte burst must hold one body ({MAX_RELAY_BODY} B)")
        if self.max_pairs < 1 or self.pair_idle <= 0:
            raise ValueError("relay pairs: at least 1, and a positive idle time")


class RelayPairs:
    """The users one session relays to, with when each pair was last used."""

    __slots__ = ("_idle", "_last", "_limit")

    def __init__(self, limit: int, idle: float) -> None:
        self._limit = limit
        self._idle = idle
        self._last: dict[str, float] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._last

    def __len__(self) -> int:
        return len(self._last)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._last))

    def use(self, name: str, now: float) -> list[str] | None:
        """Count a frame to ``name``: the pairs that expired to make room for it (often
        none), or ``None`` if the session relays to too many users already."""
        if name in self._last:
            self._last[name] = now
            return []
        expired: list[str] = []
        if len(self._last) >= self._limit:
            limit = now - self._idle
            expired = [other for other, last in self._last.items() if last < limit]
            for other in expired:
                del self._last[other]
            if len(self._last) >= self._limit:
                return None
        self._last[name] = now
        return expired

    def forget(self, name: str) -> None:
        self._last.pop(name, None)


class RelaySession:
    """One session's relay budget and pairs (made on its first relayed frame)."""

    __slots__ = ("_bytes", "_frames", "pairs")

    def __init__(self, limits: RelayLimits, now: float) -> None:
        self._bytes = TokenBucket(limits.burst_bytes, limits.bytes_per_second, now)
        self._frames = TokenBucket(limits.burst_frames, limits.frames_per_second, now)
        self.pairs = RelayPairs(limits.max_pairs, limits.pair_idle)

    def take(self, size: int, now: float) -> float:
        """Charge one frame of ``size`` body bytes: 0 if it may go now, else the wait
        (nothing is charged then; the same frame is asked for again after the wait)."""
        wait = max(self._frames.wait(now), self._bytes.wait(now, size))
        if wait > 0:
            return wait
        self._frames.take(now)
        self._bytes.take(now, size)
        return 0.0


@dataclass(slots=True)
class RelayStats:
    """What the relay did since the tracker started (the log prints it now and then)."""

    frames: int = 0
    bytes: int = 0
    ends: int = 0
    refused: int = 0
    shaped: int = 0
    dropped: int = 0

    def line(self, pairs: int) -> str:
        return (
            f"relay: {self.frames} frames ({self.bytes} bytes) forwarded, {self.ends} links"
            f" ended, {pairs} pairs now; {self.shaped} frames held for the rate limit,"
            f" {self.refused} refused, {self.dropped} dropped (slow receivers)"
        )
