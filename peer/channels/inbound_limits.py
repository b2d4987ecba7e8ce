"""Slots for inbound handshakes in progress, per source and in all. Sans-I/O.

Anyone who can reach the P2P listener can open sockets and say nothing: each holds a
slot until the handshake timeout. So at most ``per_source`` handshakes are in progress
per *source* (an IPv4 address or an IPv6 /64: :mod:`commons.network_source`), the
excess closed at once, and at most ``total`` in all. When every slot is taken, a
newcomer from a source holding fewer slots than the busiest source takes the place of
that source's oldest handshake (OpenSSH's ``MaxStartups`` drops at random; this drops
the greediest): a flood from a few sources cannot keep anyone else out, only an
attacker with ``total`` sources can.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

DEFAULT_TOTAL = 64
#: A room of 16 behind one address (a NAT, a LAN) can all dial a newcomer at once.
DEFAULT_PER_SOURCE = 16


@dataclass(frozen=True, slots=True)
class SlotDecision:
    """``admitted``: the handshake may run. ``evict``: the token of a handshake in
    progress to close first (its slot went to this one)."""

    admitted: bool
    evict: int | None = None
    reason: str = ""


class HandshakeSlots:
    def __init__(self, total: int = DEFAULT_TOTAL, per_source: int = DEFAULT_PER_SOURCE) -> None:
        self.total = total
        self.per_source = per_source
        self._by_source: dict[str, OrderedDict[int, None]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def held_by(self, source: str) -> int:
        held = self._by_source.get(source)
        return 0 if held is None else len(held)

    def admit(self, source: str, token: int) -> SlotDecision:
        """A connection from ``source`` wants to start a handshake (``token`` names it)."""
        own = self.held_by(source)
        if own >= self.per_source:
            return SlotDecision(False, reason="too many handshakes from one source")
        evict: int | None = None
        if self._count >= self.total:
            busiest = max(self._by_source, key=lambda s: len(self._by_source[s]))
            if len(self._by_source[busiest]) <= own + 1:
                return SlotDecision(False, reason="too many handshakes in progress")
            evict = next(iter(self._by_source[busiest]))
            self.release(busiest, evict)
        self._by_source.setdefault(source, OrderedDict())[token] = None
        self._count += 1
        return SlotDecision(True, evict)

    def release(self, source: str, token: int) -> None:
        """The handshake ``token`` ended (or was evicted); releasing twice is harmless."""
        held = self._by_source.get(source)
        if held is None or token not in held:
            return
        del held[token]
        self._count -= 1
        if not held:
            del self._by_source[source]
