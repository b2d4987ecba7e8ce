"""ChatClient: the peer as a library (the terminal UI, batch mode, bots and tests use it).

It holds one :class:`peer.tracker_link.TrackerLink` (TLS to the tracker), one
:class:`peer.p2p_listener.P2PListener` and one end-to-end channel per remote user
(:class:`peer.p2p_link.P2PLink` around :class:`crypto.channel.SecureChannel`).

Channel rules, so that each pair of users ends up with exactly one channel:

* Room members: when the tracker says two users share a room, the one whose name sorts
  first dials; the other dials too only if no channel appeared after
  :data:`FALLBACK_DIAL_DELAY` seconds. ``/msg`` dials whoever it needs.
* Identity: both sides run the whole identity policy (name, tracker-listed key, pin:
  :class:`crypto.authorization.Admission`) inside the handshake, before message 3 is
  sent (initiator) or accepted (responder); a listing older than
  :data:`peer.directory.MAX_LISTING_AGE` is refreshed from the tracker first. What the
  check learned (a first key to pin, a new key to put before the user) is written only
  once the channel is accepted or refused (:meth:`ChatClient._settle`).
* Acceptance: after the handshake the responder checks whether a channel already
  exists, then sends ``accept`` or ``reject``. The initiator sends nothing before
  ``accept``. On simultaneous dials the channel dialled by the smaller name wins on both
  sides (the responder rejects the other one as ``duplicate``).
* Trust decisions (:meth:`ChatClient.trust`, :meth:`ChatClient.verify`) name the exact
  key the user was shown; :meth:`ChatClient.reject` keeps the pinned key.
* A newer accepted channel replaces an older one to the same user (the remote restarted).

Messages sent before a channel is ready wait in a bounded per-user outbox. Each frame has
a ``msg_id`` from :class:`peer.chat_protocol.MessageIds`; every channel is written in
``msg_id`` order, and :class:`peer.chat_protocol.DeliveryFilter` drops duplicates, so each
message reaches the user at most once and in order per sender.

The tracker connection is watched: a loss is reported (``ConnectionLost``) and retried with
exponential backoff, logging in again with the cached password digest and re-joining the
room; the P2P channels stay up meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from commons.codec import JsonObject
from commons.errors import ErrorCode, P2PChatError, ProtocolError, ValidationError
from commons.models import (
    MemberInfo,
    PeerInfo,
    RoomInfo,
    decode_identity_key,
    validate_room_name,
    validate_username,
)
from commons.private_file import write_private_file
from commons.tracker_protocol import Command, Event
from crypto.authorization import Admission
from crypto.channel import SecureChannel
from crypto.errors import KeyChangedError, OutdatedPeerError
from crypto.fingerprint import fingerprint as key_fingerprint
from crypto.fingerprint import safety_number as compute_safety_number
from crypto.history_seal import HistoryKeys, derive_history_keys
from crypto.identity import IdentityKey
from crypto.keystore import KdfParams, load_or_create_identity
from crypto.pinning import PinStore, TrustState
from peer import events as ev
from peer.chat_protocol import (
    Accept,
    ChatMessage,
    DeliveryFilter,
    LeaveNotice,
    MessageIds,
    Reject,
    decode_frame,
    encode_frame,
    validate_text,
)
from peer.config import PeerConfig
from peer.directory import Directory
from peer.errors import (
    NotConnectedError,
    NotInRoomError,
    NotLoggedInError,
    RequestTimeoutError,
    TrackerUntrustedError,
    UserOfflineError,
)
from peer.p2p_link import LinkClosedError, P2PLink
from peer.p2p_listener import P2PListener
from peer.tracker_client_protocol import Push
from peer.tracker_link import TrackerLink

log = logging.getLogger(__name__)

PINS_FILE = "known_peers.json"
FALLBACK_DIAL_DELAY = 2.0
#: Waits before each new dial to a room member whose channel dropped (about a minute).
REDIAL_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
OUTBOX_LIMIT = 256
HELD_LIMIT = 32
DUPLICATE = "duplicate"

T = TypeVar("T")


def password_digest(password: str) -> str:
    """What the tracker protocol carries as ``password``: SHA-256 hex of the UTF-8 text."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


class ChannelRefusedError(P2PChatError):
    """The remote refused our channel (``code`` is the remote's reason code when known)."""

    code = ErrorCode.HANDSHAKE_FAILED


@dataclass(eq=False, slots=True)
class _Connection:
    username: str
    link: P2PLink
    initiator: bool
    private: bool = False
    quiet: bool = False
    task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _RoomState:
    name: str
    owner: str
    capacity: int
    members: dict[str, MemberInfo] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    detached: set[str] = field(default_factory=set)
    held: dict[str, list[ChatMessage]] = field(default_factory=dict)

    def known(self, username: str) -> bool:
        """Listed by the tracker, or dropped by it while our channel to them lives on."""
        return username in self.members or username in self.detached

    def present(self) -> set[str]:
        """Who is in the room as far as we can tell: known and not reported gone."""
        return (set(self.members) | self.detached) - self.gone


class ChatClient:
    """One user's chat session. Methods raise :class:`P2PChatError` subclasses."""

    def __init__(
        self,
        config: PeerConfig,
        *,
        kdf_params: KdfParams | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._clock = clock
        self._kdf_params = kdf_params
        self._tracker = TrackerLink(config, self._on_push, self._on_tracker_lost)
        self._listener = P2PListener(self._on_inbound)
        self._events: asyncio.Queue[ev.Event | None] = asyncio.Queue()
        self._pin_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2pchat-pins")
        self.listen_address: tuple[str, int] | None = None
        self.username: str | None = None
        self._digest: str | None = None
        self._identity: IdentityKey | None = None
        self._pins: PinStore | None = None
        self._pins_saved = 0
        self._room: _RoomState | None = None
        self._directory = Directory()
        self._refreshing: asyncio.Task[None] | None = None
        self._conns: dict[str, _Connection] = {}
        self._dialing: dict[str, asyncio.Task[None]] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._outbox: dict[str, deque[bytes]] = {}
        self._announced_keys: set[tuple[str, bytes]] = set()
        self._ids = MessageIds()
        self._delivery = DeliveryFilter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._replaced = False
        self._closing = False

    # ------------------------------------------------------------------ public state

    @property
    def room(self) -> str | None:
        return None if self._room is None else self._room.name

    @property
    def room_owner(self) -> str | None:
        return None if self._room is None else self._room.owner

    @property
    def members(self) -> list[str]:
        """Current room members (this user included), minus those known to have gone."""
        if self._room is None:
            return []
        return sorted(self._room.present())

    @property
    def connected_peers(self) -> list[str]:
        """Users with an open, accepted channel."""
        return sorted(self._conns)

    @property
    def tracker_connected(self) -> bool:
        return self._tracker.connected

    @property
    def tracker_fingerprint(self) -> str | None:
        """SHA-256 fingerprint of the tracker certificate seen on the last connection."""
        return self._tracker.fingerprint

    @property
    def tracker_pinned_now(self) -> bool:
        """True if the last connection pinned the tracker's certificate for the first time
        (trust on first use): the user should see the fingerprint that was pinned."""
        return self._tracker.pinned_now

    def history_keys(self, salt: bytes) -> HistoryKeys:
        """Keys of this user's local history (HKDF over the identity private key, which
        only the password unlocks); see :mod:`crypto.history_seal`."""
        username, identity, _ = self._require_login()
        return derive_history_keys(identity, username, salt)

    # ------------------------------------------------------------------ events

    def _emit(self, event: ev.Event) -> None:
        self._events.put_nowait(event)

    async def events(self) -> AsyncIterator[ev.Event]:
        """Every event in order, until :meth:`close`; meant for a single consumer."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, P2PChatError):
                log.error("background task failed", exc_info=exc)

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        """Start the P2P listener and open the verified TLS connection to the tracker."""
        if self.listen_address is None:
            self.listen_address = await self._listener.start(*self.config.listen)
        await self._tracker.connect()

    async def _load_identity(self, username: str, password: str) -> IdentityKey:
        loop = asyncio.get_running_loop()
        load = functools.partial(
            load_or_create_identity,
            self.config.home,
            username,
            password,
            kdf_params=self._kdf_params,
        )
        identity, _created = await loop.run_in_executor(None, load)
        return identity

    async def _pin_call(self, fn: Callable[..., T], *args: Any) -> T:
        """PinStore calls fsync: run them one at a time off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pin_executor, functools.partial(fn, *args))

    async def _ensure_tracker(self) -> None:
        """Connect again if the tracker closed an idle connection before any login (it
        drops unauthenticated connections after a few seconds): a user may take longer
        than that to type a password, a script to get to its /login."""
        if not self._tracker.connected and self.listen_address is not None:
            await self._tracker.connect()

    async def register(self, username: str, password: str) -> None:
        """Load or create the identity key (encrypted with ``password``), then REGISTER."""
        username = validate_username(username)
        if not password:
            raise ValidationError("the password cannot be empty")
        identity = await self._load_identity(username, password)
        await self._ensure_tracker()
        await self._tracker.request(
            Command.REGISTER,
            username=username,
            password=password_digest(password),
            identity_key=identity.public_b64,
        )

    async def login(self, username: str, password: str, replace_key: bool = False) -> None:
        """LOGIN with the identity key and the listening port; start the heartbeat."""
        username = validate_username(username)
        if self.username is not None:
            raise ValidationError(f"already logged in as {self.username}")
        if self.listen_address is None:
            raise NotConnectedError("call connect() first")
        identity = await self._load_identity(username, password)
        pins = await self._pin_call(
            PinStore.load, self.config.home / username / PINS_FILE, identity, username
        )
        digest = password_digest(password)
        await self._ensure_tracker()
        reply = await self._tracker.request(
            Command.LOGIN,
            username=username,
            password=digest,
            identity_key=identity.public_b64,
            port=self.config.advertise_port or self.listen_address[1],
            host=self.config.advertise_host,
            replace_key=True if replace_key else None,
        )
        self.username, self._digest, self._identity = username, digest, identity
        self._pins = pins
        self._pins_saved = pins.revision if pins.current_on_disk else -1
        await self._save_pins()  # a new or imported store is written at once, with its MAC
        if pins.imported_v1 is not None:
            self._emit(ev.PinsImported(pins.imported_v1))
        self._start_heartbeat(reply)

    def _start_heartbeat(self, reply: JsonObject) -> None:
        interval = reply.get("heartbeat_interval")
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            interval = 10.0
        self._tracker.start_heartbeat(float(interval))

    async def close(self) -> None:
        """Leave the room (leave notices), log out, close every channel and the listener."""
        if self._closing:
            return
        if self._room is not None:
            with contextlib.suppress(P2PChatError, OSError):
                await asyncio.wait_for(self.leave_room(), 3.0)
        self._closing = True
        if self.username is not None and self._tracker.connected and not self._replaced:
            with contextlib.suppress(P2PChatError, OSError, TimeoutError):
                await asyncio.wait_for(self._tracker.request(Command.LOGOUT), 3.0)
        await self._shutdown()

    def abort(self) -> None:
        """Drop every connection at once, as a crash would (tests use it); no notices."""
        self._closing = True
        self._tracker.abort()
        for conn in list(self._conns.values()):
            conn.link.abort()
        self._spawn(self._shutdown())

    async def _shutdown(self) -> None:
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        await self._tracker.close()
        for conn in list(self._conns.values()):
            conn.quiet = True
            conn.link.close()
        self._conns.clear()
        await self._listener.close()
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for waiters in self._waiters.values():
            for future in waiters:
                if not future.done():
                    future.set_exception(NotConnectedError("the client is closed"))
        self._pin_executor.shutdown(wait=False)
        self._events.put_nowait(None)

    # ------------------------------------------------------------------ tracker commands

    def _require_login(self) -> tuple[str, IdentityKey, PinStore]:
        if self.username is None or self._identity is None or self._pins is None:
            raise NotLoggedInError("log in first")
        return self.username, self._identity, self._pins

    def _remember(self, username: str, identity_key: str, host: str, port: int) -> None:
        key = decode_identity_key(identity_key)
        self._directory.remember(username, key, host, port, self._clock())

    async def list_peers(self) -> list[PeerInfo]:
        """Online users, as the tracker lists them (refreshes the local directory)."""
        self._require_login()
        reply = await self._tracker.request(Command.LIST_PEERS)
        raw = reply.get("peers")
        if not isinstance(raw, list):
            raise ProtocolError("LIST_PEERS reply without a 'peers' list")
        peers = [PeerInfo.from_wire(item) for item in raw]
        self._directory.replace_all(
            [(p.username, decode_identity_key(p.identity_key), p.host, p.port) for p in peers],
            self._clock(),
            complete=reply.get("truncated") is not True,
        )
        return peers

    async def list_rooms(self) -> list[RoomInfo]:
        self._require_login()
        reply = await self._tracker.request(Command.LIST_ROOMS)
        raw = reply.get("rooms")
        if not isinstance(raw, list):
            raise ProtocolError("LIST_ROOMS reply without a 'rooms' list")
        return [RoomInfo.from_wire(item) for item in raw]

    async def create_room(self, name: str) -> RoomInfo:
        """Create ``name``; the tracker makes the creator its owner and first member."""
        username, _, _ = self._require_login()
        name = validate_room_name(name)
        reply = await self._tracker.request(Command.CREATE_ROOM, room=name)
        info = RoomInfo.from_wire(reply.get("room"))
        if self._room is not None:
            self._clear_room(notify=False)
        if username in info.members:
            self._room = _RoomState(info.name, info.owner, info.capacity)
            self._room.members[username] = self._self_member()
        return info

    def _self_member(self) -> MemberInfo:
        """This user as a member entry (only its name and key are ever used)."""
        assert self.username is not None and self._identity is not None
        assert self.listen_address is not None
        host, port = self.listen_address
        return MemberInfo(self.username, host, port, self._identity.public_b64)

    async def join_room(self, name: str) -> list[str]:
        """Join ``name`` and open channels to its members; returns the member names."""
        self._require_login()
        name = validate_room_name(name)
        reply = await self._tracker.request(Command.JOIN_ROOM, room=name)
        self._enter_room(reply)
        return self.members

    def _enter_room(self, reply: JsonObject) -> None:
        info = RoomInfo.from_wire(reply.get("room"))
        raw_members = reply.get("members")
        if not isinstance(raw_members, list):
            raise ProtocolError("JOIN_ROOM reply without a 'members' list")
        members = [MemberInfo.from_wire(m) for m in raw_members]
        if self._room is not None and self._room.name != info.name:
            self._clear_room(notify=False)
        if self._room is None:
            self._room = _RoomState(info.name, info.owner, info.capacity)
            for member in members:
                self._remember(member.username, member.identity_key, member.host, member.port)
            self._room.members = {m.username: m for m in members}
            self._ensure_room_channels()
        else:
            self._apply_members(info.name, info.owner, members)

    async def leave_room(self) -> None:
        """Send a leave notice to every member, tell the tracker, close room-only channels."""
        username, _, _ = self._require_login()
        room = self._room
        if room is None:
            raise NotInRoomError("you are not in a room")
        body = encode_frame(LeaveNotice(room.name, username))
        conns = [self._conns[u] for u in room.present() if u in self._conns]
        for conn in conns:
            with contextlib.suppress(P2PChatError):
                conn.link.send_nowait(body)
        await self._drain(conns)
        try:
            await self._tracker.request(Command.LEAVE_ROOM)
        except (NotConnectedError, RequestTimeoutError):
            pass
        except P2PChatError as exc:
            if exc.code is not ErrorCode.NOT_IN_ROOM:
                raise
        finally:
            if self._room is room:
                self._clear_room(notify=False)

    async def delete_room(self, name: str) -> None:
        """Delete ``name`` (owner only); members are told by the tracker."""
        self._require_login()
        name = validate_room_name(name)
        await self._tracker.request(Command.DELETE_ROOM, room=name)
        if self._room is not None and self._room.name == name:
            self._clear_room(notify=True)

    # ------------------------------------------------------------------ sending

    async def send_room(self, text: str) -> str:
        """Send ``text`` to every member of the current room; returns the ``msg_id``."""
        username, _, pins = self._require_login()
        text = validate_text(text)
        room = self._room
        if room is None:
            raise NotInRoomError("join a room first (or use a private message)")
        msg_id = self._ids.next_id()
        body = encode_frame(ChatMessage(room.name, username, text, time.time(), msg_id))
        sent: list[_Connection] = []
        for member in sorted(room.present()):
            if member == username:
                continue
            if not pins.may_send(member):
                self._emit(
                    ev.ErrorEvent(
                        str(ErrorCode.KEY_CHANGED),
                        f"not sent to {member}: their key changed; /trust {member} to accept it",
                    )
                )
                continue
            conn = self._conns.get(member)
            if conn is not None and not conn.link.closed:
                with contextlib.suppress(P2PChatError):
                    conn.link.send_nowait(body)
                    sent.append(conn)
            else:
                self._queue(member, body)
                if username < member and member not in self._dialing:
                    self._dial(member)
        await self._drain(sent)
        return msg_id

    async def send_private(self, username: str, text: str) -> str:
        """Send ``text`` to ``username`` alone, opening a channel if needed; returns msg_id."""
        me, _, pins = self._require_login()
        username = validate_username(username)
        text = validate_text(text)
        if username == me:
            raise ValidationError("you cannot send a private message to yourself")
        if not pins.may_send(username):
            raise KeyChangedError(
                f"the key of {username} changed; compare safety numbers and /trust {username}"
            )
        conn = self._conns.get(username)
        if conn is None:
            conn = await self._open_channel(username)
        conn.private = True
        msg_id = self._ids.next_id()
        conn.link.send_nowait(encode_frame(ChatMessage(None, me, text, time.time(), msg_id)))
        await self._drain([conn])
        return msg_id

    async def _open_channel(self, username: str) -> _Connection:
        """Dial ``username`` (or wait for a dial already under way) until a channel is up."""
        # A user who logged in again has a new port (and maybe a new key), and no push
        # tells us unless we share a room: ask the tracker before every new dial. With
        # the tracker down, the cached listing is all there is.
        try:
            await self.list_peers()
        except P2PChatError:
            if username not in self._directory:
                raise
        if username not in self._directory:
            raise UserOfflineError(f"{username} is not online")
        waiter = self._waiter(username)
        task = self._dialing.get(username) or self._dial(username)
        try:
            await asyncio.wait_for(asyncio.shield(task), self.config.handshake_timeout * 2)
        except ChannelRefusedError as exc:
            if exc.message != DUPLICATE:
                raise
        except TimeoutError:
            raise RequestTimeoutError(f"no channel to {username} in time") from None
        conn = self._conns.get(username)
        if conn is not None:
            return conn
        try:
            await asyncio.wait_for(waiter, self.config.handshake_timeout)
        except TimeoutError:
            raise RequestTimeoutError(f"no channel to {username} in time") from None
        conn = self._conns.get(username)
        if conn is None:
            raise ChannelRefusedError(f"the channel to {username} closed at once")
        return conn

    def _waiter(self, username: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(username, []).append(future)
        return future

    async def wait_channels(self, usernames: list[str] | None = None) -> None:
        """Wait until channels to ``usernames`` (default: every room member) are open.

        Waits forever: wrap it in ``asyncio.wait_for``.
        """
        me, _, _ = self._require_login()
        names = self.members if usernames is None else usernames
        for name in names:
            while name != me and name not in self._conns:
                with contextlib.suppress(ChannelRefusedError):
                    await self._waiter(name)

    def _queue(self, username: str, body: bytes) -> None:
        box = self._outbox.setdefault(username, deque())
        if len(box) >= OUTBOX_LIMIT:
            self._emit(
                ev.ErrorEvent(str(ErrorCode.BUSY), f"not sent to {username}: no channel yet")
            )
            return
        box.append(body)

    async def _drain(self, conns: list[_Connection]) -> None:
        """Wait while transport buffers are above their high-water mark (backpressure)."""
        for conn in conns:
            with contextlib.suppress(P2PChatError):
                await conn.link.drain()

    # ------------------------------------------------------------------ keys and trust

    def fingerprint(self, username: str | None = None, key: bytes | None = None) -> str:
        """Your key's fingerprint, or ``key``'s, or the one of the key to show for
        ``username`` (the newest undecided key, else the pinned one, else the listed one)."""
        me, identity, pins = self._require_login()
        if key is not None:
            return key_fingerprint(key)
        if username is None or username == me:
            return key_fingerprint(identity.public_bytes)
        return key_fingerprint(self._remote_key(username, pins))

    def safety_number(self, username: str, key: bytes | None = None) -> str:
        """The 60-digit number to compare with ``username`` out of band, for ``key``
        (default: the key :meth:`fingerprint` shows for them)."""
        me, identity, pins = self._require_login()
        remote = key if key is not None else self._remote_key(username, pins)
        return compute_safety_number(me, identity.public_bytes, username, remote)

    def _remote_key(self, username: str, pins: PinStore) -> bytes:
        username = validate_username(username)
        pending = pins.pending_keys(username)
        key = pending[-1] if pending else pins.pinned_key(username)
        if key is None:
            listing = self._directory.get(username)
            if listing is None:
                raise UserOfflineError(f"no key known for {username}: /peers first")
            key = listing.key
        return key

    def trust_state(self, username: str) -> TrustState | None:
        _, _, pins = self._require_login()
        return pins.state(username)

    def pinned_key(self, username: str) -> bytes | None:
        _, _, pins = self._require_login()
        return pins.pinned_key(username)

    def pending_keys(self, username: str) -> tuple[bytes, ...]:
        """``username``'s keys waiting for a decision, oldest first."""
        _, _, pins = self._require_login()
        return pins.pending_keys(username)

    def key_to_trust(self, username: str, typed_fingerprint: str | None = None) -> bytes:
        """The key ``/trust USER [FINGERPRINT]`` names (see :meth:`PinStore.key_to_trust`)."""
        _, _, pins = self._require_login()
        return pins.key_to_trust(validate_username(username), typed_fingerprint)

    def key_to_verify(self, username: str, typed_fingerprint: str | None = None) -> bytes:
        """The key ``/verify USER [FINGERPRINT]`` names (see :meth:`PinStore.key_to_verify`)."""
        _, _, pins = self._require_login()
        username = validate_username(username)
        listing = self._directory.get(username)
        listed = None if listing is None else listing.key
        return pins.key_to_verify(username, typed_fingerprint, listed)

    async def trust(self, username: str, key: bytes) -> None:
        """Accept ``key``, the exact key the user was shown, as ``username``'s; reconnect.

        :class:`KeyNotPendingError` (nothing changed) if ``key`` is not one of the keys
        waiting for a decision any more.
        """
        _, _, pins = self._require_login()
        username = validate_username(username)
        pins.accept(username, key)
        await self._save_pins()
        self._decided(username)

    async def verify(self, username: str, key: bytes) -> None:
        """Record that safety numbers were compared for exactly ``key``: the pinned key is
        marked verified; an undecided key is accepted and marked verified."""
        _, _, pins = self._require_login()
        username = validate_username(username)
        pins.verify(username, key)
        await self._save_pins()
        if pins.may_send(username):
            self._decided(username)

    async def reject(self, username: str) -> tuple[bytes, ...]:
        """Keep the pinned key, refuse every undecided one (returned), and reconnect."""
        _, _, pins = self._require_login()
        username = validate_username(username)
        refused = pins.reject(username)
        await self._save_pins()
        log.info("rejected %d new key(s) of %s", len(refused), username)
        self._decided(username)
        return refused

    def _decided(self, username: str) -> None:
        """A key change is settled: later ones are news again; dial a room member back."""
        self._announced_keys = {k for k in self._announced_keys if k[0] != username}
        room = self._room
        if (
            room is not None
            and username in room.members
            and username not in self._conns
            and username not in self._dialing
        ):
            room.gone.discard(username)
            self._dial(username)

    async def _save_pins(self) -> None:
        """Write the pin store if it changed; snapshots are taken here, on the event loop,
        and written in order by the single pin thread."""
        pins = self._pins
        if pins is None or pins.revision == self._pins_saved:
            return
        self._pins_saved = pins.revision
        await self._pin_call(write_private_file, pins.path, pins.dump())

    def _announce_key_change(self, username: str, key: bytes) -> None:
        if (username, key) in self._announced_keys:
            return
        _, _, pins = self._require_login()
        self._announced_keys.add((username, key))
        self._outbox.pop(username, None)
        pending = tuple(key_fingerprint(k) for k in pins.pending_keys(username))
        self._emit(ev.KeyChanged(username, key_fingerprint(key), key, pending))

    async def _note_key(self, username: str, key: bytes) -> None:
        """The tracker lists, or a remote presented, ``key`` for ``username``: if it is a
        new one, put it before the user and drop the channel that relied on the old."""
        _, _, pins = self._require_login()
        if pins.pinned_key(username) is None:
            return  # a first key is pinned only with an accepted channel
        pins.observe(username, key)
        await self._save_pins()
        if pins.is_pending(username, key):
            self._announce_key_change(username, key)
            conn = self._conns.get(username)
            if conn is not None:
                conn.link.close()

    def _admission(self, expected: str | None) -> Admission:
        me, _, pins = self._require_login()

        def listed_key(username: str) -> bytes | None:
            listing = self._directory.fresh(username, self._clock())
            return None if listing is None else listing.key

        return Admission(pins, local_username=me, expected_username=expected, listed_key=listed_key)

    async def _refresh_listing(self, username: str, key: bytes) -> None:
        """Before authorizing ``username`` with ``key``: ask the tracker again if our
        listing of them is missing, too old, or lists another key (rate-limited; one
        request shared by concurrent handshakes). If the tracker cannot be asked, an old
        listing stays old and the check refuses."""
        task = self._refreshing
        if task is None or task.done():
            now = self._clock()
            if not self._directory.should_refresh(username, now, key):
                return
            self._directory.refresh_started(now)
            task = self._refreshing = self._spawn(self._refresh_directory())
        await asyncio.shield(task)

    async def _refresh_directory(self) -> None:
        with contextlib.suppress(P2PChatError):
            await self.list_peers()

    async def _settle(self, admission: Admission, *, accepted: bool) -> bool:
        """Record what a channel's identity check learned, now that the channel is
        accepted or refused. ``False``: an accepted channel must be dropped after all
        (another channel pinned a different first key meanwhile)."""
        decision = admission.decision
        if decision is None:
            return accepted
        _, _, pins = self._require_login()
        if accepted and decision.pin_first:
            state = pins.observe(decision.username, decision.key)
            await self._save_pins()
            if state is TrustState.KEY_CHANGED:
                self._announce_key_change(decision.username, decision.key)
                return False
        if decision.new_key is not None:
            await self._note_key(decision.username, decision.new_key)
        return accepted

    # ------------------------------------------------------------------ channels: dialling

    def _dial(self, username: str, *, quiet: bool = False) -> asyncio.Task[None]:
        """Dial ``username`` in the background. ``quiet`` (a retry the user did not ask
        for) only logs an unreachable or silent peer; a refused channel or a wrong key is
        always reported."""
        task: asyncio.Task[None] = self._spawn(self._dial_and_adopt(username, quiet=quiet))
        self._dialing[username] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._dialing.get(username) is t:
                del self._dialing[username]

        task.add_done_callback(done)
        return task

    async def _dial_and_adopt(self, username: str, *, quiet: bool = False) -> None:
        me, identity, _ = self._require_login()
        listing = self._directory.get(username)
        if listing is None:
            raise UserOfflineError(f"{username} is not online")
        admission = self._admission(expected=username)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(listing.host, listing.port),
                self.config.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            self._dial_failed(
                username, f"cannot reach {username}: {exc.__class__.__name__}", quiet=quiet
            )
            raise ChannelRefusedError(f"cannot reach {username}") from None
        channel = SecureChannel(
            initiator=True,
            identity=identity,
            username=me,
            authorize=admission.authorize,
            defer_authorize=True,
        )
        link = P2PLink(reader, writer, channel)
        try:
            await asyncio.wait_for(
                link.handshake(True, self._refresh_listing), self.config.handshake_timeout
            )
            answer = decode_frame(
                await asyncio.wait_for(link.receive(), self.config.handshake_timeout), username
            )
        except TimeoutError:
            link.close()
            self._dial_failed(username, f"{username} did not complete the handshake", quiet=quiet)
            raise RequestTimeoutError(f"{username} did not complete the handshake") from None
        except LinkClosedError as exc:
            handshake_done = channel.established
            link.close()
            if not handshake_done:
                self._dial_failed(username, exc.message)
                raise
            reason = f"{username} closed the channel without accepting it (they may not"
            reason += " accept your key yet)"
            self._dial_failed(username, reason)
            raise ChannelRefusedError(reason) from None
        except P2PChatError as exc:
            link.close()
            await self._settle(admission, accepted=False)
            self._dial_failed(username, exc.message)
            raise
        except BaseException:
            link.close()
            raise
        if isinstance(answer, Reject):
            link.close()
            if answer.code != DUPLICATE:
                self._dial_failed(username, f"{username} refused the channel: {answer.reason}")
            raise ChannelRefusedError(answer.reason if answer.code != DUPLICATE else DUPLICATE)
        if not isinstance(answer, Accept):
            link.close()
            raise ProtocolError(f"{username} sent a message before accepting the channel")
        if not await self._settle(admission, accepted=True):
            link.close()
            raise KeyChangedError(f"the key of {username} changed while connecting")
        self._adopt(username, link, initiator=True)

    def _dial_failed(self, username: str, reason: str, *, quiet: bool = False) -> None:
        """A dial failed for good: report it and wake anyone waiting for that channel."""
        log.info("channel to %s failed: %r", username, reason)  # %r: remote-chosen text
        if not quiet:
            self._emit(ev.ErrorEvent(str(ErrorCode.HANDSHAKE_FAILED), reason))
        for future in self._waiters.pop(username, []):
            if not future.done():
                future.set_exception(ChannelRefusedError(reason))
                future.exception()  # mark retrieved: a waiter may have timed out already

    # ------------------------------------------------------------------ channels: inbound

    async def _on_inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing or self.username is None or self._identity is None:
            writer.close()
            return
        admission = self._admission(expected=None)
        channel = SecureChannel(
            initiator=False,
            identity=self._identity,
            username=self.username,
            authorize=admission.authorize,
            defer_authorize=True,
        )
        link = P2PLink(reader, writer, channel)
        try:
            await asyncio.wait_for(
                self._accept_inbound(link, admission), self.config.handshake_timeout
            )
        except TimeoutError:
            link.close()
        except OutdatedPeerError as exc:
            log.info("inbound channel refused: %s", exc.message)  # our own text, names versions
            link.close()
        except P2PChatError as exc:
            log.info("inbound channel refused: %s", exc.code)
            link.close()
            decision = admission.decision
            if decision is not None and decision.error is not None:
                name = decision.username
                self._emit(
                    ev.ErrorEvent(str(exc.code), f"refused a channel claiming to be {name}: {exc}")
                )
                await self._settle(admission, accepted=False)
        except BaseException:
            link.close()
            raise

    async def _accept_inbound(self, link: P2PLink, admission: Admission) -> None:
        """Handshake (the identity check runs inside it), then accept unless duplicate."""
        await link.handshake(False, self._refresh_listing)
        name = link.channel.remote_username
        assert name is not None
        if self._is_duplicate(name):
            await self._reject(link, DUPLICATE, "a channel between us is already being set up")
            return
        link.send_nowait(encode_frame(Accept()))
        if await self._settle(admission, accepted=True):
            self._adopt(name, link, initiator=False)
        else:
            link.close()

    async def _reject(self, link: P2PLink, code: str, reason: str) -> None:
        with contextlib.suppress(P2PChatError):
            await link.send(encode_frame(Reject(code, reason[:200])))
        link.close()
        await link.wait_closed()

    def _is_duplicate(self, name: str) -> bool:
        """Simultaneous dials: the channel dialled by the smaller name wins on both sides."""
        assert self.username is not None
        if self.username > name:
            return False
        existing = self._conns.get(name)
        return name in self._dialing or (existing is not None and existing.initiator)

    # ------------------------------------------------------------------ channels: open

    def _adopt(self, username: str, link: P2PLink, *, initiator: bool) -> None:
        """Make ``link`` the channel to ``username``: start reading, flush the outbox."""
        if self._closing:
            link.close()
            return
        old = self._conns.get(username)
        conn = _Connection(username, link, initiator, private=old.private if old else False)
        self._conns[username] = conn
        if old is not None:
            old.quiet = True
            old.link.close()
        conn.task = self._spawn(self._read_loop(conn))
        room = self._room
        if room is not None and username in room.gone and username in room.members:
            room.gone.discard(username)
            self._emit(ev.MemberJoined(room.name, username))
        self._emit(ev.ChannelOpened(username))
        box = self._outbox.pop(username, None)
        if box:
            with contextlib.suppress(P2PChatError):
                for body in box:
                    link.send_nowait(body)
        for future in self._waiters.pop(username, []):
            if not future.done():
                future.set_result(None)

    async def _read_loop(self, conn: _Connection) -> None:
        reason = "closed"
        try:
            while True:
                frame = decode_frame(await conn.link.receive(), conn.username)
                if isinstance(frame, Accept | Reject):
                    raise ProtocolError("control frame on an open channel")
                self._handle_frame(conn, frame)
        except LinkClosedError as exc:
            reason = exc.message
        except P2PChatError as exc:
            reason = f"{exc.message} ({exc.code})"
        except Exception as exc:
            # A bug must not leave a member listed with a dead channel: report it closed.
            log.error("channel to %s failed unexpectedly: %s", conn.username, type(exc).__name__)
            reason = f"internal error ({type(exc).__name__})"
        finally:
            conn.link.close()
            if self._conns.get(conn.username) is conn:
                del self._conns[conn.username]
        if conn.quiet or self._closing:
            return
        self._emit(ev.ChannelClosed(conn.username, reason))
        room = self._room
        if room is not None and conn.username in room.present():
            room.gone.add(conn.username)
            room.detached.discard(conn.username)
            self._emit(ev.MemberLeft(room.name, conn.username, "connection_lost"))
            self._spawn(self._redial_lost(room.name, conn.username))

    def _handle_frame(self, conn: _Connection, frame: ChatMessage | LeaveNotice) -> None:
        room = self._room
        if isinstance(frame, LeaveNotice):
            if room is not None and frame.room == room.name and room.known(frame.sender):
                room.detached.discard(frame.sender)
                if frame.sender not in room.gone:
                    room.gone.add(frame.sender)
                    self._emit(ev.MemberLeft(room.name, frame.sender, "left"))
                room.held.pop(frame.sender, None)
            return
        if frame.room is None:
            conn.private = True
            self._deliver(frame)
            return
        if room is None or frame.room != room.name:
            return
        if frame.sender in room.present():
            self._deliver(frame)
        elif frame.sender not in room.gone:
            held = room.held.setdefault(frame.sender, [])
            if len(held) < HELD_LIMIT:
                held.append(frame)

    def _deliver(self, frame: ChatMessage) -> None:
        if self._delivery.accept(frame.sender, frame.msg_id):
            self._emit(
                ev.MessageReceived(frame.room, frame.sender, frame.text, frame.ts, frame.msg_id)
            )

    # ------------------------------------------------------------------ room state

    def _apply_members(self, name: str, owner: str, members: list[MemberInfo]) -> None:
        room = self._room
        if room is None or room.name != name:
            return
        me = self.username
        for member in members:
            self._remember(member.username, member.identity_key, member.host, member.port)
        old = set(room.members)
        room.members = {m.username: m for m in members}
        room.owner = owner
        new = set(room.members)
        for username in sorted(new - old):
            if username == me:
                continue
            if username in room.detached:
                room.detached.discard(username)  # back from a tracker outage: not news
            else:
                room.gone.discard(username)
                self._emit(ev.MemberJoined(name, username))
        for username in sorted(old - new):
            if username == me:
                continue
            room.held.pop(username, None)
            if username in room.gone:
                room.gone.discard(username)
                self._close_room_only(username)
            elif username in self._conns:
                # The tracker lost them but our channel is alive (tracker restart, their
                # tracker link down): they stay until the channel closes or they leave.
                room.detached.add(username)
            else:
                self._emit(ev.MemberLeft(name, username, "left"))
                self._close_room_only(username)
        for sender in [s for s in room.held if s in room.members]:
            for frame in room.held.pop(sender):
                self._deliver(frame)
        self._ensure_room_channels()

    def _ensure_room_channels(self) -> None:
        room, me = self._room, self.username
        if room is None or me is None:
            return
        for username in sorted(room.members):
            if username == me or username in room.gone:
                continue
            if username in self._conns or username in self._dialing:
                continue
            if me < username:
                self._dial(username)
            else:
                self._spawn(self._fallback_dial(room.name, username))

    async def _fallback_dial(self, room_name: str, username: str) -> None:
        """The smaller name should dial us; dial ourselves if it has not after a while."""
        await asyncio.sleep(FALLBACK_DIAL_DELAY)
        room = self._room
        if (
            room is not None
            and room.name == room_name
            and username in room.members
            and username not in room.gone
            and username not in self._conns
            and username not in self._dialing
        ):
            self._dial(username)

    async def _redial_lost(self, room_name: str, username: str) -> None:
        """A member's channel dropped but nobody said they left: try to get it back.

        A peer that crashed soon drops off the tracker, and its ROOM_UPDATE (or the
        tracker's listing, asked before each attempt) ends the retries. One still there
        (a network blip, a connection cut by an attacker) is dialled again with backoff;
        the larger name waits longer, so the smaller one's dial usually wins. Success
        shows as the member joining again.
        """
        assert self.username is not None
        extra = 0.0 if self.username < username else FALLBACK_DIAL_DELAY
        for delay in REDIAL_DELAYS:
            await asyncio.sleep(delay + extra)
            if not self._still_lost(room_name, username):
                return
            try:
                online = await self.list_peers()
            except P2PChatError:
                online = None  # the tracker is unreachable; the peer may not be
            if online is not None and not any(
                p.username == username and p.room == room_name for p in online
            ):
                return
            if not self._still_lost(room_name, username):
                return
            task = self._dialing.get(username) or self._dial(username, quiet=True)
            await asyncio.wait([task])

    def _still_lost(self, room_name: str, username: str) -> bool:
        room = self._room
        return (
            not self._closing
            and room is not None
            and room.name == room_name
            and username in room.members
            and username in room.gone
            and username not in self._conns
        )

    def _close_room_only(self, username: str) -> None:
        conn = self._conns.get(username)
        if conn is not None and not conn.private:
            conn.quiet = True
            conn.link.close()
        self._outbox.pop(username, None)

    def _clear_room(self, *, notify: bool) -> None:
        room = self._room
        if room is None:
            return
        self._room = None
        for username in set(room.members) | room.detached:
            if username != self.username:
                self._close_room_only(username)
        if notify:
            self._emit(ev.RoomDeleted(room.name, room.owner))

    # ------------------------------------------------------------------ tracker pushes

    def _on_push(self, push: Push) -> None:
        try:
            self._handle_push(push)
        except P2PChatError as exc:
            log.warning("ignored an invalid %s push: %s", push.event, exc.code)

    def _handle_push(self, push: Push) -> None:
        body = push.body
        if push.event == Event.ROOM_UPDATE:
            raw = body.get("members")
            if not isinstance(raw, list):
                raise ValidationError("ROOM_UPDATE without a 'members' list")
            self._apply_members(
                validate_room_name(body.get("room")),
                validate_username(body.get("owner")),
                [MemberInfo.from_wire(m) for m in raw],
            )
        elif push.event == Event.ROOM_DELETED:
            name = validate_room_name(body.get("room"))
            if self._room is not None and self._room.name == name:
                self._clear_room(notify=True)
        elif push.event == Event.SESSION_REPLACED:
            self._replaced = True
            self._clear_room(notify=False)
            for conn in list(self._conns.values()):
                conn.quiet = True
                conn.link.close()
            self._emit(ev.SessionReplaced())
        elif push.event == Event.KEY_CHANGED:
            username = validate_username(body.get("username"))
            raw_key = body.get("identity_key")
            if not isinstance(raw_key, str):
                raise ValidationError("KEY_CHANGED without an identity_key")
            key = decode_identity_key(raw_key)
            self._directory.key_changed(username, key, self._clock())
            self._spawn(self._note_key(username, key))

    # ------------------------------------------------------------------ tracker loss

    def _on_tracker_lost(self, detail: str) -> None:
        if self._closing:
            return
        if self.username is None:
            # No session to lose: the tracker drops connections that stay unauthenticated
            # (its login timeout). register() and login() connect again.
            log.info("tracker connection closed before login: %s", detail)
            return
        self._emit(ev.ConnectionLost(detail))
        if self._replaced or self.username is None:
            return
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        delay = self.config.reconnect_initial_delay
        while not self._closing:
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))  # noqa: S311
            try:
                await self._tracker.connect()
                await self._relogin()
            except TrackerUntrustedError as exc:
                self._emit(ev.ErrorEvent(str(exc.code), exc.message))
                await self._tracker.close()
                return
            except P2PChatError as exc:
                log.info("reconnect failed: %s", exc.code)
                await self._tracker.close()
                delay = min(delay * 2, self.config.reconnect_max_delay)
                continue
            self._emit(ev.Reconnected())
            return

    async def _relogin(self) -> None:
        assert self.username is not None and self._identity is not None
        assert self.listen_address is not None and self._digest is not None
        reply = await self._tracker.request(
            Command.LOGIN,
            username=self.username,
            password=self._digest,
            identity_key=self._identity.public_b64,
            port=self.config.advertise_port or self.listen_address[1],
            host=self.config.advertise_host,
        )
        self._start_heartbeat(reply)
        room = self._room
        if room is None:
            return
        try:
            join = await self._tracker.request(Command.JOIN_ROOM, room=room.name)
        except P2PChatError as exc:
            if exc.code in (ErrorCode.ROOM_NOT_FOUND, ErrorCode.ROOM_FULL):
                self._clear_room(notify=exc.code is ErrorCode.ROOM_NOT_FOUND)
                if exc.code is ErrorCode.ROOM_FULL:
                    self._emit(ev.ErrorEvent(str(exc.code), f"could not rejoin {room.name}: full"))
                return
            raise
        self._enter_room(join)
