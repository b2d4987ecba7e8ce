"""The state and plumbing every part of :class:`peer.core.peer_core.PeerCore` shares. Sans-I/O.

:class:`CoreBase` holds one logged-in user's room, channels, outbox and inbox, and the
:class:`peer.core.actions.Step` being built; its helpers record events and actions (a frame
to send, a channel to close, a dial, a key to pin). The rules live in the parts built
on it: :mod:`peer.core.core_rooms` (membership), :mod:`peer.core.core_limits` (the channel cap,
strangers, refusals, reading paused by back-pressure) and :mod:`peer.core.peer_core` (sending,
channels, frames, time).
"""

from __future__ import annotations

from collections.abc import Iterable

from peer import events as ev
from peer.core.actions import (
    Action,
    ChannelPath,
    CloseChannel,
    CloseReason,
    Dial,
    PinContact,
    SendFrame,
    Step,
)
from peer.core.channel_table import ChannelTable, OpenChannel
from peer.core.delivery import Failure, Inbox, Outbox
from peer.core.dialling import DialPlan
from peer.core.frames import ChatMessage, Frame, MessageIds
from peer.core.refusals import RefusalDigest
from peer.core.room import RoomState
from peer.core.settings import CoreSettings


def is_private(frame: ChatMessage) -> bool:
    return frame.room is None


class CoreBase:
    """One logged-in user's rooms, channels and deliveries (see :mod:`peer.core.peer_core`)."""

    def __init__(
        self, me: str, settings: CoreSettings | None = None, ids: MessageIds | None = None
    ) -> None:
        self.me = me
        self.settings = settings or CoreSettings()
        self.ids = ids or MessageIds()
        self.room: RoomState | None = None
        self.dials = DialPlan(me, self.settings.fallback_dial_delay, self.settings.redial_delays)
        self.outbox = Outbox(self.settings.max_pending, self.settings.delivery_timeout)
        self.inbox = Inbox()
        self.refusals = RefusalDigest(self.settings.refusal_summary_interval)
        self._channels = ChannelTable()
        #: Users we are dialling directly to replace a relayed channel.
        self._upgrading: set[str] = set()
        self._step = Step()

    # ------------------------------------------------------------------ views

    @property
    def members(self) -> list[str]:
        """Current room members (this user included), minus those known to have gone."""
        return [] if self.room is None else sorted(self.room.present())

    @property
    def connected(self) -> list[str]:
        """Users with an open, accepted channel."""
        return self._channels.users()

    @property
    def paths(self) -> dict[str, ChannelPath]:
        """The path of each open channel, by user."""
        return self._channels.paths()

    def channel_of(self, user: str) -> int | None:
        channel = self._channels.get(user)
        return None if channel is None else channel.id

    def next_wakeup(self) -> float | None:
        """When :meth:`tick` next has something to do (``None``: nothing scheduled)."""
        times = (
            self._channels.next_check(self.settings.keepalive),
            self.dials.next_due(),
            self.outbox.next_deadline(),
            self.refusals.next_due(),
            None if self.room is None else self.room.next_detach_expiry(self.settings.detach_grace),
        )
        return min((t for t in times if t is not None), default=None)

    # ------------------------------------------------------------------ plumbing

    def _emit(self, event: ev.Event) -> None:
        self._step.events.append(event)

    def _do(self, action: Action) -> None:
        self._step.actions.append(action)

    def _done(self) -> Step:
        step, self._step = self._step, Step()
        return step

    def _send(self, user: str, frame: Frame) -> None:
        channel = self._channels.get(user)
        assert channel is not None
        if isinstance(frame, ChatMessage):
            self._contact(channel)
        self._do(SendFrame(user, channel.id, frame))

    def _contact(self, channel: OpenChannel) -> None:
        """``channel`` carries a message or shares our room: its key is worth pinning."""
        if not channel.contact:
            channel.contact = True
            channel.online_check = None
            self._do(PinContact(channel.user, channel.id))

    def _fail(self, user: str, ids: Iterable[str], reason: Failure) -> None:
        for msg_id in ids:
            self._emit(ev.MessageFailed(msg_id, user, str(reason)))

    def _dial(self, user: str, *, retry: bool = False) -> None:
        if user in self._channels or user in self.dials.dialing:
            return
        self.dials.started(user, retry=retry)
        self._do(Dial(user, retry))

    def _close(self, user: str, reason: CloseReason) -> None:
        """Close our channel to ``user`` on our own decision (later reports are stale)."""
        channel = self._channels.remove(user)
        if channel is not None:
            self._do(CloseChannel(user, channel.id, reason))

    def _deliver(self, frame: ChatMessage) -> None:
        if self.inbox.receive(frame):
            self._emit(
                ev.MessageReceived(frame.room, frame.sender, frame.text, frame.ts, frame.msg_id)
            )

    def _flush_acks(self) -> None:
        for user, ack in self.inbox.take_acks():
            if user in self._channels:
                self._send(user, ack)

    def _member(self, user: str) -> bool:
        return self.room is not None and user in self.room.members

    def _evictable(self, keep: str = "") -> OpenChannel | None:
        members = set() if self.room is None else self.room.members
        return self._channels.evictable(members, self.outbox.has_pending, keep)
