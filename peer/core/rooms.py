"""The rooms this user is in and their rules, sans-I/O: a collaborator of PeerCore.

:class:`Rooms` holds ``by_name: dict[str, RoomState]`` (insertion order is the order the
tracker gives, the user's join order) and every rule about rooms: entering, the tracker's
member lists, leaving, kicks, ``leave`` frames, which room message is accepted, and who a
room message goes to. What a member's states mean (present, gone, detached, held) is in
:mod:`peer.core.room`.

It acts through its host, the :class:`peer.core.peer_core.PeerCore` that owns it (named
by the :class:`RoomHost` protocol, so this module does not import the core): it records
events and actions into the host's current step and ends every public input with the
host's ``_done()``, exactly as the core's own inputs do.

Channel policy across rooms: a user is a room-mate if they are listed in any of our rooms
(:meth:`Rooms.member`); a channel to them is relay-only if any room we share with them
was entered relay-only (:meth:`Rooms.relay_only_with`); a room-mate's channel closes
only when no room is shared any more (and it carried no private message).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from commons.errors import ErrorCode
from commons.room_control import Departure, Kicked
from peer import events as ev
from peer.core.actions import CloseReason, SentMessage, Step
from peer.core.channel_table import ChannelTable, OpenChannel
from peer.core.conversation import Body, Receipted, Signal, compose_frame
from peer.core.delivery import Failure, Outbox
from peer.core.dialling import DialPlan
from peer.core.frames import Frame, LeaveNotice, MessageIds
from peer.core.room import RoomState
from peer.core.settings import CoreSettings


class RoomHost(Protocol):
    """What the room rules use of :class:`peer.core.peer_core.PeerCore`."""

    me: str
    settings: CoreSettings
    ids: MessageIds
    dials: DialPlan
    outbox: Outbox
    _channels: ChannelTable

    def _emit(self, event: ev.ClientEvent) -> None: ...
    def _done(self) -> Step: ...
    def _send(self, user: str, frame: Frame) -> None: ...
    def _contact(self, channel: OpenChannel) -> None: ...
    def _fail(self, user: str, ids: Iterable[str], reason: Failure) -> None: ...
    def _dial(self, user: str, *, retry: bool = False) -> None: ...
    def _close(self, user: str, reason: CloseReason) -> None: ...
    def _deliver(self, frame: Receipted | Signal, now: float, contact: bool = True) -> None: ...
    def _flush_acks(self) -> None: ...
    def _queue(self, user: str, frame: Receipted, now: float) -> None: ...


#: Rooms this client keeps at most, whatever a tracker says (trackers allow 20 per user).
MAX_ROOMS = 64


def is_private(frame: Receipted) -> bool:
    return frame.room is None


@dataclass(frozen=True, slots=True)
class RoomEntry:
    """One room of a ``LOGIN``/``RESUME`` reply: ``roster`` every member in join order,
    ``online`` those whose session is up; ``relay_only``: how we hold our seat in it."""

    name: str
    owner: str
    capacity: int
    roster: Sequence[str]
    online: Sequence[str]
    relay_only: bool = False


@dataclass(frozen=True, slots=True)
class RoomMember:
    """One member of a room's roster and whether their session is up."""

    username: str
    online: bool


def _roster(names: Iterable[str], online: set[str], me: str) -> list[str]:
    """A roster in the tracker's order, each name once, this user and every online
    member included (an online member missing from the roster is appended)."""
    out = list(dict.fromkeys(names))
    out += [u for u in sorted(online | {me}) if u not in out]
    return out


class Rooms:
    """Every room this user is in (see the module docstring)."""

    def __init__(self, host: RoomHost) -> None:
        self._host = host
        self.by_name: dict[str, RoomState] = {}

    # ------------------------------------------------------------------ views

    def get(self, name: str) -> RoomState | None:
        return self.by_name.get(name)

    def names(self) -> list[str]:
        """Our rooms, in join order."""
        return list(self.by_name)

    def member(self, user: str) -> bool:
        """``user`` is listed in one of our rooms: a room-mate."""
        return any(user in room.members for room in self.by_name.values())

    def present(self, user: str) -> bool:
        return any(user in room.present() for room in self.by_name.values())

    def listed_not_gone(self, user: str) -> bool:
        """``user`` is listed in one of our rooms and not reported gone from it: a
        channel to them is wanted."""
        return any(user in r.members and user not in r.gone for r in self.by_name.values())

    def listed_members(self) -> set[str]:
        """Everyone listed in one of our rooms (a room-mate's channel is kept)."""
        out: set[str] = set()
        for room in self.by_name.values():
            out |= room.members
        return out

    def relay_only_with(self, user: str) -> bool:
        """``user`` is in a room we entered relay-only: no direct dial either way."""
        return any(room.relay_only and room.known(user) for room in self.by_name.values())

    def next_detach_expiry(self) -> float | None:
        grace = self._host.settings.detach_grace
        times = [room.next_detach_expiry(grace) for room in self.by_name.values()]
        return min((t for t in times if t is not None), default=None)

    # ------------------------------------------------------------------ sending

    def send(
        self, name: str, text: Body, ts: float, now: float, blocked: Iterable[str] = ()
    ) -> tuple[SentMessage, Step]:
        """A message to every present member of ``name``; ``blocked`` (key changed) are
        skipped and reported failed."""
        host = self._host
        room = self.by_name.get(name)
        if room is None:
            raise ValueError(f"not in room {name}")
        frame = compose_frame(text, room.name, host.me, ts, host.ids.next_id())
        # What we write to a member being re-dialled waits for the new channel.
        redialled = {u for u in room.gone if u in room.members and host.dials.redialing(u)}
        recipients = tuple(sorted(room.others() | redialled))
        blocked = set(blocked)
        for user in recipients:
            if user in blocked:
                host._fail(user, [frame.msg_id], Failure.KEY_CHANGED)
            else:
                host._queue(user, frame, now)
        return SentMessage(frame.msg_id, room.name, recipients, ts), host._done()

    # ------------------------------------------------------------------ membership

    def entered(
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
        """We created or joined ``name`` (or are back in it after a login or an outage):
        ``members`` are the online ones, ``roster`` every member in join order (``None``:
        an older tracker, whose list is the roster). Other rooms are kept. ``relay_only``:
        we asked the tracker to give its members no address for us. Beyond
        :data:`MAX_ROOMS` a new room is refused (an error event, nothing kept)."""
        self._enter(name, owner, capacity, members, now, relay_only=relay_only, roster=roster)
        return self._host._done()

    def _enter(
        self,
        name: str,
        owner: str,
        capacity: int,
        members: Iterable[str],
        now: float,
        *,
        relay_only: bool,
        roster: Iterable[str] | None,
    ) -> None:
        host = self._host
        room = self.by_name.get(name)
        if room is None and len(self.by_name) >= MAX_ROOMS:
            detail = f"not entering {name}: this client keeps at most {MAX_ROOMS} rooms"
            host._emit(ev.ErrorEvent(str(ErrorCode.QUOTA_EXCEEDED), detail))
            return
        if room is None:
            online = set(members) | {host.me}
            room = RoomState(name, owner, capacity, host.me, online, relay_only=relay_only)
            room.roster = _roster(members if roster is None else roster, online, host.me)
            self.by_name[name] = room
            self._ensure_channels(now)
            return
        room.relay_only = relay_only
        room.capacity = capacity
        self._update(name, owner, members, now, None, roster)

    def update(
        self,
        name: str,
        owner: str,
        members: Iterable[str],
        now: float,
        departed: tuple[str, Departure] | None = None,
        *,
        roster: Iterable[str] | None = None,
    ) -> Step:
        """The tracker's list of ``name``'s members (a ``ROOM_UPDATE``): ``members`` the
        online ones, ``roster`` all of them in join order (``None``: an older tracker);
        ``departed``: the member it removes on purpose (``removed``), never kept as
        detached."""
        self._update(name, owner, members, now, departed, roster)
        return self._host._done()

    def _update(
        self,
        name: str,
        owner: str,
        members: Iterable[str],
        now: float,
        departed: tuple[str, Departure] | None,
        roster: Iterable[str] | None,
    ) -> None:
        host = self._host
        room = self.by_name.get(name)
        if room is None:
            return
        room.owner = owner
        online = set(members)
        old_roster = set(room.roster)
        was_offline = {u for u in room.roster if room.offline(u) and u not in room.detached}
        new_roster = _roster(members if roster is None else roster, online, host.me)
        room.roster = new_roster
        listed = set(new_roster)
        change = room.apply(online, set(host._channels.users()), now, departed)
        for user in change.joined:
            back = user in old_roster and roster is not None
            host._emit(ev.MemberOnline(name, user) if back else ev.MemberJoined(name, user))
        for user in change.returned:  # detached: reported offline if the roster kept them
            if roster is not None:
                host._emit(ev.MemberOnline(name, user))
        for user in change.detached:
            if user in listed:
                host._emit(ev.MemberOffline(name, user))
        for user, reason in change.removed_gone:  # their channel was lost first
            if user in listed:
                host._emit(ev.MemberOffline(name, user))
            self._forget_member(name, user, reason)
        for user, why in change.left:
            if user in listed:
                host._emit(ev.MemberOffline(name, user))
                self._forget_member(name, user, Failure.CONNECTION_LOST)
            else:
                host._emit(ev.MemberLeft(name, user, why))
                self._forget_member(name, user, Failure.LEFT)
        for user in new_roster:
            if user not in old_roster and user not in online and user != host.me:
                host._emit(ev.MemberJoined(name, user))
        reasons = {} if departed is None else {departed[0]: str(departed[1])}
        for user in sorted(was_offline - listed - {host.me}):
            host._emit(ev.MemberLeft(name, user, reasons.get(user, "left")))
        for frame in room.release_held():
            host._deliver(frame, now)
        host._flush_acks()
        self._ensure_channels(now)

    def presence(self, user: str, online: bool, rooms: Iterable[str], now: float) -> Step:
        """The tracker's ``PRESENCE``: ``user``'s session started (``online``) or ended.
        Applied in each of ``rooms`` that is ours and lists them (a member the tracker
        never listed to us waits for its ``ROOM_UPDATE``): one ``MemberOnline`` or
        ``MemberOffline`` per such room; an online member is dialled."""
        host = self._host
        for name in rooms:
            room = self.by_name.get(name)
            if room is None or user == host.me or user not in room.roster:
                continue
            members = room.members | {user} if online else room.members - {user}
            self._update(name, room.owner, members, now, None, list(room.roster))
        return host._done()

    def restored(self, entries: Iterable[RoomEntry], now: float) -> Step:
        """After a login or resume: the tracker's rooms for us, in join order. Rooms we
        hold that it does not list are closed, each with a ``RoomLost`` (we were removed,
        or the room deleted, meanwhile); the others are entered or updated, kept in the
        tracker's order; at most :data:`MAX_ROOMS`. Ends with one ``RoomsRestored``."""
        host = self._host
        entries = list(entries)[:MAX_ROOMS]
        names = [e.name for e in entries]
        for gone in [n for n in self.by_name if n not in names]:
            self._clear(gone, deleted=False)
            host._emit(ev.RoomLost(gone))
        for entry in entries:
            self._enter(
                entry.name,
                entry.owner,
                entry.capacity,
                entry.online,
                now,
                relay_only=entry.relay_only,
                roster=entry.roster,
            )
        self.by_name = {n: self.by_name[n] for n in names if n in self.by_name}
        host._emit(ev.RoomsRestored(tuple(self.by_name)))
        return host._done()

    def _forget_member(self, name: str, user: str, reason: Failure) -> None:
        """``user`` is no longer in room ``name``: give up that room's messages to them;
        unless another room is shared, stop dialling them and close a channel that
        carried no private message."""
        host = self._host
        if not self.present(user):
            host.dials.cancel(user)
            channel = host._channels.get(user)
            if channel is None or not channel.private:
                host._close(user, CloseReason.LEFT_ROOM)
        host._fail(user, host.outbox.drop(user, keep=lambda f: f.room != name), reason)

    def ensure_channels(self, now: float) -> None:
        """Pin every room-mate's channel as a contact's and dial those we lack (the
        dial tie-break decides who dials; the other waits for a fallback)."""
        self._ensure_channels(now)

    def _ensure_channels(self, now: float) -> None:
        host = self._host
        wanted: set[str] = set()
        for room in self.by_name.values():
            for user in room.members:
                channel = host._channels.get(user)
                if channel is not None:
                    host._contact(channel)
            wanted |= room.members - set(room.gone)
        for user in sorted(wanted - {host.me}):
            if user in host._channels or user in host.dials.dialing or host.dials.redialing(user):
                continue
            if host.dials.leads(user):
                host._dial(user)
            else:
                host.dials.schedule_fallback(user, now)

    def expire_detached(self, now: float) -> None:
        """Detached members the tracker has not listed again in time: gone.

        The grace covers a tracker restart or a member's tracker link coming back; past
        it, a member the tracker dropped does not keep receiving the room's messages
        over a channel they keep alive (a banned user who quit the tracker, say)."""
        for room in list(self.by_name.values()):
            for user in room.detach_expired(now, self._host.settings.detach_grace):
                if not room.offline(user):  # an offline one was reported when unlisted
                    self._host._emit(ev.MemberLeft(room.name, user, "connection_lost"))
                self._forget_member(room.name, user, Failure.CONNECTION_LOST)

    def closed(self, name: str | None = None, *, deleted: bool) -> Step:
        """We left ``name`` (``None``: every room), or it was deleted (``deleted``: tell
        the user)."""
        for room in self.names() if name is None else [name]:
            self._clear(room, deleted=deleted)
        return self._host._done()

    def clear_all(self) -> None:
        for name in self.names():
            self._clear(name, deleted=False)

    def _clear(self, name: str, *, deleted: bool) -> None:
        host = self._host
        room = self.by_name.pop(name, None)
        if room is None:
            return
        for user, msg_id in host.outbox.drop_room(room.name):
            host._emit(ev.MessageFailed(msg_id, user, str(Failure.LEFT)))
        for user in sorted((room.members | room.detached.keys()) - {host.me}):
            if self.member(user):
                continue  # still a room-mate elsewhere
            host.dials.cancel(user)
            channel = host._channels.get(user)
            if channel is not None and not channel.private:
                host._close(user, CloseReason.LEFT_ROOM)
        if deleted:
            host._emit(ev.RoomDeleted(room.name, room.owner))

    def leave_notices(self, name: str | None = None) -> Step:
        """``leave`` frames for every present member of ``name`` (``None``: of every
        room) we have a channel to."""
        for room in self.names() if name is None else [name]:
            self._leave_notices(room)
        return self._host._done()

    def _leave_notices(self, name: str) -> None:
        host = self._host
        room = self.by_name.get(name)
        if room is not None:
            for user in sorted(room.others()):
                if user in host._channels:
                    host._send(user, LeaveNotice(room.name, host.me))

    def kicked(self, kicked: Kicked) -> Step:
        """The owner removed us from ``kicked.room`` (``KICKED``). If it is one of our
        rooms, we say goodbye as a leave would (the members hear it from us at once,
        whatever the tracker's update does), then close it; the user is told in any
        case."""
        if kicked.room in self.by_name:
            self._leave_notices(kicked.room)
            self._clear(kicked.room, deleted=False)
        self._host._emit(ev.RemovedFromRoom(kicked.room, kicked.by, str(kicked.reason)))
        return self._host._done()

    # ------------------------------------------------------------------ frames

    def leave_notice(self, frame: LeaveNotice) -> None:
        """A member says they left ``frame.room``: report them gone from it at once."""
        host = self._host
        room = self.by_name.get(frame.room)
        if room is None or not room.known(frame.sender):
            return
        if room.mark_gone(frame.sender, Failure.LEFT):
            host._emit(ev.MemberLeft(room.name, frame.sender, "left"))
        if not self.present(frame.sender):
            host.dials.cancel(frame.sender)
        pending = host.outbox.drop(frame.sender, keep=lambda f: f.room != frame.room)
        host._fail(frame.sender, pending, Failure.LEFT)

    def chat(self, frame: Receipted | Signal, now: float) -> None:
        """A room frame: delivered if the room is ours and the sender a present member
        of it, held if the sender is not listed yet (never a typing or read signal, which
        is worth nothing late), otherwise dropped."""
        room = None if frame.room is None else self.by_name.get(frame.room)
        if room is None:
            return
        if frame.sender in room.present():
            self._host._deliver(frame, now)
        elif frame.sender not in room.gone and not isinstance(frame, Signal):
            room.hold(frame, self._host.settings.held_limit)

    def channel_lost(self, user: str) -> bool:
        """The channel to ``user`` died: report them gone from every room they were
        present in, except where the tracker already said their session ended (a member
        offline in the roster got ``MemberOffline``: their channel closing says nothing
        more); whether they are listed in any room (then they are re-dialled)."""
        listed = self.member(user)
        for room in self.by_name.values():
            room.held.pop(user, None)  # what they sent unlisted goes with their channel
            offline = room.offline(user)
            if room.mark_gone(user, Failure.CONNECTION_LOST) and not offline:
                self._host._emit(ev.MemberLeft(room.name, user, "connection_lost"))
        return listed

    def channel_back(self, user: str) -> None:
        """A channel to ``user`` opened: in every room that lists them but had them
        gone, they are back."""
        for room in self.by_name.values():
            if user in room.gone and user in room.members:
                del room.gone[user]
                self._host._emit(ev.MemberJoined(room.name, user))
