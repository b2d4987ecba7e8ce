"""ChatClient: the peer as a library (the terminal UI, batch mode, bots and tests use it).

A facade over parts that each do one job: :class:`peer.session.session.TrackerSession` (the
tracker: login, heartbeat, reconnect), :class:`peer.channels.shell.ChannelShell` (dialling,
accepting, reading and writing end-to-end channels), :class:`peer.core.peer_core.PeerCore` (every
rule about rooms, channels, receipts and liveness, without I/O) run by
:class:`peer.client.driver.CoreDriver`, and :class:`peer.client.trust_gate.TrustGate` (pins and the
send gate; the trust rules are its and the pin store's, :mod:`crypto.pinning`). One
:class:`peer.supervisor.TaskSupervisor` owns every background task. The class reads in
sections: its state, the session's life, the tracker's directory and rooms, a room owner's
control, keys and trust, sending, and the tracker session's callbacks.

No feature reads the whole user list: :meth:`ChatClient.look_up` asks for one user
(``LOOKUP``), and the lists come a page at a time (``list_peers``/``list_rooms`` with the
cursor of the previous page). A room's owner kicks, bans, unbans, invites and uninvites
users, makes the room invite-only and reads its access lists; those commands name a room,
or mean the current one.

Methods raise :class:`commons.errors.P2PChatError` subclasses; everything else the user
should know arrives as events from :meth:`ChatClient.events` (``peer/events.py``),
including a receipt or a failure for every message to every recipient. The event queue
is bounded by back-pressure on the channels that fill it, never by dropping events
(:mod:`peer.client.event_queue`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable

from commons.errors import ErrorCode, P2PChatError, ValidationError
from commons.models import PeerInfo, RoomInfo, validate_room_name, validate_username
from commons.room_control import RoomAccess
from commons.tracker_protocol import Command
from crypto.history_seal import HistoryKeys, derive_history_keys
from crypto.identity import IdentityKey
from crypto.keystore import KdfParams
from crypto.pinning import TrustState
from peer import events as ev
from peer.channels.relay import RelayLinks
from peer.channels.shell import ChannelShell, Endpoint
from peer.client import conversation_frames as sending
from peer.client.driver import CoreDriver
from peer.client.event_queue import EventBudget, EventQueue
from peer.client.room_restore import restore_rooms
from peer.client.trust_gate import TrustGate
from peer.config import PeerConfig
from peer.core.actions import SentMessage
from peer.core.conversation import Body, ConversationId, Conversations, Located
from peer.core.frames import (
    validate_emoji,
    validate_text,
)
from peer.core.peer_core import PeerCore
from peer.core.rooms import RoomMember
from peer.errors import (
    NotConnectedError,
    NotInRoomError,
    NotLoggedInError,
    RelayUnavailableError,
)
from peer.session.credentials import load_identity
from peer.session.messages import InviteReply, PeerPage, RoomPage, TrackerPush
from peer.session.session import TrackerSession
from peer.session.sign_in import Home, SignIn, sign_in, sign_up
from peer.supervisor import TaskSupervisor

CLOSE_TIMEOUT = 3.0
#: Rejoin refusals after an outage that retrying will not fix: the room is dropped.
_REJOIN_REFUSALS = {
    ErrorCode.ROOM_NOT_FOUND: "deleted",
    ErrorCode.ROOM_FULL: "full",
    ErrorCode.BANNED: "banned by the owner",
    ErrorCode.NOT_INVITED: "invite-only",
}


class ChatClient:
    """One user's chat session."""

    def __init__(
        self,
        config: PeerConfig,
        *,
        kdf_params: KdfParams | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` dates directory listings (their age decides when to ask again)."""
        self.config = config
        self._kdf_params = kdf_params
        self._clock = clock
        self._tasks = TaskSupervisor()
        self._session = TrackerSession(config, self, self._tasks)
        self._shell = ChannelShell(config, self._tasks)
        self._relay = RelayLinks(self._session, self._shell.accept_relayed, self._tasks)
        self._shell.relay = self._session.relay = self._relay
        budget = EventBudget(config.events_per_channel, config.events_total)
        self._events = EventQueue(budget)
        self._driver: CoreDriver | None = None
        self._trust: TrustGate | None = None
        self.listen_address: tuple[str, int] | None = None
        self.username: str | None = None
        self._identity: IdentityKey | None = None
        self._connected = False
        self._closing = False
        self._signals = sending.SignalSender(
            lambda: None if self._closing else self._driver,
            lambda user: self.pinned_key(user) is not None,
        )

    # ------------------------------------------------------------------ state

    @property
    def core(self) -> PeerCore | None:
        """The rules engine of the logged-in session (``None`` before login)."""
        return None if self._driver is None else self._driver.core

    @property
    def rooms(self) -> list[str]:
        """The rooms we are a member of, in join order (the tracker's order after a login)."""
        return [] if self.core is None else self.core.rooms.names()

    def room_members(self, room: str) -> list[RoomMember]:
        """``room``'s roster in join order, each with whether their session is up
        (``NotInRoomError`` if we are not in it)."""
        core = self.core
        state = None if core is None else core.rooms.get(room)
        if state is None:
            raise NotInRoomError(f"you are not in {room}")
        return [RoomMember(u, state.online(u)) for u in state.roster]

    def room_owner_of(self, room: str) -> str | None:
        """``room``'s owner (``None``: we are not in it)."""
        core = self.core
        state = None if core is None else core.rooms.get(room)
        return None if state is None else state.owner

    def room_capacity(self, room: str) -> int:
        """``room``'s capacity (0: we are not in it)."""
        core = self.core
        state = None if core is None else core.rooms.get(room)
        return 0 if state is None else state.capacity

    @property
    def room(self) -> str | None:
        """The first of :attr:`rooms` (``None``: in none); a front end keeps its own
        current room (the TUI's buffer, batch's ``/switch``)."""
        core = self.core
        return None if core is None or core.room is None else core.room.name

    @property
    def room_owner(self) -> str | None:
        """The owner of :attr:`room`."""
        core = self.core
        return None if core is None or core.room is None else core.room.owner

    @property
    def members(self) -> list[str]:
        """:attr:`room`'s present members (this user included), minus those known to
        have gone."""
        return [] if self.core is None else self.core.members

    def present_members(self, room: str) -> list[str]:
        """``room``'s present members (this user included), sorted; ``[]`` if not in it."""
        core = self.core
        state = None if core is None else core.rooms.get(room)
        return [] if state is None else sorted(state.present())

    @property
    def connected_peers(self) -> list[str]:
        """Users with an open, accepted channel."""
        return [] if self.core is None else self.core.connected

    @property
    def channel_paths(self) -> dict[str, str]:
        """How each open channel travels, by user: ``"direct"`` or ``"relay"``."""
        return {} if self.core is None else {u: str(p) for u, p in self.core.paths.items()}

    @property
    def tracker_connected(self) -> bool:
        return self._session.connected

    @property
    def tracker_fingerprint(self) -> str | None:
        """SHA-256 fingerprint of the tracker certificate seen on the last connection."""
        return self._session.fingerprint

    @property
    def tracker_pinned_now(self) -> bool:
        """True if the last connection pinned the tracker's certificate for the first time
        (trust on first use): the user should see the fingerprint that was pinned."""
        return self._session.pinned_now

    def history_keys(self, salt: bytes) -> HistoryKeys:
        """Keys of this user's local history (HKDF over the identity private key, which
        only the password unlocks); see :mod:`crypto.history_seal`."""
        if self.username is None or self._identity is None:
            raise NotLoggedInError("log in first")
        return derive_history_keys(self._identity, self.username, salt)

    def _emit(self, event: ev.ClientEvent) -> None:
        self._events.put(event)

    async def events(self) -> AsyncIterator[ev.ClientEvent]:
        """Every event in order, until :meth:`close`; meant for a single consumer.

        The queue is bounded by back-pressure, never by dropping: while the events one
        channel produced (or all events) that wait here are over their budget
        (``PeerConfig.events_per_channel``/``events_total``), that channel is not read.
        A consumer that falls behind slows its senders down; it loses nothing."""
        while (event := await self._events.get()) is not None:
            yield event

    def _require(self) -> tuple[CoreDriver, TrustGate]:
        if self._driver is None or self._trust is None:
            raise NotLoggedInError("log in first")
        return self._driver, self._trust

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        """Start the P2P listener and open the verified TLS connection to the tracker.

        Before login the connection is also reopened on demand, so ``register`` and
        ``login`` work however long after this they come."""
        listen = self.config.listen_address
        if listen is not None and self.listen_address is None:
            self.listen_address = await self._shell.listen(*listen)
        self._connected = True
        await self._session.connect()

    @property
    def _home(self) -> Home:
        return Home(self.config.home, self.config.min_login_kdf, self._kdf_params)

    async def register(self, username: str, password: str) -> None:
        """REGISTER with the saved identity key, or a new one that is written (sealed with
        ``password``) only once the tracker created the account."""
        username = validate_username(username)
        if not password:
            raise ValidationError("the password cannot be empty")
        loaded = await load_identity(self.config.home, username, password)
        await sign_up(self._session, self._home, username, password, loaded)

    async def login(
        self,
        username: str,
        password: str,
        replace_key: bool = False,
        *,
        allow_legacy_login: bool = False,
    ) -> None:
        """LOGIN with the identity key and the listening port; start the heartbeat.

        ``allow_legacy_login`` (or the config's) lets this login send the old digest to
        upgrade an account of the old scheme, unless the login memory knows better."""
        username = validate_username(username)
        if self.username is not None:
            raise ValidationError(f"already logged in as {self.username}")
        if not self._connected:
            raise NotConnectedError("call connect() first")
        loaded = await load_identity(self.config.home, username, password)
        identity = loaded.key
        trust = await TrustGate.open(self.config.home, username, identity, self._emit)
        port = None
        if self.listen_address is not None:
            port = self.config.advertise_port or self.listen_address[1]
        allow_legacy = allow_legacy_login or self.config.allow_legacy_login
        request = SignIn(
            username, password, loaded, port, self.config.advertise_host, replace_key, allow_legacy
        )
        try:
            reply = await sign_in(self._session, self._home, request)
        except BaseException:
            trust.close()
            raise
        core = PeerCore(username, self.config.core)
        driver = CoreDriver(
            core,
            self._shell,
            trust,
            self._tasks,
            self._events,
            self._session.lookup,
            self._clock,
            self._session.tracker_address,
        )
        driver.direct_private = self.config.direct_private
        host = self.config.advertise_host or reply.host
        if port is not None and host is not None:
            driver.own_endpoint = Endpoint(host, port)
        self.username, self._trust, self._driver = username, trust, driver
        self._identity = identity
        self._shell.bind(username, identity, driver)
        self._relay.known = self._known
        self._relay_offered(reply.relay)
        await trust.started()
        self._restore_rooms()

    @property
    def durable_rooms(self) -> bool:
        """Whether the tracker keeps memberships while offline and holds several rooms
        per user (its LOGIN reply lists ``rooms``). An older tracker moves a user out of
        their room on a join, so this client then keeps one room, as the tracker does."""
        login = self._session.login_reply
        return login is not None and login.rooms is not None

    def _restore_rooms(self) -> None:
        """Back in the rooms the tracker lists for us (login, resume), nothing typed; a
        room we held keeps how we entered it (relay-only or not), a new one follows the
        config."""
        if self._driver is not None:
            held = {name: self.relay_only_in(name) for name in self.rooms}
            restore_rooms(self._session, self._driver, self._tasks, held, self.config.relay_only)

    def _known(self, user: str) -> bool:
        """A room-mate, a user with a channel, or a contact whose key is pinned: their
        relayed handshakes come before strangers' (:class:`peer.channels.relay.RelayLinks`)."""
        if self._driver is None or self._trust is None:
            return False
        return self._driver.core.knows(user) or self._trust.pinned_key(user) is not None

    def _relay_offered(self, available: bool) -> None:
        """The tracker says (at each login) whether it relays for us."""
        self._relay.available = available
        if not available and self.config.relay_only:
            self._emit(
                ev.ErrorEvent(
                    str(ErrorCode.RELAY_UNAVAILABLE),
                    "this tracker does not relay: with --relay-only nobody can be reached",
                )
            )

    async def close(self) -> None:
        """Log out, close every channel and the listener; against an older tracker (no
        durable membership) leave the room first (leave notices)."""
        if self._closing:
            return
        if self.room is not None and not self._session.replaced and not self.durable_rooms:
            # An older tracker ends the membership with the session: say goodbye. A
            # durable one keeps our seats; the members see us go offline.
            with contextlib.suppress(P2PChatError, OSError, TimeoutError):
                await asyncio.wait_for(self.leave_room(), CLOSE_TIMEOUT)
        self._closing = True
        await self._session.logout()
        await self._shutdown()

    def abort(self) -> None:
        """Drop every connection at once, as a crash would (tests use it); no notices."""
        self._closing = True
        self._session.abort()
        self._shell.abort_all()
        self._tasks.spawn(self._shutdown(), "abort")

    async def _shutdown(self) -> None:
        self._closing = True
        driver = self._driver
        if driver is not None:
            driver.apply(driver.core.shutdown())
            driver.stop()
        await self._session.close()
        await self._shell.close_all()
        await self._tasks.close()
        if self._trust is not None:
            self._trust.close()
        self._events.end()

    # ------------------------------------------------------------------ directory and rooms

    async def look_up(self, username: str) -> PeerInfo:
        """``username`` as the tracker lists them now (``user_offline`` if they are not
        online); their key is remembered for ``fingerprint`` and ``safety_number``."""
        driver, _ = self._require()
        return await driver.lookups.look_up(validate_username(username))

    async def list_peers(self, cursor: str | None = None, limit: int | None = None) -> PeerPage:
        """One page of online users in name order (``page.next_cursor``: the next)."""
        self._require()
        return await self._session.list_peers(cursor, limit)

    async def list_rooms(self, cursor: str | None = None, limit: int | None = None) -> RoomPage:
        """One page of rooms in name order (``page.next_cursor``: the next)."""
        self._require()
        return await self._session.list_rooms(cursor, limit)

    async def create_room(
        self, name: str, invite_only: bool = False, *, relay_only: bool = False
    ) -> RoomInfo:
        """Create ``name``; the tracker makes the creator its owner and first member.
        ``relay_only``: as for :meth:`join_room`."""
        driver, _ = self._require()
        name = validate_room_name(name)
        self._check_relay_only(relay_only)
        driver.joining(name)
        info = await self._session.create_room(name, invite_only, relay_only)
        if driver.core.me in info.members:
            self._single_room(name)
            driver.room_entered(info, [], relay_only=relay_only, roster=self._roster(info))
        return info

    async def join_room(self, name: str, *, relay_only: bool = False) -> list[str]:
        """Join ``name`` and open channels to its members; returns the member names.

        ``relay_only``: the tracker gives the members no address for us, and every
        channel to them goes through the relay (we never dial them directly, which
        would show them our address); joining the room we are in again changes it."""
        driver, _ = self._require()
        name = validate_room_name(name)
        self._check_relay_only(relay_only)
        driver.joining(name)
        reply = await self._session.join_room(name, relay_only)
        self._single_room(name)
        roster = reply.roster
        driver.room_entered(reply.room, reply.members, relay_only=relay_only, roster=roster)
        return self.present_members(name)

    def _single_room(self, entering: str) -> None:
        """An older tracker moved us out of our other room: close it here too."""
        driver = self._driver
        if driver is not None and not self.durable_rooms:
            for other in [r for r in self.rooms if r != entering]:
                driver.apply(driver.core.room_closed(other, deleted=False))

    def _roster(self, info: RoomInfo) -> list[str] | None:
        """A new room's roster from a durable tracker (its creator alone, online)."""
        return list(info.members) if self.durable_rooms else None

    def _check_relay_only(self, relay_only: bool) -> None:
        """A relay-only room reaches nobody without the tracker's relay: refused."""
        if relay_only and not self._relay.available:
            raise RelayUnavailableError(
                "this tracker does not relay: in a relay-only room nobody could be reached"
            )

    @property
    def room_relay_only(self) -> bool:
        """Whether we entered :attr:`room` relay-only (``False`` when in none)."""
        room = None if self._driver is None else self._driver.core.room
        return room is not None and room.relay_only

    def relay_only_in(self, room: str) -> bool:
        """Whether we entered ``room`` relay-only (``False`` when not in it)."""
        state = None if self._driver is None else self._driver.core.rooms.get(room)
        return state is not None and state.relay_only

    async def leave_room(self, room: str | None = None) -> str:
        """Leave ``room`` (``None``: our only room; ``ValidationError`` when in several):
        a leave notice to each of its members, the tracker told, then the channels no
        other room shares closed. Returns the room left."""
        driver, _ = self._require()
        names = driver.core.rooms.names()
        if room is None and len(names) > 1:
            raise ValidationError("name the room to leave: you are in several")
        name = validate_room_name(room) if room is not None else next(iter(names), None)
        state = None if name is None else driver.core.rooms.get(name)
        if name is None or state is None:
            raise NotInRoomError("you are not in a room" if room is None else f"not in {room}")
        driver.apply(driver.core.leave_notices(name))
        await driver.drain(state.others())
        try:
            await self._session.leave_room(name)
        except P2PChatError as exc:
            if exc.code not in (ErrorCode.NOT_IN_ROOM, ErrorCode.NOT_CONNECTED, ErrorCode.TIMEOUT):
                raise
        finally:
            if driver.core.rooms.get(name) is state:
                driver.apply(driver.core.room_closed(name, deleted=False))
        return name

    async def delete_room(self, name: str) -> None:
        """Delete ``name`` (owner only); members are told by the tracker."""
        driver, _ = self._require()
        name = validate_room_name(name)
        await self._session.delete_room(name)
        if name in self.rooms:
            driver.apply(driver.core.room_closed(name, deleted=True))

    # ------------------------------------------------------------------ owner control

    def _room_named(self, room: str | None) -> str:
        if room is not None:
            return validate_room_name(room)
        if self.room is None:
            raise NotInRoomError("name the room: you are not in one")
        return self.room

    async def _on_user(self, cmd: Command, username: str, room: str | None) -> tuple[str, str]:
        self._require()
        user = validate_username(username)
        return await self._session.room_target(cmd, self._room_named(room), user)

    async def kick(self, username: str, room: str | None = None) -> tuple[str, str]:
        """Remove ``username`` from the room (owner only); they may join again (unless
        the room is invite-only). Returns the room and the member's exact name."""
        return await self._on_user(Command.KICK, username, room)

    async def ban(self, username: str, room: str | None = None) -> tuple[str, str]:
        """Ban ``username`` from the room (and remove them if they are in it)."""
        return await self._on_user(Command.BAN, username, room)

    async def unban(self, username: str, room: str | None = None) -> tuple[str, str]:
        return await self._on_user(Command.UNBAN, username, room)

    async def invite(self, username: str, room: str | None = None) -> InviteReply:
        """Invite ``username`` (they are told if online); needed to join an invite-only room.
        The reply says how full the room is: :attr:`InviteReply.full` means the invitee
        cannot join until someone leaves."""
        self._require()
        user = validate_username(username)
        return await self._session.invite(self._room_named(room), user)

    async def uninvite(self, username: str, room: str | None = None) -> tuple[str, str]:
        """Withdraw an invite (a member stays a member)."""
        return await self._on_user(Command.UNINVITE, username, room)

    async def set_invite_only(self, invite_only: bool, room: str | None = None) -> RoomInfo:
        """Make the room invite-only (whoever is in it is invited) or open again."""
        self._require()
        return await self._session.set_room(self._room_named(room), invite_only)

    async def room_access(self, room: str | None = None) -> RoomAccess:
        """The room's mode, invite list and ban list (owner only)."""
        self._require()
        return await self._session.room_access(self._room_named(room))

    # ------------------------------------------------------------------ keys and trust

    def _listed(self, username: str | None) -> bytes | None:
        return None if username is None else self._require()[0].listed_key(username)

    def fingerprint(self, username: str | None = None, key: bytes | None = None) -> str:
        """Your key's fingerprint, or ``key``'s, or the one of the key to show for
        ``username`` (the newest undecided key, else the pinned one, else the listed one)."""
        return self._require()[1].fingerprint(username, key, self._listed(username))

    def safety_number(self, username: str, key: bytes | None = None) -> str:
        """The 60-digit number to compare with ``username`` out of band, for ``key``
        (default: the key :meth:`fingerprint` shows for them)."""
        return self._require()[1].safety_number(username, key, self._listed(username))

    def trust_state(self, username: str) -> TrustState | None:
        return self._require()[1].state(username)

    def pinned_key(self, username: str) -> bytes | None:
        return self._require()[1].pinned_key(username)

    def contacts(self) -> frozenset[str]:
        """Whose keys are pinned: the people the user answered or shared a room with
        (empty before login)."""
        if self._driver is None or self._trust is None:
            return frozenset()
        return self._trust.contacts()

    def pending_keys(self, username: str) -> tuple[bytes, ...]:
        """``username``'s keys waiting for a decision, oldest first."""
        return self._require()[1].pending_keys(username)

    def key_to_trust(self, username: str, typed_fingerprint: str | None = None) -> bytes:
        """The key ``/trust USER [FINGERPRINT]`` names (see
        :meth:`crypto.pinning.PinStore.key_to_trust`)."""
        return self._require()[1].key_to_trust(username, typed_fingerprint)

    def key_to_verify(self, username: str, typed_fingerprint: str | None = None) -> bytes:
        """The key ``/verify USER [FINGERPRINT]`` names (see
        :meth:`crypto.pinning.PinStore.key_to_verify`)."""
        listed = self._listed(validate_username(username))
        return self._require()[1].key_to_verify(username, typed_fingerprint, listed)

    async def trust(self, username: str, key: bytes) -> None:
        """Accept ``key``, the exact key the user was shown, as ``username``'s; reconnect.
        ``KeyNotPendingError`` (nothing changed) if it is no longer waiting for a decision."""
        driver, trust = self._require()
        await trust.trust(username, key)
        driver.apply(driver.core.trust_restored(validate_username(username)))

    async def verify(self, username: str, key: bytes) -> None:
        """Safety numbers were compared for exactly ``key``: the pinned key is marked
        verified; an undecided key is accepted and marked verified. A verified contact
        may now get our address over a relayed channel (``--direct-private verified``)."""
        driver, trust = self._require()
        username = validate_username(username)
        if await trust.verify(username, key):
            driver.apply(driver.core.trust_restored(username))
        driver.offer_endpoint(username)

    async def reject(self, username: str) -> tuple[bytes, ...]:
        """Keep the pinned key, refuse every undecided one (returned), and reconnect."""
        driver, trust = self._require()
        refused = await trust.reject(username)
        driver.apply(driver.core.trust_restored(validate_username(username)))
        return refused

    async def forget(self, username: str) -> None:
        """Remove ``username`` from the contacts (``/forget``): their pinned key, its
        verified mark and every undecided or refused key are dropped, and an open channel
        to them counts as a stranger's again (a room-mate's key is pinned again at once,
        as sharing a room makes a contact). ``UnknownContactError`` if none is pinned."""
        driver, trust = self._require()
        username = validate_username(username)
        await trust.forget(username)
        driver.apply(driver.core.contact_forgotten(username, driver.now()))

    # ------------------------------------------------------------------ sending

    async def send_room(self, room: str, text: str, *, wait: bool = False) -> SentMessage:
        """Send ``text`` to ``room`` (one of :attr:`rooms`: ``NotInRoomError`` otherwise);
        it goes to that room's present members only. Each recipient's receipt arrives later as
        ``MessageDelivered`` or ``MessageFailed`` for the returned ``msg_id``.

        ``wait``: first wait (:meth:`wait_for_room`) until every member's backlog has room,
        so the message is queued for all rather than failing ``backlog_full`` for some; a
        script sending faster than its recipients acknowledge is slowed down to their
        pace. Without it a full backlog fails at once (an interactive user sees it)."""
        where = ConversationId(validate_room_name(room), None)
        return await self._send_to(where, validate_text(text), wait=wait, message=True)

    async def _send_room(self, room: str, text: Body, *, wait: bool) -> SentMessage:
        driver, trust = self._require()
        state = driver.core.rooms.get(room)
        if wait and state is not None:
            await driver.wait_for_room(sorted(state.listed_others()))
        core = driver.core
        state = core.rooms.get(room)
        if state is None:
            raise NotInRoomError(f"you are not in {room}: join it first (or write privately)")
        blocked = trust.blocked(sorted(state.others()))
        sent, step = core.send_room(room, text, time.time(), driver.now(), blocked)
        driver.apply(step)
        await self._drain(sent.recipients)
        return sent

    async def send_private(self, username: str, text: str, *, wait: bool = False) -> SentMessage:
        """Send ``text`` to ``username`` alone, opening a channel first if needed.

        ``wait``: as for :meth:`send_room`, wait for room in their backlog first."""
        where = ConversationId(None, validate_username(username))
        return await self._send_to(where, validate_text(text), wait=wait, message=True)

    async def _send_private(self, username: str, text: Body, *, wait: bool) -> SentMessage:
        driver, trust = self._require()
        if username == driver.core.me:
            raise ValidationError("you cannot send a private message to yourself")
        trust.require_sendable(username)
        if driver.core.channel_of(username) is None:
            await driver.open_channel(username, self.config.handshake_timeout * 2)
        if wait:
            await driver.wait_for_room([username])
        sent, step = driver.core.send_private(username, text, time.time(), driver.now())
        driver.apply(step)
        await self._drain([username])
        return sent

    # ------------------------------------------------------------------ conversation

    def _conversation(self, room: str | None, user: str | None) -> ConversationId:
        """The conversation named by ``user`` (private) or ``room`` (default: ours)."""
        if user is not None:
            return ConversationId(None, validate_username(user))
        if room is None and self.room is None:
            raise NotInRoomError("join a room first (or name a user)")
        return ConversationId(self.room if room is None else validate_room_name(room), None)

    async def _send_to(
        self, where: ConversationId, body: Body, *, wait: bool, message: bool = False
    ) -> SentMessage:
        """Send ``body`` in ``where``; ``message``: it is a message (a reply, a ``/me``),
        which :meth:`locate` will find by its id."""
        driver, _ = self._require()
        if where.peer is not None:
            sent = await self._send_private(where.peer, body, wait=wait)
        elif where.room is None:
            raise NotInRoomError("join a room first (or name a user)")
        else:
            sent = await self._send_room(where.room, body, wait=wait)
        if message:
            driver.core.conversation.remember(where, ev.MessageRef(driver.core.me, sent.msg_id))
        return sent

    def locate(self, msg_id: str) -> Located:
        """A recent message (received or sent this session) by its id: its conversation
        and author. :class:`ValidationError` if none is remembered."""
        return self._require()[0].core.conversation.locate(msg_id)

    async def reply(self, msg_id: str, text: str, *, wait: bool = False) -> SentMessage:
        """A message quoting the recent message ``msg_id``, in that message's conversation."""
        located, body = self.locate(msg_id), validate_text(text)
        compose = sending.message(body, reply_to=located.ref)
        return await self._send_to(located.conversation, compose, wait=wait, message=True)

    async def send_me(
        self, text: str, *, room: str | None = None, user: str | None = None, wait: bool = False
    ) -> SentMessage:
        """An action (``/me waves``) to ``user``, or to ``room`` (default: ours)."""
        where, compose = (
            self._conversation(room, user),
            sending.message(validate_text(text), me=True),
        )
        return await self._send_to(where, compose, wait=wait, message=True)

    async def react(
        self, msg_id: str, emoji: str, *, on: bool = True, wait: bool = False
    ) -> SentMessage:
        """Put (``on``) or take back ``emoji`` on the recent message ``msg_id``. At most
        8 distinct emoji of ours per message (:class:`ValidationError` beyond)."""
        conversations, located = self._conversations(), self.locate(msg_id)
        compose = sending.reaction(conversations, located, validate_emoji(emoji), on)
        return await self._send_to(located.conversation, compose, wait=wait)

    async def edit(self, msg_id: str, text: str, *, wait: bool = False) -> SentMessage:
        """Replace the text of our own recent message ``msg_id`` (at most 20 times)."""
        located = sending.own_message(self._conversations(), msg_id)
        compose = sending.edit(self._conversations(), located, validate_text(text))
        return await self._send_to(located.conversation, compose, wait=wait)

    async def delete(self, msg_id: str, *, wait: bool = False) -> SentMessage:
        """Ask every recipient to show our recent message ``msg_id`` as deleted. Their
        clients choose to honour it: nothing can make a hostile one forget the text."""
        located = sending.own_message(self._conversations(), msg_id)
        compose = sending.deletion(self._conversations(), located)
        return await self._send_to(located.conversation, compose, wait=wait)

    def _conversations(self) -> Conversations:
        return self._require()[0].core.conversation

    def typing(self, active: bool, *, room: str | None = None, user: str | None = None) -> bool:
        """Say we are typing (``active``) or stopped, in the conversation with ``user`` or in
        ``room`` (default: ours), if the rules allow now (one start per 3 s, a stop only
        after a start, the ``typing_indicators`` switch on); returns whether it was sent."""
        return self._signals.typing(self._require()[0], self._conversation(room, user), active)

    def mark_read(self, msg_id: str) -> bool:
        """We have read the conversation of the recent message ``msg_id`` up to it: a read
        marker goes now (returns True), or (one per 2 s per conversation) the latest one a
        little later; nothing with the ``read_receipts`` switch off."""
        return self._signals.mark_read(self._require()[0], self.locate(msg_id))

    async def wait_for_room(self, usernames: Iterable[str]) -> None:
        """Wait until one more message to each of ``usernames`` would be queued, not
        failed ``backlog_full`` (``CoreSettings.max_pending`` messages per recipient await
        a receipt at most). Bounded by the delivery timeout: an entry leaves the backlog by
        its receipt or by failing."""
        await self._require()[0].wait_for_room(usernames)

    async def wait_channels(self, usernames: list[str] | None = None) -> None:
        """Wait until channels to ``usernames`` (default: every room member) are open.

        Waits forever (a refused dial does not end it): wrap it in ``asyncio.wait_for``.
        """
        driver, _ = self._require()
        for name in self.members if usernames is None else usernames:
            while name != driver.core.me and driver.core.channel_of(name) is None:
                with contextlib.suppress(P2PChatError):
                    await driver.wait_channel(name)

    async def _drain(self, users: Iterable[str]) -> None:
        """Back-pressure: wait (at most ``write_timeout``) while the channels just
        written to are over their mark."""
        await self._require()[0].drain(users)

    # ------------------------------------------------------------------ the tracker session

    def pushed(self, push: TrackerPush) -> None:
        if self._driver is not None and not self._closing:
            self._driver.pushed(push)

    def lost(self, detail: str) -> None:
        if not self._closing:
            self._emit(ev.ConnectionLost(detail))

    async def restored(self) -> None:
        """Logged in again after an outage: back in our rooms (a durable tracker's reply
        lists them), or join the room we were in again (an older tracker)."""
        login = self._session.login_reply
        self._relay_offered(login is not None and login.relay)
        room, relay_only = self.room, self.room_relay_only
        if self.durable_rooms:
            self._restore_rooms()
        elif room is not None:
            self._require()[0].joining(room)
            try:
                reply = await self._session.join_room(room, relay_only)
            except P2PChatError as exc:
                if exc.code not in _REJOIN_REFUSALS:
                    raise
                driver, _ = self._require()
                deleted = exc.code is ErrorCode.ROOM_NOT_FOUND
                driver.apply(driver.core.room_closed(room, deleted=deleted))
                if exc.code is not ErrorCode.ROOM_NOT_FOUND:
                    why = _REJOIN_REFUSALS[exc.code]
                    self._emit(ev.ErrorEvent(str(exc.code), f"could not rejoin {room}: {why}"))
            else:
                driver = self._require()[0]
                driver.room_entered(reply.room, reply.members, relay_only=relay_only)
        self._emit(ev.Reconnected())

    def failed(self, error: P2PChatError) -> None:
        self._emit(ev.ErrorEvent(str(error.code), error.message))
