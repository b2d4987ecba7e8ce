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
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from enum import Enum

from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import KeyedTokenBuckets
from tracker.limits.source import TrustedNetworks, source_key

#: Refusals in progress (TLS handshake, then the error reply), in all and per source.
MAX_REJECTING = 32
MAX_REJECTING_PER_SOURCE = 2


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
    tracker.
    """

    source: str
    verdict: Verdict
    trusted: bool
    reason: str = ""


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
    ) -> None:
        self.max_connections = max_connections
        self.max_unauthenticated = max_unauthenticated
        self.max_unauthenticated_per_source = max_unauthenticated_per_source
        self.max_sessions_per_source = max_sessions_per_source
        self.trusted = trusted or TrustedNetworks()
        #: Refusals by reason, for logs and tests.
        self.refused: Counter[str] = Counter()
        self._rates = KeyedTokenBuckets(
            KeyedRecords("connect_source"), burst_per_source, per_source_per_second
        )
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

    def arrive(self, host: str, now: float | None = None) -> AdmissionVerdict:
        """Decide for a connection just accepted from ``host``."""
        source = source_key(host)
        trusted = self.trusted.contains(host)
        usage = self._slot(source)
        reason = ""
        if not trusted and self._rates.take(source, time.monotonic() if now is None else now):
            reason = "too many new connections from your address"
        elif self._total >= self.max_connections:
            reason = "the tracker is full"
        elif self._unauthenticated >= self.max_unauthenticated:
            reason = "too many connections are logging in"
        elif not trusted and usage.unauthenticated >= self.max_unauthenticated_per_source:
            reason = "too many connections from your address are logging in"
        if not reason:
            usage.unauthenticated += 1
            self._unauthenticated += 1
            self._total += 1
            return AdmissionVerdict(source, Verdict.ADMIT, trusted)
        self.refused[reason] += 1
        polite_here = trusted or usage.rejecting < MAX_REJECTING_PER_SOURCE
        if self._rejecting < MAX_REJECTING and polite_here:
            usage.rejecting += 1
            self._rejecting += 1
            return AdmissionVerdict(source, Verdict.REJECT, trusted, reason)
        self._release(source, usage)
        return AdmissionVerdict(source, Verdict.DROP, trusted, reason)

    def may_log_in(self, admitted: AdmissionVerdict, replacing_same_source: bool = False) -> bool:
        """Whether this connection's source may hold one more session."""
        if admitted.trusted or replacing_same_source:
            return True
        return self._slot(admitted.source).sessions < self.max_sessions_per_source

    def logged_in(self, admitted: AdmissionVerdict) -> None:
        """The connection became a session (call once, after :meth:`may_log_in`)."""
        usage = self._slot(admitted.source)
        usage.unauthenticated -= 1
        usage.sessions += 1
        self._unauthenticated -= 1

    def gone(self, admitted: AdmissionVerdict, was_session: bool) -> None:
        """The connection closed; give back what it held."""
        usage = self._slot(admitted.source)
        if admitted.verdict is Verdict.REJECT:
            usage.rejecting -= 1
            self._rejecting -= 1
        elif admitted.verdict is Verdict.ADMIT:
            self._total -= 1
            if was_session:
                usage.sessions -= 1
            else:
                usage.unauthenticated -= 1
                self._unauthenticated -= 1
        self._release(admitted.source, usage)
