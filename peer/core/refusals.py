"""Refused inbound channels, summarised: one notice per name and interval. Sans-I/O.

Every refused inbound channel used to become an error event, so a stranger making
6,510 handshakes that claim to be "alice" gave the user 6,509 alarming lines. Now the
first refusal of a kind (the name claimed and the error code) within ``interval``
seconds is reported as it happens, with its details; the others are only counted, and
when the interval is over one :class:`peer.events.ChannelsRefused` says how many there
were. At most ``max_kinds`` kinds are tracked per interval; refusals of further kinds
are counted under the name ``"*"`` (any name), so the bookkeeping stays bounded however
many names a flood claims.
"""

from __future__ import annotations

from peer import events as ev

#: A summary per name at most this often (seconds).
SUMMARY_INTERVAL = 60.0
#: Distinct (name, code) kinds tracked per interval; the rest share one counter.
MAX_KINDS = 64
ANY_NAME = "*"


class RefusalDigest:
    def __init__(self, interval: float = SUMMARY_INTERVAL, max_kinds: int = MAX_KINDS) -> None:
        self.interval = interval
        self.max_kinds = max_kinds
        self._started: dict[tuple[str, str], float] = {}  # first refusal of the interval
        self._counts: dict[tuple[str, str], int] = {}  # refusals not reported yet

    def refused(self, user: str, code: str, message: str, now: float) -> list[ev.ClientEvent]:
        """A channel claiming to be ``user`` was refused (``code``); what to tell the
        user now (the first of an interval, in full), or nothing."""
        out = self.due(now)
        kind = (user, code)
        if kind not in self._started and len(self._started) >= self.max_kinds:
            kind = (ANY_NAME, code)
        if kind in self._started:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            return out
        self._started[kind] = now
        return [*out, ev.ErrorEvent(code, message)]

    def due(self, now: float) -> list[ev.ClientEvent]:
        """Summaries of the intervals that ended by ``now``; those kinds start afresh."""
        out: list[ev.ClientEvent] = []
        for kind, started in sorted(self._started.items()):
            if now - started < self.interval:
                continue
            del self._started[kind]
            count = self._counts.pop(kind, 0)
            if count:
                user, code = kind
                out.append(ev.ChannelsRefused(user, code, count, self.interval))
        return out

    def next_due(self) -> float | None:
        """When the next summary is due (``None``: nothing to summarise)."""
        times = [self._started[k] + self.interval for k in self._counts]
        return min(times, default=None)
