"""Runs the core: carries each :class:`peer.core.actions.Step` out through the shells and feeds
the core what the channel shell reports. It holds no rules of its own: even how to dial,
what a kick does and whom to offer our address are the core's decisions
(:meth:`peer.core.peer_core.PeerCore.dial_path`, :meth:`~peer.core.peer_core.PeerCore.kicked`,
:meth:`~peer.core.peer_core.PeerCore.offer_endpoint`); the driver brings them what only the
shells know (addresses, the relay, trust, the dial policy and its rate).

One :class:`CoreDriver` per login. Every input reaches the core through :meth:`apply`,
which executes the actions at once and in order (frames are encrypted and queued
synchronously, so channels are written in the order the core decided), hands the events
to the client's queue (charged to the channel whose frames produced them, for the
queue's back-pressure: :mod:`peer.client.event_queue`), and re-arms the single timer at the
core's next wake-up. The dial policy and rate it hands the core are
:mod:`peer.channels.dial_policy`'s.

It also holds the senders that wait for room in a recipient's backlog
(:meth:`CoreDriver.wait_for_room`): every step may settle or fail messages, so after each
one the waiters whose recipients have room again are released.

It also keeps the room-mates' addresses (the tracker gives them only in the room's
member list) and our own, for the core to decide where a dial goes and whether a
relayed channel gets our address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from commons.errors import P2PChatError
from commons.models import MemberInfo, RoomInfo, decode_identity_key
from crypto.authorization import Admission
from crypto.errors import KeyChangedError, KeyMismatchError
from peer import events as ev
from peer.channels.dial_policy import AddressPolicy, DialRate
from peer.channels.shell import ChannelShell, Endpoint
from peer.client.directory import Directory
from peer.client.event_queue import EventQueue
from peer.client.join_catchup import JoinCatchUp
from peer.client.lookups import Lookup, Lookups
from peer.client.trust_gate import TrustGate
from peer.core.actions import (
    Admit,
    ChannelPath,
    CheckOnline,
    CloseChannel,
    CloseReason,
    Dial,
    DialFailure,
    PinContact,
    SendFrame,
    Step,
    Upgrade,
)
from peer.core.dialling import DialDirect, DialRefused
from peer.core.endpoint_policy import DirectPrivate
from peer.core.frames import Frame
from peer.core.peer_core import PeerCore
from peer.core.rooms import RoomEntry
from peer.errors import ChannelRefusedError, RequestTimeoutError, UserOfflineError
from peer.session.messages import (
    InvitedPush,
    KeyChangedPush,
    KickedPush,
    PresencePush,
    RoomDeletedPush,
    RoomRecord,
    RoomUpdate,
    SessionReplacedPush,
    TrackerPush,
)
from peer.supervisor import TaskSupervisor

log = logging.getLogger(__name__)


_FAILURE_ERRORS: dict[DialFailure, type[P2PChatError]] = {
    DialFailure.KEY_CHANGED: KeyChangedError,
    DialFailure.IDENTITY: KeyMismatchError,
}


class CoreDriver:
    def __init__(
        self,
        core: PeerCore,
        shell: ChannelShell,
        trust: TrustGate,
        tasks: TaskSupervisor,
        events: EventQueue,
        lookup: Lookup,
        clock: Callable[[], float],
        tracker_address: str | None,
    ) -> None:
        """``lookup`` asks the tracker about one user (``LOOKUP``); ``clock`` dates
        directory listings, whose age decides when to ask again; ``tracker_address``
        decides which addresses may be dialled."""
        self.core = core
        self._shell = shell
        self.directory = Directory()
        self.lookups = Lookups(self.directory, lookup, tasks, clock, self._offline)
        self._trust = trust
        self._events = events
        self._tasks = tasks
        self._clock = clock  # for the age of directory listings only
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        #: Senders waiting for room in these recipients' backlogs (:meth:`wait_for_room`).
        self._room_waiters: list[tuple[tuple[str, ...], asyncio.Future[None]]] = []
        self._dial_rate = DialRate()
        shell.address_policy = AddressPolicy(tracker_address)
        events.flow = self
        #: How to dial each room-mate who listens (from the room's member list).
        #: How to dial the room-mates who listen, per room (only theirs: nobody else's
        #: address is ever given to us).
        self._addresses: dict[str, dict[str, Endpoint]] = {}
        #: Our own address, offered over relayed channels (``None``: no listener).
        self.own_endpoint: Endpoint | None = None
        self.direct_private = DirectPrivate.VERIFIED
        #: Pushes for the room a JOIN_ROOM/CREATE_ROOM is out for, replayed after it.
        self._catch_up = JoinCatchUp()
        self.stopped = False

    def now(self) -> float:
        return self._loop.time()

    # ------------------------------------------------------------------ steps

    def apply(self, step: Step, channel: int | None = None) -> None:
        """Carry out ``step``: actions first, in order, then the events (charged to
        ``channel`` when its frames produced them)."""
        for action in step.actions:
            if isinstance(action, SendFrame):
                self._shell.send(action.channel, action.frame)
            elif isinstance(action, CloseChannel):
                self._shell.close(action.channel, action.reason)
            elif isinstance(action, Dial):
                self._dial(action.user)
            elif isinstance(action, Upgrade):
                self._upgrade(action)
            elif isinstance(action, PinContact):
                key = self._shell.remote_key(action.channel)
                if key is not None:
                    self._tasks.spawn(self._pin_contact(action.user, key), "pin contact")
            elif isinstance(action, CheckOnline):
                self.lookups.check_online(action.user)
        for event in step.events:
            self._events.put(event, channel)
            if isinstance(event, ev.ChannelOpened):
                self._wake(event.username, None)
                self.offer_endpoint(event.username)
        if self._room_waiters:
            self._release_room_waiters()
        self._arm()

    def _dial(self, user: str) -> None:
        """Dial ``user`` the way the core decides (:meth:`PeerCore.dial_path`)."""
        endpoint = next((a[user] for a in self._addresses.values() if user in a), None)
        path = self.core.dial_path(
            user,
            None if endpoint is None else (endpoint.host, endpoint.port),
            listed=user in self.directory,
            relay_open=self._relay_open(),
            policy=self._shell.address_policy,
            rate=self._dial_rate,
            now=self.now(),
        )
        if isinstance(path, DialRefused):
            self.dial_failed(user, path.failure, path.detail)
        elif isinstance(path, DialDirect):
            self._shell.dial(user, Endpoint(path.host, path.port))
        else:
            self._shell.dial(user, None)

    def _relay_open(self) -> bool:
        relay = self._shell.relay
        return relay is not None and relay.available

    def _upgrade(self, action: Upgrade) -> None:
        """Dial the endpoint ``action.user`` offered, if the core allows
        (:meth:`PeerCore.upgrade_path`)."""
        policy, rate = self._shell.address_policy, self._dial_rate
        path = self.core.upgrade_path(action, policy=policy, rate=rate, now=self.now())
        if isinstance(path, DialRefused):
            self.dial_failed(action.user, path.failure, path.detail, upgrade=True)
        else:
            self._shell.dial(action.user, Endpoint(path.host, path.port), upgrade=True)

    def offer_endpoint(self, user: str) -> None:
        """Let the core offer our address over the channel to ``user``
        (:meth:`PeerCore.offer_endpoint`); called when a channel opens and when trust
        changes."""
        if self.stopped:
            return
        own = self.own_endpoint
        address = None if own is None else (own.host, own.port)
        trust = self._trust.state(user)
        self.apply(self.core.offer_endpoint(user, address, self.direct_private, trust))

    def _arm(self) -> None:
        wake = None if self.stopped else self.core.next_wakeup()
        if wake == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, wake
        if wake is not None:
            self._timer = self._loop.call_at(wake, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, None
        self.apply(self.core.tick(self.now()))

    def stop(self) -> None:
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
        self._events.flow = None
        for user in list(self._waiters):
            self._wake(user, ChannelRefusedError("the client is closed"))
        self._release_room_waiters()

    # ------------------------------------------------------------------ reading (flow)

    def pause_reading(self, channel: int) -> None:
        """The event queue is full of this channel's events: stop reading it."""
        self._shell.pause_reading(channel)
        self.apply(self.core.reading_paused(channel))

    def resume_reading(self, channel: int) -> None:
        self._shell.resume_reading(channel)
        if not self.stopped:
            self.apply(self.core.reading_resumed(channel, self.now()))

    # ------------------------------------------------------------------ the tracker

    def listed_key(self, user: str) -> bytes | None:
        """The key the tracker last listed for ``user``, however old."""
        listing = self.directory.get(user)
        return None if listing is None else listing.key

    def remember(self, members: list[MemberInfo]) -> None:
        now = self._clock()
        for m in members:
            self.directory.remember(m.username, decode_identity_key(m.identity_key), now)

    def _room_addresses(self, room: str, members: list[MemberInfo]) -> None:
        """``room``'s online members: how to dial those who listen."""
        self._addresses[room] = {
            m.username: Endpoint(m.host, m.port)
            for m in members
            if m.host is not None and m.port is not None
        }

    def _forget_addresses(self) -> None:
        """Drop the addresses of rooms we are no longer in."""
        for room in [r for r in self._addresses if self.core.rooms.get(r) is None]:
            del self._addresses[room]

    def joining(self, room: str) -> None:
        """A JOIN_ROOM or CREATE_ROOM for ``room`` is about to go out: the pushes for it
        that race the reply are replayed after it (:mod:`peer.client.join_catchup`)."""
        self._catch_up.start(room)

    def room_entered(
        self,
        info: RoomInfo,
        members: list[MemberInfo],
        *,
        relay_only: bool = False,
        roster: list[str] | None = None,
    ) -> None:
        """We created or joined ``info`` (``members``: the online ones and how to reach
        them, when known; ``roster``: every member in join order, ``None`` from an older
        tracker; ``relay_only``: entered relay-only, every channel to them through the
        relay)."""
        self.remember(members)
        self._room_addresses(info.name, members)
        names = [m.username for m in members] or list(info.members)
        core, now = self.core, self.now()
        step = core.room_entered(
            info.name, info.owner, info.capacity, names, now, relay_only=relay_only, roster=roster
        )
        self.apply(step)
        self._forget_addresses()
        for push in self._catch_up.finish(info.name):
            self.pushed(push)

    def rooms_restored(
        self, rooms: Iterable[RoomRecord], relay_only: Callable[[str], bool]
    ) -> None:
        """After a login or resume: the tracker's rooms for us, in join order (see
        :meth:`peer.core.rooms.Rooms.restored`); ``relay_only(room)``: how we hold our
        seat there (the tracker does not say)."""
        entries = []
        for record in rooms:
            room, roster = record.room, record.roster
            self.remember(roster.online)
            self._room_addresses(room.name, roster.online)
            online = [m.username for m in roster.online]
            entries.append(
                RoomEntry(
                    room.name,
                    room.owner,
                    room.capacity,
                    online if roster.names is None else roster.names,
                    online,
                    relay_only(room.name),
                )
            )
        self.apply(self.core.rooms_restored(entries, self.now()))
        self._forget_addresses()

    def pushed(self, push: TrackerPush) -> None:
        core = self.core
        self._catch_up.note(push)
        if isinstance(push, RoomUpdate):
            self.remember(push.members)
            if core.rooms.get(push.room) is not None:
                self._room_addresses(push.room, push.members)
            names = [m.username for m in push.members]
            removed = push.removed
            departed = None if removed is None else (removed.username, removed.reason)
            step = core.room_update(push.room, push.owner, names, self.now(), departed, push.roster)
            self.apply(step)
        elif isinstance(push, PresencePush):
            self._presence(push)
        elif isinstance(push, RoomDeletedPush):
            if core.rooms.get(push.room) is not None:
                self.apply(core.room_closed(push.room, deleted=True))
                self._forget_addresses()
        elif isinstance(push, KickedPush):
            self.apply(core.kicked(push.kicked))
        elif isinstance(push, InvitedPush):
            self._events.put(ev.InvitedToRoom(push.invited.room, push.invited.by))
        elif isinstance(push, SessionReplacedPush):
            self.apply(core.session_ended())
            self._events.put(ev.SessionReplaced())
        elif isinstance(push, KeyChangedPush):
            self.directory.key_changed(push.username, push.identity_key, self._clock())
            self._tasks.spawn(self._new_key(push.username, push.identity_key), "key change")

    def _presence(self, push: PresencePush) -> None:
        """A member's session started or ended: their address in each room we share
        (only if the tracker gives one), then the core."""
        if push.member is not None:
            self.remember([push.member])
        for room in push.rooms:
            addresses = self._addresses.get(room)
            if addresses is None:
                continue
            addresses.pop(push.username, None)
            member = push.member
            if member is not None and member.host is not None and member.port is not None:
                addresses[push.username] = Endpoint(member.host, member.port)
        self.apply(self.core.presence(push.username, push.online, push.rooms, self.now()))

    async def _new_key(self, user: str, key: bytes) -> None:
        """A new key for ``user`` now waits for the user: nothing more goes to them."""
        if await self._trust.note_key(user, key) and not self.stopped:
            self.apply(self.core.key_changed(user, self.now()))

    async def _pin_contact(self, user: str, key: bytes) -> None:
        if await self._trust.pin_contact(user, key) and not self.stopped:
            self.apply(self.core.key_changed(user, self.now()))

    def _offline(self, user: str) -> None:
        if not self.stopped:
            self.apply(self.core.user_offline(user))

    # ------------------------------------------------------------------ waiting for channels

    def _wake(self, user: str, error: P2PChatError | None) -> None:
        for future in self._waiters.pop(user, []):
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
                future.exception()  # retrieved: a waiter may have timed out already

    def _waiter(self, user: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiters.setdefault(user, []).append(future)
        return future

    async def wait_channel(self, user: str) -> None:
        """Until a channel to ``user`` is open; raises if a dial to them fails."""
        if self.core.channel_of(user) is not None:
            return
        await self._waiter(user)

    async def open_channel(self, user: str, patience: float) -> None:
        """A channel to ``user`` for a private message, dialled if needed. A user who
        logged in again has a new address (and maybe a new key), and no push tells us
        unless we share a room: ask the tracker first; with the tracker down, the cached
        listing is all there is."""
        try:
            await self.lookups.look_up(user)
        except UserOfflineError:
            raise
        except P2PChatError:
            if user not in self.directory:
                raise
        if self.core.channel_of(user) is not None:
            return
        opened = self._waiter(user)  # before the dial: it may fail at once
        self.apply(self.core.want_channel(user))
        try:
            async with asyncio.timeout(patience):
                await opened
        except TimeoutError:
            raise RequestTimeoutError(f"no channel to {user} in time") from None

    # ------------------------------------------------------------------ waiting for backlog room

    def _has_room(self, users: Iterable[str]) -> bool:
        return all(self.core.outbox.has_room(u) for u in users)

    async def wait_for_room(self, users: Iterable[str]) -> None:
        """Until one more message to each of ``users`` would be queued rather than fail
        ``backlog_full``. Bounded: an entry leaves a backlog by its receipt or by failing
        (lost channel, departure, or ``delivery_timeout`` at the latest). Returns at once
        once the driver stopped (the send that follows then fails on its own)."""
        wanted = tuple(users)
        while not self.stopped and not self._has_room(wanted):
            future: asyncio.Future[None] = self._loop.create_future()
            self._room_waiters.append((wanted, future))
            await future

    def _release_room_waiters(self) -> None:
        """Wake the waiters whose recipients all have room (all of them once stopped)."""
        waiting: list[tuple[tuple[str, ...], asyncio.Future[None]]] = []
        for users, future in self._room_waiters:
            if future.done():
                continue  # its sender was cancelled
            if self.stopped or self._has_room(users):
                future.set_result(None)
            else:
                waiting.append((users, future))
        self._room_waiters = waiting

    async def drain(self, users: Iterable[str]) -> None:
        """Back-pressure: wait (a bounded time) while the channels just written to are
        over their mark."""
        channels = [self.core.channel_of(u) for u in users]
        await self._shell.drain([c for c in channels if c is not None])

    # ------------------------------------------------------------------ the channel shell

    def admission(self, expected: str | None) -> Admission:
        def listed(user: str) -> bytes | None:
            listing = self.directory.fresh(user, self._clock())
            return None if listing is None else listing.key

        return self._trust.admission(expected, listed)

    async def before_authorize(self, user: str, key: bytes, source: str | None = None) -> None:
        await self.lookups.before_authorize(user, key, source)

    async def settle(self, admission: Admission, *, accepted: bool) -> bool:
        keep, changed = await self._trust.settle(admission, accepted=accepted)
        decision = admission.decision
        if changed and decision is not None and not self.stopped:
            self.apply(self.core.key_changed(decision.username, self.now()))
        return keep

    async def refused(self, admission: Admission, error: P2PChatError) -> None:
        decision = admission.decision
        if decision is None or decision.error is None:
            return
        name = decision.username
        message = f"refused a channel claiming to be {name}: {error}"
        if not self.stopped:
            self.apply(self.core.channel_refused(name, str(error.code), message, self.now()))
        await self.settle(admission, accepted=False)

    def admit(self, user: str, path: ChannelPath = ChannelPath.DIRECT) -> Admit:
        return Admit.FULL if self.stopped else self.core.admit(user, path)

    def opened(
        self,
        user: str,
        channel: int,
        *,
        initiator: bool,
        path: ChannelPath = ChannelPath.DIRECT,
        upgrade: bool = False,
    ) -> None:
        step = self.core.channel_opened(
            user,
            channel,
            initiator=initiator,
            now=self.now(),
            path=path,
            upgrade=upgrade,
            pinned=self._trust.pinned_key(user) is not None,
        )
        self.apply(step)

    def received(self, channel: int, frames: list[Frame]) -> None:
        self.apply(self.core.frames_received(channel, frames, self.now()), channel)

    def closed(self, channel: int, reason: CloseReason, detail: str) -> None:
        if not self.stopped:
            self.apply(self.core.channel_closed(channel, reason, detail, self.now()))

    def dial_failed(
        self, user: str, failure: DialFailure, detail: str, *, upgrade: bool = False
    ) -> None:
        log.info("channel to %s failed: %r", user, detail)  # %r: remote-chosen text
        if failure is not DialFailure.DUPLICATE and not upgrade:
            error = _FAILURE_ERRORS.get(failure, ChannelRefusedError)
            self._wake(user, error(detail))
        if not self.stopped:
            self.apply(self.core.dial_failed(user, failure, detail, self.now(), upgrade=upgrade))
