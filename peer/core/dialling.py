"""Who dials whom, when and how, sans-I/O: dials under way, fallback dials, re-dials,
and the path a dial takes (:data:`DialPath`).

So that each pair of users ends up with one channel:

* Room members: of two users in a room, the one whose name sorts first dials at once;
  the other dials only if no channel exists ``fallback_delay`` seconds later.
* Simultaneous dials: the channel dialled by the smaller name wins on both ends. The
  responder with the smaller name refuses the other one as a duplicate while it is
  dialling, or already holds a channel it dialled itself (:meth:`DialPlan.refuses`).
* A channel that drops while nobody left is dialled again after each of
  ``redial_delays`` (the larger name adds ``fallback_delay``, so the smaller one's dial
  usually wins) until one succeeds or the plan gives up.

The path is decided by :meth:`peer.core.peer_core.PeerCore.dial_path` under an address
policy and a dial rate the shell owns (:class:`AddressCheck`, :class:`RateCheck`; in the
client, :mod:`peer.channels.dial_policy`), both sans-I/O, passed in with each decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from peer.core.actions import DialFailure


class AddressCheck(Protocol):
    """Which addresses may be dialled at all."""

    def refusal(self, host: str) -> str | None:
        """Why ``host`` must not be dialled, or ``None`` if it may be."""
        ...


class RateCheck(Protocol):
    """How often one address may be dialled."""

    def take(self, host: str, port: int, now: float) -> float:
        """0 if a dial to ``host:port`` may go now (a token is taken), else the wait."""
        ...


@dataclass(frozen=True, slots=True)
class DialDirect:
    """Dial ``host:port`` directly."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class DialRelay:
    """Dial through the tracker's relay."""


@dataclass(frozen=True, slots=True)
class DialRefused:
    """Do not dial: report the dial failed with ``failure`` and ``detail``."""

    failure: DialFailure
    detail: str


#: How to carry out a :class:`peer.core.actions.Dial` or :class:`peer.core.actions.Upgrade`.
DialPath = DialDirect | DialRelay | DialRefused


@dataclass(slots=True)
class _Redial:
    attempt: int
    due: float | None  # None while that attempt's dial is under way


class DialPlan:
    def __init__(self, me: str, fallback_delay: float, redial_delays: tuple[float, ...]) -> None:
        self.me = me
        self.fallback_delay = fallback_delay
        self.redial_delays = redial_delays
        self.dialing: dict[str, bool] = {}  # user -> retry (not asked for by the user)
        self._fallback: dict[str, float] = {}
        self._redial: dict[str, _Redial] = {}

    def _extra(self, user: str) -> float:
        return 0.0 if self.me < user else self.fallback_delay

    def started(self, user: str, *, retry: bool) -> None:
        self.dialing[user] = retry
        self._fallback.pop(user, None)

    def finished(self, user: str) -> None:
        self.dialing.pop(user, None)

    def refuses(self, user: str, *, holds_own_channel: bool) -> bool:
        """Tie-break for an inbound channel from ``user``: True to refuse it as a duplicate."""
        return self.me < user and (user in self.dialing or holds_own_channel)

    def leads(self, user: str) -> bool:
        """Whether this user dials ``user`` first (the smaller name does)."""
        return self.me < user

    def schedule_fallback(self, user: str, now: float) -> None:
        self._fallback.setdefault(user, now + self.fallback_delay)

    def start_redial(self, user: str, now: float) -> None:
        if self.redial_delays:
            self._redial[user] = _Redial(0, now + self.redial_delays[0] + self._extra(user))

    def redialing(self, user: str) -> bool:
        return user in self._redial

    def redial_failed(self, user: str, now: float) -> bool:
        """A re-dial attempt failed: True if another is scheduled, False if we give up."""
        state = self._redial.get(user)
        if state is None:
            return False
        state.attempt += 1
        if state.attempt >= len(self.redial_delays):
            del self._redial[user]
            return False
        state.due = now + self.redial_delays[state.attempt] + self._extra(user)
        return True

    def cancel(self, user: str) -> None:
        """No more fallback dial or re-dial for ``user`` (a channel opened, they left)."""
        self._fallback.pop(user, None)
        self._redial.pop(user, None)

    def cancel_all(self) -> None:
        self._fallback.clear()
        self._redial.clear()

    def due(self, now: float) -> tuple[list[str], list[str]]:
        """``(fallback dials, re-dials)`` due at ``now``; a due re-dial is marked under way."""
        fallbacks = sorted(u for u, at in self._fallback.items() if at <= now)
        for user in fallbacks:
            del self._fallback[user]
        redials = sorted(u for u, s in self._redial.items() if s.due is not None and s.due <= now)
        for user in redials:
            self._redial[user].due = None
        return fallbacks, redials

    def next_due(self) -> float | None:
        times = list(self._fallback.values())
        times += [s.due for s in self._redial.values() if s.due is not None]
        return min(times, default=None)
