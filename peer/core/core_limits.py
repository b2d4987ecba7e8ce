"""The core's limits on channels: how many, whose, and what a stranger may trigger.

Sans-I/O. At most ``max_channels`` channels are open: when an inbound one comes while
every slot is taken, a stranger's channel (no message, no shared room) or else a private
conversation's with nothing awaiting a receipt is closed to make room; a room member
always gets a slot; anyone else is refused (:attr:`peer.core.actions.Admit.FULL`). A
stranger's channel is closed when the tracker says they are offline. Refused inbound
channels are summarised (:mod:`peer.core.refusals`). A channel we stop reading because the
application is behind on events is not held against its remote by the keepalive.
"""

from __future__ import annotations

from peer import events as ev
from peer.core.actions import Admit, ChannelPath, CloseReason, Step
from peer.core.core_base import CoreBase


class LimitRules(CoreBase):
    def admit(self, user: str, path: ChannelPath = ChannelPath.DIRECT) -> Admit:
        """Whether to accept an authenticated inbound channel from ``user``: the dial
        tie-break, then the channel cap (a room member always gets a slot; anyone else
        only if one is free or a stranger's or an idle conversation's can be closed).

        A direct channel offered while ours is relayed is the upgrade: it takes the
        relayed one's slot, unless both of us dial at once and ours wins (the smaller
        name's)."""
        channel = self._channels.get(user)
        if channel is not None and channel.path is ChannelPath.RELAY and path is ChannelPath.DIRECT:
            upgrading = user in self._upgrading and self.dials.leads(user)
            return Admit.DUPLICATE if upgrading else Admit.ACCEPT
        own = channel is not None and channel.initiator
        if self.dials.refuses(user, holds_own_channel=own):
            return Admit.DUPLICATE
        if channel is not None or len(self._channels) < self.settings.max_channels:
            return Admit.ACCEPT
        if self._member(user) or self._evictable() is not None:
            return Admit.ACCEPT
        return Admit.FULL

    def _enforce_cap(self, keep: str) -> None:
        while len(self._channels) > self.settings.max_channels:
            channel = self._evictable(keep)
            if channel is None:
                return
            self._close(channel.user, CloseReason.EVICTED)
            self._emit(ev.ChannelClosed(channel.user, str(CloseReason.EVICTED)))

    def user_offline(self, user: str) -> Step:
        """The tracker says ``user`` is not online: a stranger's channel is closed
        (a contact's stays until it ends or falls silent)."""
        channel = self._channels.get(user)
        if channel is not None and not channel.contact:
            self._close(user, CloseReason.LOGGED_OUT)
            self._emit(ev.ChannelClosed(user, str(CloseReason.LOGGED_OUT)))
        return self._done()

    def channel_refused(self, user: str, code: str, message: str, now: float) -> Step:
        """An inbound channel claiming to be ``user`` failed the identity checks."""
        for event in self.refusals.refused(user, code, message, now):
            self._emit(event)
        return self._done()

    def reading_paused(self, channel: int) -> Step:
        """We stopped reading ``channel`` (the application is behind on events): its
        silence is ours, so it is neither pinged nor expired meanwhile."""
        open_channel = self._channels.by_id(channel)
        if open_channel is not None:
            open_channel.paused = True
        return self._done()

    def reading_resumed(self, channel: int, now: float) -> Step:
        """We read ``channel`` again: its keepalive starts afresh."""
        open_channel = self._channels.by_id(channel)
        if open_channel is not None and open_channel.paused:
            open_channel.paused = False
            open_channel.clock.heard(now)
        return self._done()
