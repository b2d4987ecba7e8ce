"""Room membership rules of the core: the tracker's lists refined by the channels.

Sans-I/O, like all of :class:`peer.core.peer_core.PeerCore`: see :mod:`peer.core.room` for what a
member's states mean (present, gone, detached, held messages).
"""

from __future__ import annotations

from collections.abc import Iterable

from commons.room_control import Departure
from peer import events as ev
from peer.core.actions import CloseReason, Step
from peer.core.core_base import CoreBase, is_private
from peer.core.delivery import Failure
from peer.core.frames import LeaveNotice
from peer.core.room import RoomState


class RoomRules(CoreBase):
    # ------------------------------------------------------------------ the room

    def room_entered(
        self, name: str, owner: str, capacity: int, members: Iterable[str], now: float
    ) -> Step:
        """We created or joined ``name`` (or joined it again after a tracker outage)."""
        if self.room is not None and self.room.name != name:
            self._clear_room(deleted=False)
        if self.room is None:
            self.room = RoomState(name, owner, capacity, self.me, set(members) | {self.me})
            self._ensure_room_channels(now)
            return self._done()
        return self.room_update(name, owner, members, now)

    def room_update(
        self,
        name: str,
        owner: str,
        members: Iterable[str],
        now: float,
        departed: tuple[str, Departure] | None = None,
    ) -> Step:
        """The tracker's list of ``name``'s members (a ``ROOM_UPDATE``); ``departed``:
        the member it removes on purpose (``removed``), never kept as detached."""
        room = self.room
        if room is None or room.name != name:
            return self._done()
        room.owner = owner
        change = room.apply(set(members), set(self._channels.users()), now, departed)
        for user in change.joined:
            self._emit(ev.MemberJoined(name, user))
        for user, reason in change.removed_gone:
            self._forget_member(user, reason)
        for user, why in change.left:
            self._emit(ev.MemberLeft(name, user, why))
            self._forget_member(user, Failure.LEFT)
        for frame in room.release_held():
            self._deliver(frame)
        self._flush_acks()
        self._ensure_room_channels(now)
        return self._done()

    def _room_contacts(self) -> None:
        room = self.room
        for user in [] if room is None else sorted(room.members):
            channel = self._channels.get(user)
            if channel is not None:
                self._contact(channel)

    def _forget_member(self, user: str, reason: Failure) -> None:
        """``user`` is no longer in the room: stop dialling, give up their room messages."""
        self.dials.cancel(user)
        channel = self._channels.get(user)
        if channel is None or not channel.private:
            self._close(user, CloseReason.LEFT_ROOM)
        self._fail(user, self.outbox.drop(user, keep=is_private), reason)

    def _ensure_room_channels(self, now: float) -> None:
        room = self.room
        if room is None:
            return
        self._room_contacts()
        for user in sorted(room.members - set(room.gone) - {self.me}):
            if user in self._channels or user in self.dials.dialing or self.dials.redialing(user):
                continue
            if self.dials.leads(user):
                self._dial(user)
            else:
                self.dials.schedule_fallback(user, now)

    def _expire_detached(self, now: float) -> None:
        """Detached members the tracker has not listed again in time: gone.

        The grace covers a tracker restart or a member's tracker link coming back; past
        it, a member the tracker dropped does not keep receiving the room's messages
        over a channel they keep alive (a banned user who quit the tracker, say)."""
        room = self.room
        if room is None:
            return
        for user in room.detach_expired(now, self.settings.detach_grace):
            self._emit(ev.MemberLeft(room.name, user, "connection_lost"))
            self._forget_member(user, Failure.CONNECTION_LOST)

    def room_closed(self, *, deleted: bool) -> Step:
        """We left the room, or it was deleted (``deleted``: tell the user)."""
        self._clear_room(deleted=deleted)
        return self._done()

    def _clear_room(self, *, deleted: bool) -> None:
        room = self.room
        if room is None:
            return
        self.room = None
        for user, msg_id in self.outbox.drop_room(room.name):
            self._emit(ev.MessageFailed(msg_id, user, str(Failure.LEFT)))
        for user in sorted((room.members | room.detached.keys()) - {self.me}):
            self.dials.cancel(user)
            channel = self._channels.get(user)
            if channel is not None and not channel.private:
                self._close(user, CloseReason.LEFT_ROOM)
        if deleted:
            self._emit(ev.RoomDeleted(room.name, room.owner))

    def leave_notices(self) -> Step:
        """``leave`` frames for every present member we have a channel to."""
        room = self.room
        if room is not None:
            for user in sorted(room.others()):
                if user in self._channels:
                    self._send(user, LeaveNotice(room.name, self.me))
        return self._done()

    def _leave_notice(self, frame: LeaveNotice) -> None:
        room = self.room
        if room is None or frame.room != room.name or not room.known(frame.sender):
            return
        if room.mark_gone(frame.sender, Failure.LEFT):
            self._emit(ev.MemberLeft(room.name, frame.sender, "left"))
        self.dials.cancel(frame.sender)
        pending = self.outbox.drop(frame.sender, keep=is_private)
        self._fail(frame.sender, pending, Failure.LEFT)
