"""Inbound handshakes: slots per source and in all, and what relayed starts may cost.
Sans-I/O (``now`` is an argument).

Anyone who can reach the P2P listener can open sockets and say nothing: each holds a
slot until the handshake timeout. So at most ``per_source`` handshakes are in progress
per *source* (an IPv4 address or an IPv6 /64: :mod:`commons.network_source`; for a
relayed link, the relaying *user*), the excess closed at once, and at most ``total`` in
all. When every slot is taken, a newcomer from a source holding fewer slots than the
busiest source takes the place of that source's oldest handshake (OpenSSH's
``MaxStartups`` drops at random; this drops the greediest): a flood from a few sources
cannot keep anyone else out, only an attacker with ``total`` sources can.

*Standing* (relayed links): a handshake from a user we know (a room-mate, a contact
whose key is pinned, a user we have a channel with) is admitted as ``known``. ``reserve``
slots are for known users only, so strangers hold at most ``total - reserve``; and when
every slot is taken, a known newcomer takes the place of a stranger's handshake (the
busiest stranger's oldest) before any rule about known users applies. Sybil accounts
are strangers: however many there are, they cannot keep a contact or a room-mate out.

:class:`StartBudget` bounds what relayed starts cost us. A relayed handshake we answer
costs frames of our own relay budget at the tracker (message 2, then ``accept`` or
``reject``, then the link's end: at most three), and the tracker stops reading our
session when that budget is spent: a stranger who could make us answer at will could
cut our tracker link (*reflection*). So only a valid first message (a handshake start)
on an unknown link is answered at all, and starts are admitted at a bounded rate: per
user, and in all for strangers and for known users apart. A refused start gets a
``RELAY`` end (so an honest dialler learns at once) only within a small budget of its
own; beyond it, silence (the dialler's handshake times out).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from commons.token_bucket import TokenBucket

DEFAULT_TOTAL = 64
#: A room of 16 behind one address (a NAT, a LAN) can all dial a newcomer at once.
DEFAULT_PER_SOURCE = 16
#: One user has at most one channel with us: two handshakes cover crossing dials.
RELAYED_PER_USER = 2
#: Relayed handshake slots only known users may take.
RELAYED_RESERVE = 16


@dataclass(frozen=True, slots=True)
class SlotDecision:
    """``admitted``: the handshake may run. ``evict``: the token of a handshake in
    progress to close first (its slot went to this one)."""

    admitted: bool
    evict: int | None = None
    reason: str = ""


class HandshakeSlots:
    """The handshakes in progress, by source; each slot remembers its standing."""

    def __init__(
        self, total: int = DEFAULT_TOTAL, per_source: int = DEFAULT_PER_SOURCE, reserve: int = 0
    ) -> None:
        if not 0 <= reserve < total:
            raise ValueError("the reserve must leave strangers at least one slot")
        self.total = total
        self.per_source = per_source
        self.reserve = reserve
        #: source -> its tokens, oldest first, each with whether it was admitted as known.
        self._by_source: dict[str, OrderedDict[int, bool]] = {}
        self._count = 0
        self._strangers = 0

    def __len__(self) -> int:
        return self._count

    def held_by(self, source: str) -> int:
        held = self._by_source.get(source)
        return 0 if held is None else len(held)

    @property
    def held_by_strangers(self) -> int:
        return self._strangers

    def admit(self, source: str, token: int, *, known: bool = False) -> SlotDecision:
        """A connection from ``source`` wants to start a handshake (``token`` names it);
        ``known``: the source is a user we know (see the module docstring)."""
        own = self.held_by(source)
        if own >= self.per_source:
            return SlotDecision(False, reason="too many handshakes from one source")
        evict: int | None = None
        if known and self._count >= self.total:
            evict = self._evict(own, strangers_only=True, unconditionally=True)
            if evict is None:
                evict = self._evict(own, strangers_only=False, unconditionally=False)
            if evict is None:
                return SlotDecision(False, reason="too many handshakes in progress")
        elif not known and (
            self._count >= self.total or self._strangers >= self.total - self.reserve
        ):
            evict = self._evict(own, strangers_only=True, unconditionally=False)
            if evict is None:
                return SlotDecision(False, reason="too many handshakes in progress")
        self._by_source.setdefault(source, OrderedDict())[token] = known
        self._count += 1
        if not known:
            self._strangers += 1
        return SlotDecision(True, evict)

    def _evict(self, own: int, *, strangers_only: bool, unconditionally: bool) -> int | None:
        """Free the oldest slot of the busiest source (counting strangers' slots only,
        if ``strangers_only``) and return its token; unless ``unconditionally``, only
        if that source holds more than ``own + 1`` (or the newcomer would merely become
        the busiest in its place)."""
        busiest: str | None = None
        most = 0
        for source, held in self._by_source.items():
            count = sum(1 for known in held.values() if not known) if strangers_only else len(held)
            if count > most:
                busiest, most = source, count
        if busiest is None or (not unconditionally and most <= own + 1):
            return None
        held = self._by_source[busiest]
        token = next(t for t, known in held.items() if not (strangers_only and known))
        self.release(busiest, token)
        return token

    def release(self, source: str, token: int) -> None:
        """The handshake ``token`` ended (or was evicted); releasing twice is harmless."""
        held = self._by_source.get(source)
        if held is None or token not in held:
            return
        if not held.pop(token):
            self._strangers -= 1
        self._count -= 1
        if not held:
            del self._by_source[source]


@dataclass(frozen=True, slots=True)
class StartRates:
    """How fast relayed handshake starts are answered: ``(burst, per second)`` pairs.

    At most three frames of ours answer one start, so the defaults cost strangers'
    starts at most 30 frames/s of the tracker's 500 frames/s session budget, and one
    account at most 1.5 frames/s once its burst is spent."""

    per_user: tuple[float, float] = (4.0, 0.5)
    strangers: tuple[float, float] = (20.0, 10.0)
    known: tuple[float, float] = (64.0, 16.0)
    #: ``RELAY`` ends for refused starts (a courtesy to an honest dialler).
    refusal_ends: tuple[float, float] = (10.0, 2.0)
    #: Users whose own bucket is remembered (a full bucket is forgotten first).
    max_users: int = 1024


class StartBudget:
    """Token buckets for relayed handshake starts (see the module docstring)."""

    def __init__(self, rates: StartRates, now: float) -> None:
        self.rates = rates
        self._strangers = TokenBucket(*rates.strangers, now)
        self._known = TokenBucket(*rates.known, now)
        self._ends = TokenBucket(*rates.refusal_ends, now)
        self._users: OrderedDict[str, TokenBucket] = OrderedDict()

    def allows(self, user: str, *, known: bool, now: float) -> str | None:
        """``None`` if a start from ``user`` may be answered now (nothing is taken:
        :meth:`take` once it is admitted), else why not."""
        shared = self._known if known else self._strangers
        if shared.wait(now) > 0:
            return "too many relayed handshakes lately"
        own = self._users.get(user)
        if own is not None and own.wait(now) > 0:
            return "too many relayed handshakes from one user lately"
        if own is None and len(self._users) >= self.rates.max_users and not self._prune(now):
            return "too many users started relayed handshakes lately"
        return None

    def take(self, user: str, *, known: bool, now: float) -> None:
        """Charge an admitted start (after :meth:`allows` said yes)."""
        (self._known if known else self._strangers).take(now)
        own = self._users.get(user)
        if own is None:
            own = self._users[user] = TokenBucket(*self.rates.per_user, now)
        self._users.move_to_end(user)
        own.take(now)

    def refusal_end(self, now: float) -> bool:
        """Whether a refused start may be told so (a ``RELAY`` end) now."""
        return self._ends.take(now) == 0

    def _prune(self, now: float) -> bool:
        """Forget users whose bucket is full again; whether there is room now."""
        for user in [u for u, bucket in self._users.items() if bucket.full(now)]:
            del self._users[user]
        return len(self._users) < self.rates.max_users
