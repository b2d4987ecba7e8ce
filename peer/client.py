"""ChatClient: the peer as a library (the terminal UI, batch mode, bots and tests use it).

A facade over parts that each do one job: :class:`peer.session.TrackerSession` (the
tracker: login, heartbeat, reconnect), :class:`peer.channels.ChannelShell` (dialling,
accepting, reading and writing end-to-end channels), :class:`peer.core.PeerCore` (every
rule about rooms, channels, receipts and liveness, without I/O) run by
:class:`peer.driver.CoreDriver`, and :class:`peer.trust.TrustGate` (pins and the send
gate). One :class:`peer.supervisor.TaskSupervisor` owns every background task.

Methods raise :class:`commons.errors.P2PChatError` subclasses; everything else the user
should know arrives as events from :meth:`ChatClient.events` (``peer/events.py``),
including a receipt or a failure for every message to every recipient.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable

from commons.errors import ErrorCode, P2PChatError, ValidationError
from commons.models import (
    PeerInfo,
    RoomInfo,
    validate_room_name,
    validate_username,
)
from crypto.history_seal import HistoryKeys, derive_history_keys
from crypto.identity import IdentityKey
from crypto.keystore import KdfParams
from crypto.pinning import TrustState
from peer import events as ev
from peer.actions import SentMessage
from peer.channels import ChannelShell
from peer.chat_protocol import validate_text
from peer.config import PeerConfig
from peer.core import PeerCore
from peer.credentials import LoginSecrets, load_identity, login_secrets
from peer.driver import CoreDriver
from peer.errors import (
    NotConnectedError,
    NotInRoomError,
    NotLoggedInError,
)
from peer.session import TrackerSession
from peer.supervisor import TaskSupervisor
from peer.tracker_messages import TrackerPush
from peer.trust import TrustGate

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
        self._events: asyncio.Queue[ev.Event | None] = asyncio.Queue()
        self._driver: CoreDriver | None = None
        self._trust: TrustGate | None = None
        self.listen_address: tuple[str, int] | None = None
        self.username: str | None = None
        self._identity: IdentityKey | None = None
        self._closing = False

    # ------------------------------------------------------------------ state

    @property
    def core(self) -> PeerCore | None:
        """The rules engine of the logged-in session (``None`` before login)."""
        return None if self._driver is None else self._driver.core

    @property
    def room(self) -> str | None:
        core = self.core
        return None if core is None or core.room is None else core.room.name

    @property
    def room_owner(self) -> str | None:
        core = self.core
        return None if core is None or core.room is None else core.room.owner

    @property
    def members(self) -> list[str]:
        """Current room members (this user included), minus those known to have gone."""
        return [] if self.core is None else self.core.members

    @property
    def connected_peers(self) -> list[str]:
        """Users with an open, accepted channel."""
        return [] if self.core is None else self.core.connected

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

    def _emit(self, event: ev.Event) -> None:
        self._events.put_nowait(event)

    async def events(self) -> AsyncIterator[ev.Event]:
        """Every event in order, until :meth:`close`; meant for a single consumer."""
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
        if self.listen_address is None:
            self.listen_address = await self._shell.listen(*self.config.listen)
        await self._session.connect()

    async def register(self, username: str, password: str) -> None:
        """Load or create the identity key (encrypted with ``password``), then REGISTER."""
        username = validate_username(username)
        if not password:
            raise ValidationError("the password cannot be empty")
        identity = await load_identity(self.config.home, username, password, self._kdf_params)
        secrets = await self._secrets(username, password)
        await self._session.register(username, secrets.secret, identity.public_b64)

    async def _secrets(self, username: str, password: str) -> LoginSecrets:
        salt = await self._session.salt(username)
        return await login_secrets(password, salt, self.config.min_login_kdf)

    async def login(self, username: str, password: str, replace_key: bool = False) -> None:
        """LOGIN with the identity key and the listening port; start the heartbeat."""
        username = validate_username(username)
        if self.username is not None:
            raise ValidationError(f"already logged in as {self.username}")
        if self.listen_address is None:
            raise NotConnectedError("call connect() first")
        identity = await load_identity(self.config.home, username, password, self._kdf_params)
        trust = await TrustGate.open(self.config.home, username, identity, self._emit)
        port = self.config.advertise_port or self.listen_address[1]
        try:
            secrets = await self._secrets(username, password)
            await self._session.login(
                username,
                secrets.secret,
                identity.public_b64,
                port,
                host=self.config.advertise_host,
                replace_key=replace_key,
                legacy=secrets.legacy,
            )
        except BaseException:
            trust.close()
            raise
        core = PeerCore(username, self.config.core)
        driver = CoreDriver(
            core, self._shell, trust, self._tasks, self._emit, self._refresh, self._clock
        )
        self.username, self._trust, self._driver = username, trust, driver
        self._identity = identity
        self._shell.bind(username, identity, driver)
        await trust.started()

    async def close(self) -> None:
        """Leave the room (leave notices), log out, close every channel and the listener."""
        if self._closing:
            return
        if self.room is not None and not self._session.replaced:
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
        self._events.put_nowait(None)

    # ------------------------------------------------------------------ tracker commands

    async def list_peers(self) -> list[PeerInfo]:
        """Online users, as the tracker lists them (refreshes the local directory)."""
        driver, _ = self._require()
        reply = await self._session.list_peers()
        driver.listed(reply.peers, complete=not reply.truncated)
        return reply.peers

    async def _refresh(self) -> object:
        return await self.list_peers()  # looked up at each call (tests count the calls)

    async def list_rooms(self) -> list[RoomInfo]:
        self._require()
        return await self._session.list_rooms()

    async def create_room(self, name: str) -> RoomInfo:
        """Create ``name``; the tracker makes the creator its owner and first member."""
        driver, _ = self._require()
        info = await self._session.create_room(validate_room_name(name))
        if driver.core.me in info.members:
            driver.room_entered(info, [])
        return info

    async def join_room(self, name: str) -> list[str]:
        """Join ``name`` and open channels to its members; returns the member names."""
        driver, _ = self._require()
        reply = await self._session.join_room(validate_room_name(name))
        driver.room_entered(reply.room, reply.members)
        return self.members

    async def leave_room(self) -> None:
        """Send a leave notice to every member, tell the tracker, close room-only channels."""
        driver, _ = self._require()
        room = driver.core.room
        if room is None:
            raise NotInRoomError("you are not in a room")
        driver.apply(driver.core.leave_notices())
        await self._drain(room.others())
        try:
            await self._session.leave_room()
        except P2PChatError as exc:
            if exc.code not in (ErrorCode.NOT_IN_ROOM, ErrorCode.NOT_CONNECTED, ErrorCode.TIMEOUT):
                raise
        finally:
            if driver.core.room is room:
                driver.apply(driver.core.room_closed(deleted=False))

    async def delete_room(self, name: str) -> None:
        """Delete ``name`` (owner only); members are told by the tracker."""
        driver, _ = self._require()
        name = validate_room_name(name)
        await self._session.delete_room(name)
        if self.room == name:
            driver.apply(driver.core.room_closed(deleted=True))

    # ------------------------------------------------------------------ sending

    async def send_room(self, text: str) -> SentMessage:
        """Send ``text`` to the current room. Each recipient's receipt arrives later as
        ``MessageDelivered`` or ``MessageFailed`` for the returned ``msg_id``."""
        driver, trust = self._require()
        text = validate_text(text)
        core = driver.core
        if core.room is None:
            raise NotInRoomError("join a room first (or use a private message)")
        blocked = trust.blocked(sorted(core.room.others()))
        sent, step = core.send_room(text, time.time(), driver.now(), blocked)
        driver.apply(step)
        await self._drain(sent.recipients)
        return sent

    async def send_private(self, username: str, text: str) -> SentMessage:
        """Send ``text`` to ``username`` alone, opening a channel first if needed."""
        driver, trust = self._require()
        username = validate_username(username)
        text = validate_text(text)
        if username == driver.core.me:
            raise ValidationError("you cannot send a private message to yourself")
        trust.require_sendable(username)
        if driver.core.channel_of(username) is None:
            await driver.open_channel(username, self.config.handshake_timeout * 2)
        sent, step = driver.core.send_private(username, text, time.time(), driver.now())
        driver.apply(step)
        await self._drain([username])
        return sent

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
        """Back-pressure: wait while the channels just written to are over their mark."""
        await self._require()[0].drain(users)

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

    def pending_keys(self, username: str) -> tuple[bytes, ...]:
        """``username``'s keys waiting for a decision, oldest first."""
        return self._require()[1].pending_keys(username)

    def key_to_trust(self, username: str, typed_fingerprint: str | None = None) -> bytes:
        """The key ``/trust USER [FINGERPRINT]`` names (see :meth:`PinStore.key_to_trust`)."""
        return self._require()[1].key_to_trust(username, typed_fingerprint)

    def key_to_verify(self, username: str, typed_fingerprint: str | None = None) -> bytes:
        """The key ``/verify USER [FINGERPRINT]`` names (see :meth:`PinStore.key_to_verify`)."""
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
        verified; an undecided key is accepted and marked verified."""
        driver, trust = self._require()
        if await trust.verify(username, key):
            driver.apply(driver.core.trust_restored(validate_username(username)))

    async def reject(self, username: str) -> tuple[bytes, ...]:
        """Keep the pinned key, refuse every undecided one (returned), and reconnect."""
        driver, trust = self._require()
        refused = await trust.reject(username)
        driver.apply(driver.core.trust_restored(validate_username(username)))
        return refused

    # ------------------------------------------------------------------ the tracker session

    def pushed(self, push: TrackerPush) -> None:
        if self._driver is not None and not self._closing:
            self._driver.pushed(push)

    def lost(self, detail: str) -> None:
        if not self._closing:
            self._emit(ev.ConnectionLost(detail))

    async def restored(self) -> None:
        """Logged in again after an outage: join the room we were in."""
        room = self.room
        if room is not None:
            try:
                reply = await self._session.join_room(room)
            except P2PChatError as exc:
                if exc.code not in _REJOIN_REFUSALS:
                    raise
                driver, _ = self._require()
                driver.apply(driver.core.room_closed(deleted=exc.code is ErrorCode.ROOM_NOT_FOUND))
                if exc.code is not ErrorCode.ROOM_NOT_FOUND:
                    why = _REJOIN_REFUSALS[exc.code]
                    self._emit(ev.ErrorEvent(str(exc.code), f"could not rejoin {room}: {why}"))
            else:
                self._require()[0].room_entered(reply.room, reply.members)
        self._emit(ev.Reconnected())

    def failed(self, error: P2PChatError) -> None:
        self._emit(ev.ErrorEvent(str(error.code), error.message))
