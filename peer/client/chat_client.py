"""ChatClient: the peer as a library (the terminal UI, batch mode, bots and tests use it).

A facade over parts that each do one job: :class:`peer.session.session.TrackerSession` (the
tracker: login, heartbeat, reconnect), :class:`peer.channels.shell.ChannelShell` (dialling,
accepting, reading and writing end-to-end channels), :class:`peer.core.peer_core.PeerCore` (every
rule about rooms, channels, receipts and liveness, without I/O) run by
:class:`peer.client.driver.CoreDriver`, and :class:`peer.client.trust_gate.TrustGate` (pins and the
send
gate). One :class:`peer.supervisor.TaskSupervisor` owns every background task. The
facade's methods are split by job: :mod:`peer.client.client_rooms` (directory, rooms and room
control), :mod:`peer.client.client_trust` (keys and trust), and here the session's life and
sending.

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
from collections.abc import Callable, Iterable

from commons.errors import ErrorCode, P2PChatError, ValidationError
from commons.models import validate_username
from crypto.keystore import KdfParams
from peer import events as ev
from peer.channels.shell import Endpoint
from peer.client.client_rooms import RoomCommands
from peer.client.client_trust import TrustCommands
from peer.client.driver import CoreDriver
from peer.client.trust_gate import TrustGate
from peer.config import PeerConfig
from peer.core.actions import SentMessage
from peer.core.frames import validate_text
from peer.core.peer_core import PeerCore
from peer.errors import NotConnectedError, NotInRoomError
from peer.session.credentials import (
    LoginSecrets,
    load_identity,
    login_secrets,
    open_login_memory,
    remember_login,
)
from peer.session.login_memory import MEMORY_FILE, LoginMemory, check_legacy_request
from peer.session.messages import TrackerPush

CLOSE_TIMEOUT = 3.0
#: Rejoin refusals after an outage that retrying will not fix: the room is dropped.
_REJOIN_REFUSALS = {
    ErrorCode.ROOM_NOT_FOUND: "deleted",
    ErrorCode.ROOM_FULL: "full",
    ErrorCode.BANNED: "banned by the owner",
    ErrorCode.NOT_INVITED: "invite-only",
}


class ChatClient(RoomCommands, TrustCommands):
    """One user's chat session."""

    def __init__(
        self,
        config: PeerConfig,
        *,
        kdf_params: KdfParams | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` dates directory listings (their age decides when to ask again)."""
        super().__init__(config, self, kdf_params=kdf_params, clock=clock)

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

    async def register(self, username: str, password: str) -> None:
        """Load or create the identity key (encrypted with ``password``), then REGISTER."""
        username = validate_username(username)
        if not password:
            raise ValidationError("the password cannot be empty")
        identity = await load_identity(self.config.home, username, password, self._kdf_params)
        memory = await open_login_memory(self.config.home)
        salt = await self._session.salt(username)
        secrets = await login_secrets(password, salt, self.config.min_login_kdf)
        await self._session.register(username, secrets.secret, identity.public_b64)
        await remember_login(self.config.home, memory, username, self._session.tracker_identity)

    async def _secrets(
        self, username: str, password: str, memory: LoginMemory, allow_legacy: bool
    ) -> LoginSecrets:
        """SALT, then the login secret; the old digest only if the tracker asks for it and
        neither the login memory nor the user's choice forbids it (else nothing is sent)."""
        salt = await self._session.salt(username)
        if salt.legacy:
            check_legacy_request(
                memory,
                username,
                self._session.tracker_identity,
                allowed=allow_legacy,
                memory_path=self.config.home / MEMORY_FILE,
            )
        floor = self.config.min_login_kdf
        return await login_secrets(password, salt, floor, send_legacy=True)

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
        identity = await load_identity(self.config.home, username, password, self._kdf_params)
        trust = await TrustGate.open(self.config.home, username, identity, self._emit)
        port = None
        if self.listen_address is not None:
            port = self.config.advertise_port or self.listen_address[1]
        try:
            memory = await open_login_memory(self.config.home)
            allow_legacy = allow_legacy_login or self.config.allow_legacy_login
            secrets = await self._secrets(username, password, memory, allow_legacy)
            reply = await self._session.login(
                username,
                secrets.secret,
                identity.public_b64,
                port,
                host=self.config.advertise_host,
                replace_key=replace_key,
                legacy=secrets.legacy,
            )
            await remember_login(self.config.home, memory, username, self._session.tracker_identity)
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
        self._relay_offered(reply.relay)
        await trust.started()

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
        self._events.end()

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
        """Logged in again after an outage: join the room we were in."""
        login = self._session.login_reply
        self._relay_offered(login is not None and login.relay)
        room = self.room
        if room is not None:
            self._require()[0].joining(room)
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
