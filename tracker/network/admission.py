"""Which new connections the tracker takes, counted per source. Sans-I/O.

The original had one global cap: 300 idle sockets from one address made everybody
else get ``too_many_connections``. Here, as with OpenSSH's ``MaxStartups`` and
``PerSourceMaxStartups``, every limit that one party can fill is per source (an IPv4
address or an IPv6 /64, :func:`tracker.limits.source.source_key`), so one source flooding
never stops an honest user elsewhere from getting in:

* new connections per source: a token bucket (``burst``, then ``per_second``), which
  also bounds the TLS handshakes one source can make the tracker do;
* connections not logged in yet: ``max_unauthenticated`` in all and
  ``max_unauthenticated_per_source`` each (they last at most the auth timeout);
* logged-in sessions per source: ``max_sessions_per_source``;
* all connections: ``max_connections``.

A connection over a limit is either refused politely (TLS, then
``too_many_connections``: at most :data:`MAX_REJECTING` at once and
:data:`MAX_REJECTING_PER_SOURCE` per source, so the politeness cannot be flooded either)
or dropped at once without a byte. Sources in a trusted network skip the per-source
limits. Every refusal is counted by reason in :attr:`SourceAdmission.refused`.

The pool of connections not logged in yet cannot be *held* by a crowd of sources
(issue 20: 1,000 sources holding 2,100 idle sockets let 0 of 15 honest users in):

* **a share kept for sources with a good history**: ``reserved_share`` of
  ``max_unauthenticated`` takes only connections from a source where a session logged
  in within ``history_window`` seconds (:attr:`SourceAdmission.history`, a bounded
  table saved with the throttles, so a restart keeps it) or from a trusted network. A
  crowd of fresh addresses never gets a slot of it;
* **the oldest idle go first**: when the pool a connection may use is full, the
  oldest connection of that pool that has been open at least ``grace`` seconds is
  closed to make room (one that never sent a request before one that did), and the
  new one is admitted: ``AdmissionVerdict.evict`` names it, the shell closes it.
  Every connection gets ``grace`` seconds to log in that nobody can take from it; a
  source with history may evict in the reserved share or the open one, a source
  without only in the open one. Only when nothing is old enough is the newcomer
  refused (and the listener waits for room, :mod:`tracker.network.listener`);
* **a source may make room only now and then**: one eviction per
  ``EVICTION_INTERVALS * grace`` seconds per source (trusted ones excepted). A crowd of
  ``N`` sources can so keep at most about ``N / EVICTION_INTERVALS`` slots younger than
  ``grace`` (100 of the open 750 at 1,000 sources): the rest grow old, and an honest
  newcomer finds one to take. Not at once, though: every source may make room as soon
  as it comes (a newcomer cannot be told from a crowd's source), so a crowd holds ``N``
  evictions at first, and again after ten graces without using them. Larger than the
  open share, it can re-open all of it in one go and keep newcomers without history out
  for about a grace (they are refused and try again); ``tests/abuse/test_login_pool.py``
  measures after that opening burst.

Clocks: ``now`` is wall-clock seconds (``time.time()``), because the history outlives
the process.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from enum import Enum

from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import KeyedTokenBuckets
from tracker.limits.source import TrustedNetworks, source_key

#: Refusals in progress (TLS handshake, then the error reply), in all and per source.
MAX_REJECTING = 32
MAX_REJECTING_PER_SOURCE = 2
#: Defaults: the share of the pool kept for sources with history, how long a login
#: there counts, and how long a new connection is safe from eviction.
DEFAULT_RESERVED_SHARE = 0.25
DEFAULT_HISTORY_WINDOW = 30 * 24 * 3600.0
DEFAULT_GRACE = 3.0
#: Sources remembered as having logged in (least recently seen forgotten first).
MAX_HISTORY = 100_000
#: A source may close one connection of others per this many graces.
EVICTION_INTERVALS = 10


class Verdict(Enum):
    ADMIT = "admit"
    REJECT = "reject"  # TLS handshake, ``too_many_connections``, close
    DROP = "drop"  # close at once


@dataclass(slots=True)
class _Usage:
    unauthenticated: int = 0
    sessions: int = 0
    rejecting: int = 0

    def idle(self) -> bool:
        return not (self.unauthenticated or self.sessions or self.rejecting)


@dataclass(frozen=True, slots=True)
class AdmissionVerdict:
    """What :meth:`SourceAdmission.arrive` decided for one connection; hand it back later.

    Not a resumption ticket: it lives as long as its connection and never leaves the
    tracker. ``key`` names the connection (the shell's session id); ``reserved``: it
    holds a slot of the share kept for sources with history; ``evict``: the key of the
    connection the shell must close now to make room for this one.
    """

    source: str
    verdict: Verdict
    trusted: bool
    reason: str = ""
    key: int = 0
    reserved: bool = False
    evict: int | None = None


@dataclass(slots=True)
class _Waiting:
    """A connection not logged in yet, in its pool."""

    source: str
    opened: float


class _Pool:
    """Connections not logged in yet that share one capacity, oldest first; those
    that have sent no request apart from those that have (evicted first)."""

    __slots__ = ("capacity", "idle", "started")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.idle: OrderedDict[int, _Waiting] = OrderedDict()
        self.started: OrderedDict[int, _Waiting] = OrderedDict()

    def __len__(self) -> int:
        return len(self.idle) + len(self.started)

    def has_room(self) -> bool:
        return len(self) < self.capacity

    def victim(self, now: float, grace: float) -> int | None:
        """The connection to close for a newcomer: the oldest idle one, else the oldest,
        if it has been open ``grace`` seconds; ``None`` if none has."""
        for waiting in (self.idle, self.started):
            if waiting:
                key, entry = next(iter(waiting.items()))
                if now - entry.opened >= grace:
                    return key
        return None

    def pop(self, key: int) -> _Waiting | None:
        entry = self.idle.pop(key, None)
        return entry if entry is not None else self.started.pop(key, None)


class SourceAdmission:
    """Connection counts per source and in all; see the module docstring."""

    def __init__(
        self,
        *,
        max_connections: int,
        max_unauthenticated: int,
        max_unauthenticated_per_source: int,
        max_sessions_per_source: int,
        burst_per_source: int,
        per_source_per_second: float,
        trusted: TrustedNetworks | None = None,
        reserved_share: float = DEFAULT_RESERVED_SHARE,
        history_window: float = DEFAULT_HISTORY_WINDOW,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        self.max_connections = max_connections
        self.max_unauthenticated = max_unauthenticated
        self.max_unauthenticated_per_source = max_unauthenticated_per_source
        self.max_sessions_per_source = max_sessions_per_source
        self.trusted = trusted or TrustedNetworks()
        self.history_window = history_window
        self.grace = grace
        #: Refusals by reason, for logs and tests; evictions under ``"evicted"``.
        self.refused: Counter[str] = Counter()
        self._rates = KeyedTokenBuckets(
            KeyedRecords("connect_source"), burst_per_source, per_source_per_second
        )
        #: Sources where a session logged in: value the count, stamp the last one.
        self.history = KeyedRecords("logged_in_source", MAX_HISTORY)
        self._evictions = KeyedTokenBuckets(
            KeyedRecords("evict_source"), 1, 1 / (EVICTION_INTERVALS * grace)
        )
        reserved = min(max_unauthenticated - 1, int(max_unauthenticated * reserved_share))
        self._reserved = _Pool(max(0, reserved))
        self._open = _Pool(max_unauthenticated - self._reserved.capacity)
        self._evicted: set[int] = set()
        self._keys = 0
        self._usage: dict[str, _Usage] = {}
        self._total = 0
        self._unauthenticated = 0
        self._rejecting = 0

    @property
    def connections(self) -> int:
        return self._total

    @property
    def unauthenticated(self) -> int:
        return self._unauthenticated

    def usage(self, source: str) -> tuple[int, int]:
        """``(not logged in, sessions)`` held by ``source``."""
        usage = self._usage.get(source)
        return (0, 0) if usage is None else (usage.unauthenticated, usage.sessions)

    def _slot(self, source: str) -> _Usage:
        usage = self._usage.get(source)
        if usage is None:
            usage = self._usage[source] = _Usage()
        return usage

    def _release(self, source: str, usage: _Usage) -> None:
        if usage.idle():
            self._usage.pop(source, None)

    def has_history(self, host: str, now: float) -> bool:
        """Whether ``host``'s source logged in within the history window (or is trusted)."""
        if self.trusted.contains(host):
            return True
        record = self.history.get(source_key(host))
        return record is not None and record.stamp >= now - self.history_window

    def has_place(self, history: bool, now: float | None = None) -> bool:
        """Whether a newcomer (from a source with history or not) would find a slot,
        free or made by closing an old one, in the pools it may use."""
        return self._place(history, time.time() if now is None else now) is not None

    def is_full(self, now: float | None = None) -> bool:
        """Not even a source with history would find a slot: the listener may stop
        accepting for a while."""
        return not self.has_place(True, now)

    def _place(
        self, history: bool, now: float, source: str | None = None
    ) -> tuple[_Pool, int | None] | None:
        """The pool a newcomer goes in and the connection it displaces, if any
        (``source``: the newcomer's, when it must have an eviction left; it is taken)."""
        pools = (self._reserved, self._open) if history else (self._open,)
        for pool in pools:
            if pool.has_room():
                return pool, None
        if source is not None and self._evictions.wait(source, now) > 0:
            return None
        for pool in pools:
            victim = pool.victim(now, self.grace)
            if victim is not None:
                if source is not None:
                    self._evictions.take(source, now)
                return pool, victim
        return None

    def _evict(self, key: int) -> None:
        for pool in (self._reserved, self._open):
            entry = pool.pop(key)
            if entry is not None:
                usage = self._slot(entry.source)
                usage.unauthenticated -= 1
                self._unauthenticated -= 1
                self._total -= 1
                self._evicted.add(key)
                self.refused["evicted"] += 1
                self._release(entry.source, usage)
                return

    def arrive(
        self, host: str, now: float | None = None, key: int | None = None
    ) -> AdmissionVerdict:
        """Decide for a connection just accepted from ``host`` (``key``: the shell's
        name for it, given back in :attr:`AdmissionVerdict.evict`)."""
        now = time.time() if now is None else now
        if key is None:
            self._keys += 1
            key = self._keys
        source = source_key(host)
        trusted = self.trusted.contains(host)
        usage = self._slot(source)
        reason = ""
        placed: tuple[_Pool, int | None] | None = None
        if not trusted and self._rates.take(source, now):
            reason = "too many new connections from your address"
        elif self._total >= self.max_connections:
            reason = "the tracker is full"
        elif not trusted and usage.unauthenticated >= self.max_unauthenticated_per_source:
            reason = "too many connections from your address are logging in"
        else:
            placed = self._place(self.has_history(host, now), now, None if trusted else source)
            if placed is None:
                reason = "too many connections are logging in"
        if placed is not None:
            pool, victim = placed
            if victim is not None:
                self._evict(victim)
                usage = self._slot(source)  # the victim's source may have been this one
            pool.idle[key] = _Waiting(source, now)
            usage.unauthenticated += 1
            self._unauthenticated += 1
            self._total += 1
            return AdmissionVerdict(
                source,
                Verdict.ADMIT,
                trusted,
                key=key,
                reserved=pool is self._reserved,
                evict=victim,
            )
        self.refused[reason] += 1
        polite_here = trusted or usage.rejecting < MAX_REJECTING_PER_SOURCE
        if self._rejecting < MAX_REJECTING and polite_here:
            usage.rejecting += 1
            self._rejecting += 1
            return AdmissionVerdict(source, Verdict.REJECT, trusted, reason, key=key)
        self._release(source, usage)
        return AdmissionVerdict(source, Verdict.DROP, trusted, reason, key=key)

    def _pool_of(self, admitted: AdmissionVerdict) -> _Pool:
        return self._reserved if admitted.reserved else self._open

    def request_seen(self, admitted: AdmissionVerdict) -> None:
        """The connection sent a request: it is no longer among the idle (evicted first)."""
        pool = self._pool_of(admitted)
        entry = pool.idle.pop(admitted.key, None)
        if entry is not None:
            pool.started[admitted.key] = entry

    def may_log_in(self, admitted: AdmissionVerdict, replacing_same_source: bool = False) -> bool:
        """Whether this connection's source may hold one more session."""
        if admitted.trusted or replacing_same_source:
            return True
        return self._slot(admitted.source).sessions < self.max_sessions_per_source

    def logged_in(self, admitted: AdmissionVerdict, now: float | None = None) -> None:
        """The connection became a session (call once, after :meth:`may_log_in`); its
        source now has history."""
        now = time.time() if now is None else now
        if admitted.key in self._evicted:
            return  # closed to make room: the shell never starts its session
        usage = self._slot(admitted.source)
        usage.sessions += 1
        self._pool_of(admitted).pop(admitted.key)
        usage.unauthenticated -= 1
        self._unauthenticated -= 1
        self.history.add(admitted.source, now)

    def gone(self, admitted: AdmissionVerdict, was_session: bool) -> None:
        """The connection closed; give back what it held."""
        usage = self._slot(admitted.source)
        if admitted.verdict is Verdict.REJECT:
            usage.rejecting -= 1
            self._rejecting -= 1
        elif admitted.key in self._evicted:
            self._evicted.discard(admitted.key)  # its slot went back when it was evicted
        elif admitted.verdict is Verdict.ADMIT:
            self._total -= 1
            if was_session:
                usage.sessions -= 1
            else:
                self._pool_of(admitted).pop(admitted.key)
                usage.unauthenticated -= 1
                self._unauthenticated -= 1
        self._release(admitted.source, usage)
