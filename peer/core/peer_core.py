"""The peer's rules without I/O: rooms, channels, delivery receipts and liveness.

:class:`PeerCore` takes one input at a time (a tracker update, a channel opened or
closed, frames received, a failed dial, a timer, a message typed) with the time passed
in, and returns a :class:`peer.core.actions.Step`: events for the user and actions for the
shells. It never awaits, sleeps, reads a clock or opens a socket. It is wired from parts
with one concern each: :mod:`peer.core.core_base` (state and plumbing),
:mod:`peer.core.core_rooms` (membership rules), :mod:`peer.core.core_limits` (the channel cap,
strangers, refused channels, reading paused by back-pressure), and the bookkeeping of
:mod:`peer.core.room`, :mod:`peer.core.dialling` (who dials whom, when), :mod:`peer.core.delivery`
(receipts, resend, exactly-once), :mod:`peer.core.liveness` (keepalive),
:mod:`peer.core.channel_table` and :mod:`peer.core.refusals`.

Delivery: each message to each recipient awaits that recipient's ``ack``; one written on
a channel that drops is written again, once, on the next channel (the re-dial), and the
sender is told ``MessageDelivered`` or ``MessageFailed`` (with the reason) per
recipient. A room message goes to the members present when it is sent and to those
being re-dialled; one whose key changed and is not accepted is skipped and reported
failed (``key_changed``).

Paths: a channel is direct or relayed (:class:`peer.core.actions.ChannelPath`); the rules
are the same on both. An ``endpoint`` offered on a relayed channel is dialled once
(:class:`peer.core.actions.Upgrade`); a direct channel that opens while a relayed one exists
replaces it and takes over what the relayed one carried unacknowledged, in order, before
anything new; the receiver's exactly-once filter drops what had already arrived, so the
switch neither loses nor repeats a message, and it does not count as a loss.
"""

from __future__ import annotations

from collections.abc import Iterable

from commons.errors import ErrorCode
from peer import events as ev
from peer.core.actions import (
    ChannelPath,
    CheckOnline,
    CloseChannel,
    CloseReason,
    DialFailure,
    SentMessage,
    Step,
    Upgrade,
)
from peer.core.channel_table import OpenChannel
from peer.core.core_base import is_private
from peer.core.core_limits import LimitRules
from peer.core.core_rooms import RoomRules
from peer.core.delivery import Failure
from peer.core.frames import Ack, ChatMessage, EndpointOffer, Frame, LeaveNotice, Ping, Pong
from peer.core.liveness import ChannelClock, Due


class PeerCore(RoomRules, LimitRules):
    """One logged-in user's rooms, channels and deliveries (see the module docstring)."""

    # ------------------------------------------------------------------ sending

    def send_room(
        self, text: str, ts: float, now: float, blocked: Iterable[str] = ()
    ) -> tuple[SentMessage, Step]:
        """A message to every present member; ``blocked`` (key changed) are skipped."""
        room = self.room
        if room is None:
            raise ValueError("not in a room")
        frame = ChatMessage(room.name, self.me, text, ts, self.ids.next_id())
        # What we write to a member being re-dialled waits for the new channel.
        redialled = {u for u in room.gone if u in room.members and self.dials.redialing(u)}
        recipients = tuple(sorted(room.others() | redialled))
        blocked = set(blocked)
        for user in recipients:
            if user in blocked:
                self._fail(user, [frame.msg_id], Failure.KEY_CHANGED)
            else:
                self._queue(user, frame, now)
        return SentMessage(frame.msg_id, room.name, recipients, ts), self._done()

    def send_private(self, user: str, text: str, ts: float, now: float) -> tuple[SentMessage, Step]:
        frame = ChatMessage(None, self.me, text, ts, self.ids.next_id())
        channel = self._channels.get(user)
        if channel is not None:
            channel.private = True
        self._queue(user, frame, now)
        return SentMessage(frame.msg_id, None, (user,), ts), self._done()

    def _queue(self, user: str, frame: ChatMessage, now: float) -> None:
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
    ) -> Step:
        """A channel to ``user`` passed its checks and was accepted (by us or by them).

        ``upgrade``: it is the direct dial of an :class:`Upgrade` action."""
        if upgrade:
            self._upgrading.discard(user)
        elif initiator:
            self.dials.finished(user)
        self.dials.cancel(user)
        old = self._channels.get(user)
        private = old is not None and old.private
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
        if private or self._member(user):
            self._contact(added)
        else:
            added.online_check = now + self.settings.stranger_check_interval
        self._enforce_cap(keep=user)
        room = self.room
        if room is not None and user in room.gone and user in room.members:
            del room.gone[user]
            self._emit(ev.MemberJoined(room.name, user))
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
        room = self.room
        listed = room is not None and user in room.members
        if room is not None and room.mark_gone(user, Failure.CONNECTION_LOST):
            self._emit(ev.MemberLeft(room.name, user, "connection_lost"))
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
                self._leave_notice(frame)
            elif isinstance(frame, ChatMessage):
                open_channel.last_message = now
                self._chat(user, frame)
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
        channel.upgrade_tried = True
        if channel.user not in self._upgrading:
            self._upgrading.add(channel.user)
            self._do(Upgrade(channel.user, frame.host, frame.port))

    def _chat(self, user: str, frame: ChatMessage) -> None:
        room = self.room
        if frame.room is None:
            channel = self._channels.get(user)
            if channel is not None:
                channel.private = True
                self._contact(channel)
            self._deliver(frame)
        elif room is None or frame.room != room.name:
            return
        elif frame.sender in room.present():
            self._deliver(frame)
        elif frame.sender not in room.gone:
            room.hold(frame, self.settings.held_limit)

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
        """``user``'s key was accepted: dial them again if they are in the room."""
        room = self.room
        if room is not None and user in room.members:
            self._dial(user)
        return self._done()

    def session_ended(self) -> Step:
        """Another login took over this user's session: drop the room and every channel."""
        self._clear_room(deleted=False)
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

    # ------------------------------------------------------------------ time

    def tick(self, now: float) -> Step:
        """Fire what is due at ``now``: dials, pings, expired channels and receipts."""
        fallbacks, redials = self.dials.due(now)
        room = self.room
        for user in fallbacks:
            if room is not None and user in room.members and user not in room.gone:
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
        for event in self.refusals.due(now):
            self._emit(event)
        self._expire_detached(now)
        return self._done()
