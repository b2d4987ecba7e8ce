"""The peer's rules without I/O: rooms, channels, delivery receipts and liveness.

:class:`PeerCore` takes one input at a time (a tracker update, a channel opened or
closed, frames received, a failed dial, a timer, a message typed) with the time passed
in, and returns a :class:`peer.core.actions.Step`: events for the user and actions for the
shells. It never awaits, sleeps, reads a clock or opens a socket. It holds one logged-in
user's room, channels, outbox and inbox, and leans on the bookkeeping of
:mod:`peer.core.room`, :mod:`peer.core.dialling` (who dials whom, when), :mod:`peer.core.delivery`
(receipts, resend, exactly-once), :mod:`peer.core.liveness` (keepalive),
:mod:`peer.core.channel_table`, :mod:`peer.core.refusals` and :mod:`peer.core.conversation`.

Rooms: the rules about rooms (entering, member lists, leaving, which room message is
accepted and who one goes to) live in :class:`peer.core.rooms.Rooms`, which this core owns
and which acts through it; see :mod:`peer.core.room` for what a member's states mean
(present, gone, detached, held messages).

Delivery: each message to each recipient awaits that recipient's ``ack``; one written on
a channel that drops is written again, once, on the next channel (the re-dial), and the
sender is told ``MessageDelivered`` or ``MessageFailed`` (with the reason) per
recipient. A room message goes to the members present when it is sent and to those
being re-dialled; one whose key changed and is not accepted is skipped and reported
failed (``key_changed``).

Paths: a channel is direct or relayed (:class:`peer.core.actions.ChannelPath`); the rules
are the same on both. In a room entered relay-only, members are dialled through the relay
and an address they offer is never dialled (that would show them ours). Elsewhere, an
``endpoint`` offered on a relayed channel is dialled once
(:class:`peer.core.actions.Upgrade`); a direct channel that opens while a relayed one exists
replaces it and takes over what the relayed one carried unacknowledged, in order, before
anything new; the receiver's exactly-once filter drops what had already arrived, so the
switch neither loses nor repeats a message, and it does not count as a loss.

Limits: at most ``max_channels`` channels are open: when an inbound one comes while
every slot is taken, a stranger's channel (no answer from us, no shared room, never
pinned) or else a private conversation's with nothing awaiting a receipt is closed to
make room; a room member always gets a slot; anyone else is refused
(:attr:`peer.core.actions.Admit.FULL`). A stranger's channel is closed when the tracker
says they are offline. Refused inbound channels are summarised (:mod:`peer.core.refusals`).
A channel we stop reading because the application is behind on events is not held against
its remote by the keepalive.

Every public input returns the :class:`peer.core.actions.Step` built while it ran: the
private helpers record events and actions into ``self._step`` (:meth:`PeerCore._emit`,
:meth:`PeerCore._do`) and each input ends with ``return self._done()``, which hands the
step over and starts an empty one.
"""

from __future__ import annotations

from collections.abc import Iterable

from commons.errors import ErrorCode
from commons.room_control import Departure, Kicked
from crypto.pinning import TrustState
from peer import events as ev
from peer.core.actions import (
    Action,
    Admit,
    ChannelPath,
    CheckOnline,
    CloseChannel,
    CloseReason,
    Dial,
    DialFailure,
    PinContact,
    SendFrame,
    SentMessage,
    Step,
    Upgrade,
)
from peer.core.channel_table import ChannelTable, OpenChannel
from peer.core.conversation import Body, Conversations, Receipted, Signal, compose_frame
from peer.core.delivery import Failure, Inbox, Outbox
from peer.core.dialling import (
    AddressCheck,
    DialDirect,
    DialPath,
    DialPlan,
    DialRefused,
    DialRelay,
    RateCheck,
)
from peer.core.endpoint_policy import DirectPrivate, should_offer
from peer.core.frames import (
    Ack,
    ChatMessage,
    EndpointOffer,
    Frame,
    LeaveNotice,
    MessageIds,
    Ping,
    Pong,
)
from peer.core.liveness import ChannelClock, Due
from peer.core.refusals import RefusalDigest
from peer.core.room import RoomState
from peer.core.rooms import RoomEntry, Rooms, is_private
from peer.core.settings import CoreSettings


class PeerCore:
    """One logged-in user's rooms, channels and deliveries (see the module docstring)."""

    def __init__(
        self, me: str, settings: CoreSettings | None = None, ids: MessageIds | None = None
    ) -> None:
        self.me = me
        self.settings = settings or CoreSettings()
        self.ids = ids or MessageIds()
        self.rooms = Rooms(self)
        self.dials = DialPlan(me, self.settings.fallback_dial_delay, self.settings.redial_delays)
        self.outbox = Outbox(self.settings.max_pending, self.settings.delivery_timeout)
        self.inbox = Inbox()
        self.refusals = RefusalDigest(self.settings.refusal_summary_interval)
        self.conversation = Conversations(me, self.settings.signals)
        self._channels = ChannelTable()
        #: Users we are dialling directly to replace a relayed channel.
        self._upgrading: set[str] = set()
        self._step = Step()

    # ------------------------------------------------------------------ views

    @property
    def room(self) -> RoomState | None:
        """The room joined first (``None``: in no room); :attr:`rooms` holds them all."""
        return next(iter(self.rooms.by_name.values()), None)

    @property
    def members(self) -> list[str]:
        """:attr:`room`'s members (this user included), minus those known to have gone."""
        return [] if self.room is None else sorted(self.room.present())

    @property
    def connected(self) -> list[str]:
        """Users with an open, accepted channel."""
        return self._channels.users()

    def knows(self, user: str) -> bool:
        """Whether ``user`` is a room-mate or has an open channel with us: their relayed
        handshakes go before strangers' (:mod:`peer.channels.inbound_limits`)."""
        return user in self._channels or self.rooms.member(user)

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
            self.conversation.next_expiry(),
            self.rooms.next_detach_expiry(),
        )
        return min((t for t in times if t is not None), default=None)

    # ------------------------------------------------------------------ sending

    def send_room(
        self, room: str, text: Body, ts: float, now: float, blocked: Iterable[str] = ()
    ) -> tuple[SentMessage, Step]:
        """See :meth:`peer.core.rooms.Rooms.send` (``ValueError`` if not in ``room``)."""
        return self.rooms.send(room, text, ts, now, blocked)

    def send_private(
        self, user: str, text: Body, ts: float, now: float
    ) -> tuple[SentMessage, Step]:
        frame = compose_frame(text, None, self.me, ts, self.ids.next_id())
        channel = self._channels.get(user)
        if channel is not None:
            channel.private = True
        self._queue(user, frame, now)
        return SentMessage(frame.msg_id, None, (user,), ts), self._done()

    def _queue(self, user: str, frame: Receipted, now: float) -> None:
        channel = self._channels.get(user)
        if channel is not None:
            channel.last_message = now
        if not self.outbox.add(user, frame, now):
            self._fail(user, [frame.msg_id], Failure.BACKLOG_FULL)
        elif user in self._channels:
            for queued in self.outbox.take_unsent(user):
                self._send(user, queued)
        elif not self.dials.redialing(user) and (frame.room is None or self.dials.leads(user)):
            self._dial(user)

    def want_channel(self, user: str) -> Step:
        """Dial ``user`` (for a private message) unless a channel or a dial exists."""
        self._dial(user)
        return self._done()

    # ------------------------------------------------------------------ channels

    def channel_opened(
        self,
        user: str,
        channel: int,
        *,
        initiator: bool,
        now: float,
        path: ChannelPath = ChannelPath.DIRECT,
        upgrade: bool = False,
        pinned: bool = False,
    ) -> Step:
        """A channel to ``user`` passed its checks and was accepted (by us or by them).

        ``upgrade``: it is the direct dial of an :class:`Upgrade` action. ``pinned``: a
        key of ``user`` is pinned, so they became a contact before (another session)."""
        if upgrade:
            self._upgrading.discard(user)
        elif initiator:
            self.dials.finished(user)
        self.dials.cancel(user)
        old = self._channels.get(user)
        private = old is not None and old.private
        contact = old is not None and old.contact
        if old is not None:
            self._close(user, CloseReason.REPLACED)
            if old.path is ChannelPath.RELAY and path is ChannelPath.DIRECT:
                self.outbox.channel_switched(user)
            else:
                # The remote restarted: what the old channel carried unacknowledged goes
                # again, and counts as a loss.
                self._fail(user, self.outbox.channel_lost(user), Failure.CONNECTION_LOST)
        added = OpenChannel(
            channel, user, initiator, private, ChannelClock(now), opened_at=now, path=path
        )
        self._channels.add(added)
        if contact or pinned or self._member(user):
            self._contact(added)
        else:
            added.online_check = now + self.settings.stranger_check_interval
        self._enforce_cap(keep=user)
        self.rooms.channel_back(user)
        self._emit(ev.ChannelOpened(user, str(path)))
        for frame in self.outbox.take_unsent(user):
            self._send(user, frame)
        return self._done()

    def channel_closed(self, channel: int, reason: CloseReason, detail: str, now: float) -> Step:
        """The channel shell saw channel ``channel`` end (reader done, error, EOF)."""
        open_channel = self._channels.by_id(channel)
        if open_channel is not None and reason.is_loss:
            self._lost(open_channel.user, detail or str(reason), now, redial=True)
        elif open_channel is not None:
            self._channels.remove(open_channel.user)
        return self._done()

    def _lost(self, user: str, detail: str, now: float, *, redial: bool) -> None:
        """The channel to ``user`` is dead (closed under us, or silent too long)."""
        self._channels.remove(user)
        self._emit(ev.ChannelClosed(user, detail))
        self._fail(user, self.outbox.channel_lost(user), Failure.CONNECTION_LOST)
        listed = self.rooms.channel_lost(user)
        if not listed:  # no re-dial for the room: its messages to them are lost
            self._fail(user, self.outbox.drop(user, keep=is_private), Failure.CONNECTION_LOST)
        if redial and (listed or self.outbox.has_pending(user)):
            self.dials.start_redial(user, now)
        else:
            self._fail(user, self.outbox.drop(user), Failure.CONNECTION_LOST)

    def _expire(self, channel: OpenChannel, now: float) -> None:
        self._do(CloseChannel(channel.user, channel.id, CloseReason.EXPIRED))
        silent = f"no traffic for {self.settings.keepalive.deadline:g} s"
        self._lost(channel.user, silent, now, redial=True)

    def dial_failed(
        self, user: str, failure: DialFailure, detail: str, now: float, *, upgrade: bool = False
    ) -> Step:
        """A dial to ``user`` ended without a channel (``upgrade``: the direct dial of an
        :class:`Upgrade`; the relayed channel simply goes on)."""
        if upgrade:
            self._upgrading.discard(user)
            return self._done()
        retry = self.dials.dialing.get(user, False)
        self.dials.finished(user)
        if failure is DialFailure.DUPLICATE or user in self._channels:
            return self._done()  # their dial won the tie-break: that channel is coming
        if self.dials.redialing(user):
            if not self.dials.redial_failed(user, now):
                self._fail(user, self.outbox.drop(user), Failure.CONNECTION_LOST)
            return self._done()
        if not (retry and failure.transient):
            code = ErrorCode.KEY_CHANGED if failure is DialFailure.KEY_CHANGED else None
            self._emit(ev.ErrorEvent(str(code or ErrorCode.HANDSHAKE_FAILED), detail))
        if failure is DialFailure.KEY_CHANGED:
            self._fail(user, self.outbox.drop(user), Failure.KEY_CHANGED)
        return self._done()

    # ------------------------------------------------------------------ paths

    def dial_path(
        self,
        user: str,
        address: tuple[str, int] | None,
        *,
        listed: bool,
        relay_open: bool,
        policy: AddressCheck,
        rate: RateCheck,
        now: float,
    ) -> DialPath:
        """How to carry out a :class:`Dial` to ``user``. A room member goes to
        ``address`` (their host and port in the tracker's member list, if they listen)
        unless ``policy`` refuses it (then through the relay, if ``relay_open``) or
        ``rate`` says that address was dialled too often; anyone else goes through the
        relay, if the tracker ever ``listed`` them (a name nobody listed is not online).
        A member of the room we entered relay-only goes through the relay, always."""
        if self._relay_only_with(user):
            if not relay_open:
                detail = f"not dialling {user} directly (you are in a relay-only room)"
                return DialRefused(DialFailure.UNREACHABLE, f"{detail} and there is no relay")
            address = None
        if not self._member(user):
            address = None
        if address is None:
            if listed:
                return DialRelay()
            return DialRefused(DialFailure.UNREACHABLE, f"{user} is not online")
        host, port = address
        refusal = policy.refusal(host)
        if refusal is not None and relay_open:
            return DialRelay()
        if refusal is not None:
            return DialRefused(DialFailure.ADDRESS, f"not dialling {user}: {refusal}")
        if rate.take(host, port, now) > 0:
            detail = f"not dialling {user}: dials to that address are rate-limited"
            return DialRefused(DialFailure.UNREACHABLE, detail)
        return DialDirect(host, port)

    def upgrade_path(
        self, upgrade: Upgrade, *, policy: AddressCheck, rate: RateCheck, now: float
    ) -> DialDirect | DialRefused:
        """How to carry out an :class:`Upgrade`: the offered endpoint is the remote's
        word, so it is dialled under the same address ``policy`` and ``rate`` as any
        dial, and never through the relay (the relayed channel already is)."""
        refusal = policy.refusal(upgrade.host)
        if refusal is None and rate.take(upgrade.host, upgrade.port, now) > 0:
            refusal = "dials to that address are rate-limited"
        if refusal is not None:
            return DialRefused(DialFailure.ADDRESS, f"not dialling {upgrade.user}: {refusal}")
        return DialDirect(upgrade.host, upgrade.port)

    def offer_endpoint(
        self,
        user: str,
        own: tuple[str, int] | None,
        policy: DirectPrivate,
        trust: TrustState | None,
    ) -> Step:
        """Send our address ``own`` (``None``: we do not listen) over the channel to
        ``user`` if :func:`peer.core.endpoint_policy.should_offer` allows, once per
        channel; ``trust``: what we know of ``user``'s key."""
        channel = self._channels.get(user)
        if channel is None or channel.offered:
            return self._done()
        if own is not None and should_offer(
            policy,
            path=channel.path,
            trust=trust,
            room_mate=self.rooms.present(user) or self._relay_only_with(user),
            listening=True,
        ):
            channel.offered = True
            self._send(user, EndpointOffer(*own))
        return self._done()

    # ------------------------------------------------------------------ frames

    def frames_received(self, channel: int, frames: Iterable[Frame], now: float) -> Step:
        """Frames decrypted and validated from one read of channel ``channel``."""
        open_channel = self._channels.by_id(channel)
        if open_channel is None:
            return self._done()  # a channel we already closed or replaced
        if open_channel.clock.stale(now, self.settings.keepalive):
            # We could not read for most of the deadline (this process was frozen): the
            # other end has given up on this channel, or is about to, and on what it
            # carried, too.
            self._expire(open_channel, now)
            return self._done()
        user = open_channel.user
        open_channel.clock.heard(now)
        pinged = False
        for frame in frames:
            if isinstance(frame, Ping):
                pinged = True
            elif isinstance(frame, Ack):
                for msg_id in self.outbox.acked(user, frame.ids):
                    self._emit(ev.MessageDelivered(msg_id, user))
            elif isinstance(frame, LeaveNotice):
                self.rooms.leave_notice(frame)
            elif isinstance(frame, Receipted | Signal):
                open_channel.last_message = now
                self._chat(open_channel, frame, now)
            elif isinstance(frame, EndpointOffer):
                self._offered(open_channel, frame)
        if pinged and user in self._channels:
            self._send(user, Pong())
        self._flush_acks()
        return self._done()

    def _offered(self, channel: OpenChannel, frame: EndpointOffer) -> None:
        """``channel``'s user offers a direct address: dial it, once per relayed channel."""
        if channel.path is not ChannelPath.RELAY or channel.upgrade_tried:
            return
        if self._relay_only_with(channel.user):
            return  # dialling it would show them our address
        channel.upgrade_tried = True
        if channel.user not in self._upgrading:
            self._upgrading.add(channel.user)
            self._do(Upgrade(channel.user, frame.host, frame.port))

    def _chat(self, channel: OpenChannel, frame: Receipted | Signal, now: float) -> None:
        if frame.room is None:
            # Leaving a room does not close it now; a contact takes our answer or a room.
            channel.private = True
            self._deliver(frame, now, channel.contact)
        else:
            self.rooms.chat(frame, now)

    # ------------------------------------------------------------------ trust and session

    def key_changed(self, user: str, now: float) -> Step:
        """``user``'s key changed and is not accepted: nothing more goes to them."""
        self.dials.cancel(user)
        self._fail(user, self.outbox.drop(user), Failure.KEY_CHANGED)
        channel = self._channels.get(user)
        if channel is not None:
            self._do(CloseChannel(user, channel.id, CloseReason.KEY_CHANGED))
            self._lost(user, str(CloseReason.KEY_CHANGED), now, redial=False)
        return self._done()

    def trust_restored(self, user: str) -> Step:
        """``user``'s key was accepted: dial them again if they are in one of our rooms."""
        if self.rooms.member(user):
            self._dial(user)
        return self._done()

    def contact_forgotten(self, user: str, now: float) -> Step:
        """The user forgot ``user`` (``/forget``): their channel is a stranger's again,
        unless they share our room, which makes them a contact (pinned again at once)."""
        channel = self._channels.get(user)
        if channel is not None:
            channel.contact = False
            if self._member(user):
                self._contact(channel)
            else:
                channel.online_check = now + self.settings.stranger_check_interval
        return self._done()

    def session_ended(self) -> Step:
        """Another login took over this user's session: drop the room and every channel."""
        self.rooms.clear_all()
        self._close_all(CloseReason.SESSION_ENDED)
        return self._done()

    def shutdown(self) -> Step:
        """Close every channel (the client is closing); nothing is reported."""
        self._close_all(CloseReason.SHUTDOWN)
        return self._done()

    def _close_all(self, reason: CloseReason) -> None:
        for user in self._channels.users():
            self._close(user, reason)
        self.dials.cancel_all()
        self._upgrading.clear()

    # ------------------------------------------------------------------ the rooms

    def room_entered(
        self,
        name: str,
        owner: str,
        capacity: int,
        members: Iterable[str],
        now: float,
        *,
        relay_only: bool = False,
        roster: Iterable[str] | None = None,
    ) -> Step:
        """See :meth:`peer.core.rooms.Rooms.entered`."""
        rooms = self.rooms
        return rooms.entered(
            name, owner, capacity, members, now, relay_only=relay_only, roster=roster
        )

    def room_update(
        self,
        name: str,
        owner: str,
        members: Iterable[str],
        now: float,
        departed: tuple[str, Departure] | None = None,
        roster: Iterable[str] | None = None,
    ) -> Step:
        """See :meth:`peer.core.rooms.Rooms.update`."""
        return self.rooms.update(name, owner, members, now, departed, roster=roster)

    def presence(self, user: str, online: bool, rooms: Iterable[str], now: float) -> Step:
        """See :meth:`peer.core.rooms.Rooms.presence`."""
        return self.rooms.presence(user, online, rooms, now)

    def rooms_restored(self, entries: Iterable[RoomEntry], now: float) -> Step:
        """See :meth:`peer.core.rooms.Rooms.restored`."""
        return self.rooms.restored(entries, now)

    def room_closed(self, name: str | None = None, *, deleted: bool) -> Step:
        """See :meth:`peer.core.rooms.Rooms.closed`."""
        return self.rooms.closed(name, deleted=deleted)

    def leave_notices(self, name: str | None = None) -> Step:
        """See :meth:`peer.core.rooms.Rooms.leave_notices`."""
        return self.rooms.leave_notices(name)

    def kicked(self, kicked: Kicked) -> Step:
        """See :meth:`peer.core.rooms.Rooms.kicked`."""
        return self.rooms.kicked(kicked)

    # ------------------------------------------------------------------ limits

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

    # ------------------------------------------------------------------ time

    def tick(self, now: float) -> Step:
        """Fire what is due at ``now``: dials, pings, expired channels and receipts."""
        fallbacks, redials = self.dials.due(now)
        for user in fallbacks:
            if self.rooms.listed_not_gone(user):
                self._dial(user)
        for user in redials:
            if user in self._channels:
                self.dials.cancel(user)
            else:
                self._dial(user, retry=True)
        for channel, due in self._channels.keepalive_due(now, self.settings.keepalive):
            if due is Due.PING:
                self._send(channel.user, Ping())
            else:
                self._expire(channel, now)
        for user, msg_id in self.outbox.expired(now):
            self._emit(ev.MessageFailed(msg_id, user, str(Failure.TIMED_OUT)))
        for user in self._channels.online_checks_due(now, self.settings.stranger_check_interval):
            self._do(CheckOnline(user))
        for event in [*self.refusals.due(now), *self.conversation.expired(now)]:
            self._emit(event)
        self.rooms.expire_detached(now)
        return self._done()

    # ------------------------------------------------------------------ plumbing

    def _emit(self, event: ev.ClientEvent) -> None:
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
        """``channel``'s user is a contact: we sent them a message (the user answered or
        wrote first), they share our room, or they were pinned before; its key is worth
        pinning. A stranger's message alone never makes one (2,000 one-message accounts
        would otherwise fill the pin store)."""
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

    def _deliver(self, frame: Receipted | Signal, now: float, contact: bool = True) -> None:
        if isinstance(frame, Signal) or self.inbox.receive(frame):
            self._step.events += self.conversation.received(frame, now, contact=contact)

    def _flush_acks(self) -> None:
        for user, ack in self.inbox.take_acks():
            if user in self._channels:
                self._send(user, ack)

    def _member(self, user: str) -> bool:
        return self.rooms.member(user)

    def _relay_only_with(self, user: str) -> bool:
        """``user`` is in a room we entered relay-only: no direct dial either way."""
        return self.rooms.relay_only_with(user)

    def _evictable(self, keep: str = "") -> OpenChannel | None:
        return self._channels.evictable(self.rooms.listed_members(), self.outbox.has_pending, keep)
