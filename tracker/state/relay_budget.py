"""The relay's budgets, sans-I/O: how fast a session, a user, a source and the whole
tracker may relay, to how many users, and what the relay carried.

Each session that relays has one :class:`RelaySession`, and the registry one
:class:`RelayBudgets` for everything above a session; :mod:`tracker.state.relay`
(where these meet the sessions) asks both before forwarding a frame. Everything is
bounded against a user with many accounts or a client that never stops sending:

* **shaping, not dropping, for the sender**: a byte budget and a frame budget (token
  buckets, :class:`RelayRate`) at four scopes (:class:`BudgetScope`): the session, the
  user (so logging in again does not refill it), the source (an IPv4 address or an
  IPv6 /64, :mod:`tracker.limits.source`: so fifty sessions from one address together
  get what one source gets, not fifty times a session's) and the tracker in all (what
  its CPU and link carry). A frame is charged to all four at once or to none: over any
  of them it is not refused: the tracker holds that connection's further input for the
  longest wait they name, exactly as a slow network link would; TCP pushes back to the
  sender, and the channel stays intact (a dropped frame would break its Noise nonce
  sequence and kill it). Trusted networks (``--trusted-network``) are exempt from the
  per-source budget only, as from every per-source limit;
* **pairs**: a session relays to at most ``max_pairs`` distinct users at once; a pair
  unused for ``pair_idle`` seconds (an open channel is never silent that long: its
  keepalive pings every 5 s) gives its place to a new one, so no one can hold slots;
* **slow receivers** are the I/O shell's business (it sees buffers): their frames are
  dropped, and :func:`~tracker.state.relay.forward_dropped` says whom to tell;
* :class:`RelayStats` counts what was forwarded, refused, shaped (and by which scope)
  and dropped, for the tracker's log (no names, no contents).

**Across the trackers of a group** the per-user and per-source buckets are shared rows
(:attr:`RelayBudgets.tables`, saved and adopted with the other throttle tables every 2 s
by :mod:`tracker.storage.throttle_store`, at the database's clock). They are kept *with
debt* (:class:`~tracker.limits.rate_limit.BucketRule`): what the trackers spent in one
interval is all subtracted from the shared row, below empty if it adds up to more, so
after the exchange every tracker waits until the *group's* bucket has refilled. Over
time a source gets its rate across the group, not its rate per tracker; within one
interval each tracker only knows its own spending, so the overshoot is bounded by what
the other trackers allow alone in about two intervals (a burst and ~4 s of the rate
each), then repaid. This reuses the group's one mechanism for shared counters instead
of a database write per frame (the relay's frames are far too many for that), and
unlike splitting the rate between the trackers that see a source, a source on one
tracker keeps its whole rate. The in-all budget stays per tracker: it protects that
tracker's CPU and link, and a group's capacity is the sum of its trackers'.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum

from commons.relay_frames import MAX_RELAY_BODY
from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import KeyedTokenBuckets, TokenBucket

_KIB = 1024
_MIB = 1024 * 1024


class BudgetScope(StrEnum):
    """Whose budget a frame is charged to (and which one held it)."""

    SESSION = "session"
    USER = "user"
    SOURCE = "source"
    TRACKER = "tracker"


@dataclass(frozen=True, slots=True)
class RelayRate:
    """One scope's budget: body bytes and frames per second, and at most so many at once."""

    bytes_per_second: float
    burst_bytes: float
    frames_per_second: float
    burst_frames: float

    @classmethod
    def per_second(cls, bytes_per_second: float, frames_per_second: float) -> RelayRate:
        """Bursts of two seconds' worth (at least one body), as the CLI sets them."""
        return cls(
            bytes_per_second,
            max(2 * bytes_per_second, float(MAX_RELAY_BODY)),
            frames_per_second,
            max(2 * frames_per_second, 1.0),
        )

    def check(self, scope: BudgetScope) -> None:
        """Raise ValueError for a budget the relay cannot work with."""
        if self.bytes_per_second <= 0 or self.frames_per_second <= 0:
            raise ValueError(f"relay rates ({scope}) must be positive")
        if self.burst_bytes < MAX_RELAY_BODY or self.burst_frames < 1:
            raise ValueError(
                f"the relay's byte burst ({scope}) must hold one body ({MAX_RELAY_BODY} B)"
            )


#: One source (an address, a /64) relays at most four default sessions' worth: a
#: household or a small office behind one NAT (trust a larger one: ``--trusted-network``).
DEFAULT_PER_SOURCE = RelayRate(1 * _MIB, 2 * _MIB, 2_000.0, 4_000.0)
#: One tracker relays at most this in all: 10,000 frames/s are ~20% of a core at the
#: 19 µs a relayed frame costs (docs/BENCHMARKS.md, *Relay*).
DEFAULT_IN_ALL = RelayRate(16 * _MIB, 32 * _MIB, 10_000.0, 20_000.0)


@dataclass(frozen=True, slots=True)
class RelayLimits:
    """The relay's settings (``TrackerConfig`` fills them; ``--no-relay`` disables it).

    The flat fields are the per-session budget; ``per_user`` ``None`` means the
    session's (a user has one session at a time: their bucket is what carries over
    when they log in again, or at another tracker of the group).
    """

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
    per_user: RelayRate | None = None
    per_source: RelayRate = DEFAULT_PER_SOURCE
    in_all: RelayRate = DEFAULT_IN_ALL

    @property
    def per_session(self) -> RelayRate:
        return RelayRate(
            self.bytes_per_second, self.burst_bytes, self.frames_per_second, self.burst_frames
        )

    @property
    def user_rate(self) -> RelayRate:
        return self.per_session if self.per_user is None else self.per_user

    def check(self) -> None:
        """Raise ValueError for settings the relay cannot work with."""
        self.per_session.check(BudgetScope.SESSION)
        self.user_rate.check(BudgetScope.USER)
        self.per_source.check(BudgetScope.SOURCE)
        self.in_all.check(BudgetScope.TRACKER)
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

    def wait(self, size: int, now: float) -> float:
        """Seconds until a frame of ``size`` body bytes fits this session's budget."""
        return max(self._frames.wait(now), self._bytes.wait(now, size))

    def take(self, size: int, now: float) -> None:
        """Charge a frame that :meth:`wait` said fits."""
        self._frames.take(now)
        self._bytes.take(now, size)


@dataclass(frozen=True, slots=True)
class Hold:
    """A frame over budget: wait this long (> 0), for ``scope``'s budget."""

    wait: float
    scope: BudgetScope


class _KeyedRate:
    """One scope's byte and frame buckets per key (a username, a source)."""

    __slots__ = ("bytes", "frames")

    def __init__(self, kind: str, rate: RelayRate) -> None:
        self.bytes = KeyedTokenBuckets(
            KeyedRecords(f"{kind}_bytes"), rate.burst_bytes, rate.bytes_per_second, debt=True
        )
        self.frames = KeyedTokenBuckets(
            KeyedRecords(f"{kind}_frames"), rate.burst_frames, rate.frames_per_second, debt=True
        )

    def wait(self, key: str, size: int, now: float) -> float:
        return max(self.frames.wait(key, now), self.bytes.wait(key, now, size))

    def take(self, key: str, size: int, now: float) -> None:
        self.frames.take(key, now)
        self.bytes.take(key, now, size)


class RelayBudgets:
    """The budgets above a session: per user, per source, and this tracker's in all.

    :meth:`charge` is the one way a frame is paid for (with its session's budget): all
    scopes or none, so a frame held by one scope costs the others nothing and the same
    frame is simply asked for again after the wait.
    """

    __slots__ = ("_in_all_bytes", "_in_all_frames", "_per_source", "_per_user")

    def __init__(self, limits: RelayLimits) -> None:
        self._per_user = _KeyedRate("relay_user", limits.user_rate)
        self._per_source = _KeyedRate("relay_source", limits.per_source)
        total = limits.in_all
        self._in_all_bytes = TokenBucket(total.burst_bytes, total.bytes_per_second, 0.0)
        self._in_all_frames = TokenBucket(total.burst_frames, total.frames_per_second, 0.0)

    @property
    def tables(self) -> tuple[KeyedRecords, ...]:
        """The per-user and per-source tables, for a group to share (see the module)."""
        return tuple(
            table.records
            for rate in (self._per_user, self._per_source)
            for table in (rate.bytes, rate.frames)
        )

    def charge(
        self, session: RelaySession, user: str, source: str | None, size: int, now: float
    ) -> Hold | None:
        """Charge a frame of ``size`` body bytes from ``session`` of ``user`` at
        ``source`` (``None``: a trusted network, no per-source budget) to every scope,
        or to none and say the longest wait and whose it is."""
        waits = [
            (session.wait(size, now), BudgetScope.SESSION),
            (self._per_user.wait(user, size, now), BudgetScope.USER),
            (
                max(self._in_all_frames.wait(now), self._in_all_bytes.wait(now, size)),
                BudgetScope.TRACKER,
            ),
        ]
        if source is not None:
            waits.append((self._per_source.wait(source, size, now), BudgetScope.SOURCE))
        wait, scope = max(waits, key=lambda pair: pair[0])
        if wait > 0:
            return Hold(wait, scope)
        session.take(size, now)
        self._per_user.take(user, size, now)
        if source is not None:
            self._per_source.take(source, size, now)
        self._in_all_frames.take(now)
        self._in_all_bytes.take(now, size)
        return None


@dataclass(slots=True)
class RelayStats:
    """What the relay did since the tracker started (the log prints it now and then)."""

    frames: int = 0
    bytes: int = 0
    ends: int = 0
    refused: int = 0
    #: Frames held for a budget, in all and by the scope that held them.
    shaped: int = 0
    shaped_by: dict[BudgetScope, int] = field(default_factory=dict)
    dropped: int = 0

    def held(self, scope: BudgetScope) -> None:
        self.shaped += 1
        self.shaped_by[scope] = self.shaped_by.get(scope, 0) + 1

    def copy(self) -> RelayStats:
        """A snapshot (the log compares the next one with it)."""
        return replace(self, shaped_by=dict(self.shaped_by))

    def line(self, pairs: int) -> str:
        scopes = ", ".join(f"{self.shaped_by.get(s, 0)} per {s}" for s in BudgetScope)
        return (
            f"relay: {self.frames} frames ({self.bytes} bytes) forwarded, {self.ends} links"
            f" ended, {pairs} pairs now; {self.shaped} frames held for the rate limit"
            f" ({scopes}), {self.refused} refused, {self.dropped} dropped (slow receivers)"
        )
