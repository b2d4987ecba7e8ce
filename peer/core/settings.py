"""The rules of the peer core that a user or a test may tune, with their defaults.

Why here: :class:`~peer.core.peer_core.PeerCore` reads them and :class:`peer.config.PeerConfig`
carries them, so they sit in the core, below the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peer.core.conversation import SignalSwitches
from peer.core.liveness import Keepalive


@dataclass(frozen=True, slots=True)
class CoreSettings:
    """The rules of :class:`peer.core.peer_core.PeerCore` that a user or a test may tune."""

    keepalive: Keepalive = field(default_factory=Keepalive)
    fallback_dial_delay: float = 2.0
    #: Waits before each new dial to a member whose channel dropped (about a minute).
    redial_delays: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    #: How long a member the tracker stopped listing (not a departure) stays while our
    #: channel to them lives: a tracker restart or their tracker link coming back.
    detach_grace: float = 60.0
    #: Room messages held per sender the tracker has not listed yet.
    held_limit: int = 32
    #: Messages awaiting a receipt per recipient; more fail at once (``backlog_full``).
    max_pending: int = 512
    #: A message without a receipt this long after it was sent fails (``timed_out``).
    delivery_timeout: float = 120.0
    #: Open channels at most; beyond, strangers' channels (then idle private ones) are
    #: closed to make room, and an inbound stranger is refused if none can go.
    max_channels: int = 256
    #: How often the tracker is asked whether a stranger with a channel is still online.
    stranger_check_interval: float = 60.0
    #: Refused inbound channels: the first per name is reported, then one summary per
    #: this many seconds.
    refusal_summary_interval: float = 60.0
    #: Typing indicators and read receipts, on or off (the user's settings).
    signals: SignalSwitches = field(default_factory=SignalSwitches)
