"""The asyncio shell of the tracker: TLS connections in, frames out.

Each connection is one :class:`TrackerConnection` (an ``asyncio.Protocol``) driving an
``ssl.SSLObject`` over memory BIOs. asyncio's own TLS transport keeps a 256 KiB read
buffer per connection; doing TLS here keeps a session to a few kilobytes and needs no
task per connection. Requests go through :class:`~tracker.request_decoder.RequestDecoder`
and :class:`~tracker.state.TrackerState`; only REGISTER/LOGIN (argon2, disk) and room
creation/deletion (disk) run as short tasks, during which the connection stops reading
so that its requests stay in order. One periodic sweep closes silent sessions and
connections that never logged in, and saves the throttle tables; there are no
per-session timers.

Connections come in through :class:`~tracker.listener.Listener` (our own accept loop,
bounded under descriptor exhaustion) and are admitted or refused per source by
:class:`~tracker.admission.Admission` before any TLS work. Everything a stranger can
trigger in bulk (refused connections, failed handshakes, accept errors) is counted in
:attr:`TrackerServer.counters` and logged at a bounded rate, never once per socket.

Nothing a client sends can make the tracker log a traceback or fail half-way through
delivering an outcome: :meth:`TrackerConnection.send` never raises (values that came
through :mod:`commons.codec` always encode; anything else is replaced or dropped and
reported on one rate-limited line), so the reply, the pushes to other sessions and the
closes of an :class:`~tracker.state.Outcome` are each carried out whatever happened to
the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import socket
import ssl
import struct
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from commons.codec import JsonObject, encode_message
from commons.errors import ErrorCode, FrameTooLargeError, P2PChatError
from commons.rate_limited_log import RateLimitedLog
from commons.relay_frames import RelayFrame
from commons.tracker_protocol import (
    Command,
    Event,
    Request,
    error,
    error_from,
    is_push,
    ok,
    parse_request_id,
    push,
)
from tracker.accounts import Accounts
from tracker.admission import MAX_REJECTING, Admission, Ticket, Verdict
from tracker.certificate import ensure_certificate
from tracker.config import TrackerConfig
from tracker.fd_limit import connection_cap, raise_open_file_limit
from tracker.keyed_records import KeyedRecords
from tracker.listener import Listener, bind_sockets
from tracker.password_hashing import PasswordHashing
from tracker.rate_limit import KeyedTokenBuckets
from tracker.registration import RegistrationPolicy
from tracker.relay import RelayStats
from tracker.request_decoder import Decoded, Rejected, RequestDecoder
from tracker.source import TrustedNetworks
from tracker.state import (
    GROUP_COMMANDS,
    Forward,
    Outcome,
    RoomSeed,
    SessionId,
    StateLimits,
    TrackerState,
)
from tracker.storage import Storage, open_storage
from tracker.throttle import LoginThrottle
from tracker.throttle_store import GROUP_SAVE_INTERVAL, SAVE_INTERVAL, ThrottleStore
from tracker.tls_context import server_context

if TYPE_CHECKING:
    from tracker.group import Group
    from tracker.group_relay import GroupRelay
    from tracker.replica import RemoteSession

log = logging.getLogger("tracker.server")

_READ_CHUNK = 16 * 1024
#: Connections the kernel may queue for accept() (capped by net.core.somaxconn): after a
#: restart every client reconnects within a second, and a full queue drops SYNs, which
#: clients retry only 1, 3, 7, 15... s later.
LISTEN_BACKLOG = 4096
_LINGER_RESET = struct.pack("ii", 1, 0)
_HANDSHAKING, _OPEN, _CLOSED = 0, 1, 2


class TrackerConnection(asyncio.Protocol):
    """One client connection: TLS record layer, framing, and request dispatch."""

    __slots__ = (
        "_backlog",
        "_busy",
        "_decoder",
        "_in",
        "_out",
        "_phase",
        "_rejecting",
        "_server",
        "_tls",
        "host",
        "opened",
        "session",
        "ticket",
        "transport",
    )

    def __init__(self, server: TrackerServer, ticket: Ticket, host: str) -> None:
        self._server = server
        self.ticket = ticket
        self.session: SessionId = next(server.session_ids)
        self.transport: asyncio.Transport | None = None
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = server.ssl_context.wrap_bio(self._in, self._out, server_side=True)
        self._decoder = RequestDecoder(server.config.max_frame_size)
        self._phase = _HANDSHAKING
        self._busy = False
        self._backlog: deque[Decoded] | None = None
        self._rejecting = ticket.verdict is not Verdict.ADMIT
        self.host = host
        self.opened = time.monotonic()

    # ------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._server.register_connection(self)
        if self._rejecting:
            # Not tracked by the sweep: bound its life so the cap cannot be dodged.
            asyncio.get_running_loop().call_later(self._server.config.auth_timeout, self.abort)

    def data_received(self, data: bytes) -> None:
        try:
            self._receive(data)
        except Exception as exc:
            self._server.problems.warning(
                "handler",
                "session %d: handler failed (%s); closing it",
                self.session,
                type(exc).__name__,
            )
            self.abort()

    def eof_received(self) -> bool | None:
        self.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = _CLOSED
        self._server.connection_gone(self)

    # ------------------------------------------------------------ TLS record layer

    def _receive(self, data: bytes) -> None:
        if self._phase == _CLOSED:
            return
        self._in.write(data)
        if self._phase == _HANDSHAKING:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except (ssl.SSLError, OSError) as exc:
                self._server.counters["tls_handshake_failed"] += 1
                self._server.problems.warning(
                    "tls_handshake",
                    "TLS handshake from %s failed: %s",
                    self.ticket.source,
                    exc.__class__.__name__,
                )
                self.abort()
                return
            self._phase = _OPEN
            self._flush()
            if self._rejecting:
                reason = self.ticket.reason or "the tracker is full"
                self.send(error(None, ErrorCode.TOO_MANY_CONNECTIONS, reason))
                self.close()
                return
        while self._phase == _OPEN:
            try:
                chunk = self._tls.read(_READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.close()
                return
            except ssl.SSLError:
                self.abort()
                return
            if not chunk:
                self.close()
                return
            for item in self._decoder.feed(chunk):
                if self._phase != _OPEN:
                    return  # dropped (e.g. it does not read): the rest is not worth doing
                if self._busy:
                    assert self._backlog is not None
                    self._backlog.append(item)
                else:
                    self._dispatch(item)
        self._flush()

    def _flush(self) -> None:
        pending = self._out.pending
        if pending and self.transport is not None and not self.transport.is_closing():
            self.transport.write(self._out.read(pending))

    def send(self, message: JsonObject) -> None:
        """Queue one frame to this client. Never raises; affects this connection only.

        A message that cannot be encoded (impossible for values that came through the
        codec; this is the second line) becomes an ``internal_error`` reply to the same
        id, or is dropped if it is a push. A client that stops reading is dropped.
        """
        if self._phase != _OPEN or self.transport is None:
            return
        try:
            frame = self._encode(message)
            if frame is None:
                return
            self._tls.write(frame)
            self._flush()
        except Exception as exc:
            self._server.problems.warning(
                "send", "session %d: send failed (%s); closing it", self.session, type(exc).__name__
            )
            self.abort()
            return
        if self.transport.get_write_buffer_size() > self._server.config.max_send_buffer:
            log.info("session %d does not read its replies; dropping it", self.session)
            self.abort()

    def _encode(self, message: JsonObject) -> bytes | None:
        try:
            return encode_message(message, self._server.config.max_frame_size)
        except FrameTooLargeError:
            reason = "reply too large"
        except (ValueError, TypeError):  # UnicodeEncodeError is a ValueError
            reason = "reply could not be encoded"
        self._server.problems.warning(reason, "session %d: %s", self.session, reason)
        if is_push(message):
            return None
        request_id = parse_request_id({"id": message.get("id")})
        return encode_message(error(request_id, ErrorCode.INTERNAL, reason))

    def close(self) -> None:
        """Send close_notify and close after the queued bytes are written."""
        if self._phase == _CLOSED:
            return
        if self._phase == _OPEN:
            with contextlib.suppress(ssl.SSLError, OSError):
                self._tls.unwrap()
            self._flush()
        self._phase = _CLOSED
        if self.transport is not None:
            self.transport.close()
        self._server.connection_gone(self)

    def abort(self) -> None:
        self._phase = _CLOSED
        if self.transport is not None:
            self.transport.abort()
        self._server.connection_gone(self)

    @property
    def closed(self) -> bool:
        return self._phase == _CLOSED

    @property
    def unsent(self) -> int:
        """Bytes queued for this client and not yet taken by its socket."""
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    # ------------------------------------------------------------ requests

    def _dispatch(self, item: Decoded) -> None:
        server = self._server
        if isinstance(item, Rejected):
            self.send(item.reply)
            if item.close:
                self.close()
            return
        state = server.state
        now = time.time()
        state.touch(self.session, now)
        if isinstance(item, RelayFrame):
            outcome = state.relay(self.session, item, now)
            if outcome.wait > 0:
                self._hold(outcome.wait, item)
            else:
                server.deliver_relay(self, outcome)
            return
        authenticated = state.is_authenticated(self.session)
        if item.cmd is Command.SALT:
            self._run_async(server.salt(self, item))
            return
        if not authenticated and item.cmd in _ACCOUNT_COMMANDS:
            self._run_async(_ACCOUNT_COMMANDS[item.cmd](server, self, item))
            return
        if authenticated and item.cmd is Command.LOGOUT:
            self._run_async(server.logout(self, item))
            return
        if authenticated and server.group is not None and item.cmd in GROUP_COMMANDS:
            self._run_async(server.group_command(self, item))
            return
        outcome = state.handle(self.session, item, now)
        if outcome.store:
            self._run_async(server.persist_then_deliver(self, outcome))
            return
        server.deliver(self, outcome)

    def _hold(self, wait: float, item: RelayFrame) -> None:
        """Shape: read nothing more from this client for ``wait`` s, then retry ``item``."""
        self._run_async(asyncio.sleep(wait))
        assert self._backlog is not None
        self._backlog.appendleft(item)

    def _run_async(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` while holding back this connection's further requests."""
        self._busy = True
        self._backlog = deque()
        if self.transport is not None:
            self.transport.pause_reading()
        self._server.spawn(self._finish_async(work))

    async def _finish_async(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        finally:
            self._busy = False
            backlog, self._backlog = self._backlog, None
            while backlog and not self.closed and not self._busy:
                self._dispatch(backlog.popleft())
            if self._busy and backlog:
                assert self._backlog is not None
                # After what the new work holds (a shaped RELAY frame), in order.
                self._backlog.extend(backlog)
            if not self.closed and not self._busy and self.transport is not None:
                self.transport.resume_reading()


class TrackerServer:
    """The tracker: ``await start()``, serve, ``await stop()``."""

    realm: str

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config.validated()
        self.session_ids = itertools.count(1)
        #: Problems a client can trigger are logged here: one line per kind per 10 s.
        self.problems = RateLimitedLog(log)
        #: What strangers did that was refused or failed, by kind (logs and tests).
        self.counters: Counter[str] = Counter()
        self.connections: dict[SessionId, TrackerConnection] = {}
        self._awaiting_login: dict[SessionId, TrackerConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: Listener | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.storage: Storage = open_storage(self.config)
        #: SALT requests per source (each is a database read a stranger can ask for).
        self._salts = KeyedTokenBuckets(KeyedRecords("salt_source"), 50, 10.0)
        self.state = TrackerState(
            self.config.room_capacity, self.config.heartbeat_interval, self.config.max_frame_size
        )
        self.admission = self._admission()
        self.ssl_context: ssl.SSLContext
        self.cert_path: Path
        self.cert_fingerprint = ""
        self.port = self.config.port
        self.accounts: Accounts
        self._hashing: PasswordHashing | None = None
        self._throttles: ThrottleStore | None = None
        #: With ``--database postgresql://``: this tracker's part in a group, and its
        #: end of the relay between the group's trackers.
        self.group: Group | None = None
        self.group_relay: GroupRelay | None = None

    def _admission(self) -> Admission:
        config = self.config
        return Admission(
            max_connections=config.max_connections,
            max_unauthenticated=config.max_unauthenticated,
            max_unauthenticated_per_source=config.max_unauthenticated_per_source,
            max_sessions_per_source=config.max_sessions_per_source,
            burst_per_source=config.connection_burst_per_source,
            per_source_per_second=config.connections_per_source_per_second,
            trusted=TrustedNetworks(config.trusted_networks),
        )

    # ------------------------------------------------------------ lifecycle

    def _fit_to_descriptors(self) -> None:
        """Raise the open-file limit; lower the connection caps if it cannot cover them."""
        config = self.config
        soft = raise_open_file_limit()
        cap = connection_cap(config.max_connections, soft, MAX_REJECTING)
        unauthenticated = min(config.max_unauthenticated, max(1, cap // 2))
        if cap < config.max_connections:
            # A cap lowered by a few percent (the default 20,000 under a 20,000-descriptor
            # limit) is not worth an operator's attention at every start.
            material = cap < config.max_connections * 0.95
            log.log(
                logging.WARNING if material else logging.DEBUG,
                "the open-file limit (%d) cannot carry --max-connections %d: serving at most"
                " %d connections (%d of them not logged in yet); raise the limit"
                " (ulimit -n, LimitNOFILE=) to serve more",
                soft,
                config.max_connections,
                cap,
                unauthenticated,
            )
        if cap != config.max_connections or unauthenticated != config.max_unauthenticated:
            self.config = config.with_changes(
                max_connections=cap, max_unauthenticated=unauthenticated
            )
            self.admission = self._admission()

    async def start(self) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        self._fit_to_descriptors()
        config = self.config
        cert = await loop.run_in_executor(
            None, ensure_certificate, config.data_dir, config.cert_file, config.key_file
        )
        self.cert_path = cert.cert_path
        self.cert_fingerprint = cert.fingerprint
        self.ssl_context = server_context(cert.cert_path, cert.key_path)
        await self.storage.open()
        settings = await self.storage.settings(config.realm or f"p2pchat-{secrets.token_hex(4)}")
        self.realm = settings.realm
        limits = StateLimits(
            rooms_per_owner=config.rooms_per_owner,
            max_rooms=config.max_rooms,
            max_bans=config.max_bans_per_room,
            max_invites=config.max_invites_per_room,
            changes_burst=config.room_changes_burst,
            changes_per_second=config.room_changes_per_second,
            pages_burst_per_source=config.pages_burst_per_source,
            pages_per_source_per_second=config.pages_per_source_per_second,
            relay=config.relay_limits(),
        )
        state_args = (config.room_capacity, config.heartbeat_interval, config.max_frame_size)
        if self.storage.kind == "postgresql":
            # Imported here: psycopg is the optional extra "postgresql".
            from tracker.group import Group, new_tracker_id
            from tracker.group_relay import GroupRelay
            from tracker.pg_storage import PgStorage
            from tracker.replica import ReplicaState

            assert isinstance(self.storage, PgStorage)
            replica = ReplicaState(new_tracker_id(), *state_args, limits=limits)
            self.state = replica
            self.group_relay = GroupRelay(
                self.storage,
                replica,
                self.connections,
                lambda outcome: self.deliver_relay(None, outcome),
                config.relay_receiver_buffer,
                self.problems,
            )
            self.group = Group(
                self.storage,
                replica,
                lambda outcome: self.deliver(None, outcome),
                config.lease_seconds,
                self.problems,
                self.group_relay,
            )
        else:
            rooms = await self.storage.all_rooms()
            seeds = [RoomSeed(r.name, r.owner, r.invite_only, r.banned, r.invited) for r in rooms]
            self.state = TrackerState(*state_args, seeds, limits)
        self._hashing = await loop.run_in_executor(
            None,
            lambda: PasswordHashing(
                memory_kib=config.argon2_memory_kib,
                time_cost=config.argon2_time_cost,
                parallelism=config.argon2_parallelism,
                workers=config.hash_workers,
                wait_timeout=config.hash_wait_timeout,
            ),
        )
        throttle = LoginThrottle(
            source_failures=config.throttle_address_failures,
            pair_failures=config.throttle_account_failures,
            base_delay=config.throttle_base_delay,
            max_delay=config.throttle_max_delay,
            account_slowdown=config.account_slowdown_failures,
            account_failure_delay=config.account_failure_delay,
            account_half_life=config.account_failure_half_life,
        )
        registration = RegistrationPolicy(
            config.registration,
            config.registrations_per_source_per_hour,
            config.registrations_per_hour,
            TrustedNetworks(config.trusted_networks),
        )
        resume_failures = KeyedTokenBuckets(
            KeyedRecords("resume_source"),
            config.resume_failures_burst,
            config.resume_failures_per_second,
        )
        self._throttles = ThrottleStore(
            self.storage, [*throttle.tables, *registration.tables, resume_failures.records]
        )
        await self._throttles.load()
        self.accounts = Accounts(
            self.storage,
            self._hashing,
            throttle,
            registration,
            settings,
            config.login_kdf,
            ticket_lifetime=config.ticket_lifetime,
            resume_failures=resume_failures,
        )
        if self.group is not None:
            await self.group.start()
        self._listener = Listener(
            bind_sockets(config.host, config.port, backlog=LISTEN_BACKLOG),
            self._accepted,
            self.problems,
            lambda: self.admission.unauthenticated >= self.admission.max_unauthenticated,
        )
        self._listener.start()
        self.port = self._listener.port
        self._sweeper = asyncio.create_task(self._sweep())
        log.debug("tracker listening on %s:%d", config.host, self.port)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for conn in list(self.connections.values()):
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._hashing is not None:
            self._hashing.close()
        if self.group is not None:
            await self.group.stop()
        await self._save_throttles()
        await self.storage.close()

    @property
    def address(self) -> tuple[str, int]:
        return self.config.host, self.port

    # ------------------------------------------------------------ connections

    def _accepted(self, sock: socket.socket, host: str) -> None:
        """A socket was accepted: admit it, refuse it politely, or drop it at once."""
        ticket = self.admission.arrive(host)
        if ticket.verdict is Verdict.DROP:
            # A reset, not a FIN: no closing handshake or TIME_WAIT kept for a flood.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            sock.close()
            self.counters["dropped"] += 1
            self.problems.warning(
                "refused", "refusing connections (%s) from %s", ticket.reason, ticket.source
            )
            return
        if ticket.verdict is Verdict.REJECT:
            self.counters["rejected"] += 1
        protocol = TrackerConnection(self, ticket, host)
        self.spawn(self._attach(sock, protocol))

    async def _attach(self, sock: socket.socket, protocol: TrackerConnection) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: protocol, sock)
        except BaseException as exc:
            sock.close()
            if protocol.transport is None:
                self.admission.gone(protocol.ticket, was_session=False)
            if not isinstance(exc, Exception):
                raise
            self.counters["attach_failed"] += 1
            self.problems.warning("attach", "a connection failed at once: %s", type(exc).__name__)

    def register_connection(self, conn: TrackerConnection) -> None:
        """Track an admitted connection (refused ones are only bounded in time)."""
        if conn.ticket.verdict is Verdict.ADMIT:
            self.connections[conn.session] = conn
            self._awaiting_login[conn.session] = conn
        else:
            self.connections[conn.session] = conn

    def connection_gone(self, conn: TrackerConnection) -> None:
        """Idempotent clean-up: offline at once, room left, members told."""
        if self.connections.pop(conn.session, None) is None:
            return
        awaiting = self._awaiting_login.pop(conn.session, None) is not None
        self.admission.gone(conn.ticket, was_session=not awaiting)
        if self.group is None:
            self.deliver(None, self.state.disconnect(conn.session))
        elif conn.session in self.state.sessions:
            self.spawn(self._group_disconnect(conn.session))

    async def _group_disconnect(self, session: SessionId) -> None:
        try:
            outcome = await self._change(lambda state: state.disconnect(session))
        except Exception as exc:
            self.problems.warning("disconnect", "ending a session failed: %s", type(exc).__name__)
            return
        self.deliver(None, outcome)

    async def _change(self, op: Callable[[TrackerState], Outcome]) -> Outcome:
        """Change live state: here, or through the group when trackers share a database."""
        if self.group is None:
            return op(self.state)
        return await self.group.run(op)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def deliver(self, conn: TrackerConnection | None, outcome: Outcome) -> None:
        """Send the reply, the pushes, the relayed frame, then close what must be closed.

        ``send`` never raises, so a reply that could not be sent never skips the pushes
        and closes that belong to the same state change.
        """
        if conn is not None and outcome.reply is not None:
            conn.send(outcome.reply)
        for sessions, message in outcome.pushes:
            for session in sessions:
                target = self.connections.get(session)
                if target is not None:
                    target.send(message)
        if outcome.forward is not None:
            self._forward(outcome.forward)
        for session in outcome.close:
            target = self.connections.get(session)
            if target is not None:
                target.close()

    def deliver_relay(self, conn: TrackerConnection | None, outcome: Outcome) -> None:
        """:meth:`deliver` an outcome of the relay's rules, whose pushes may be for
        sessions of other trackers of the group: those go through the ``relay`` table
        (:mod:`tracker.group_relay`). Outcomes of group commands never come here: their
        pushes to other trackers go in the group's log."""
        relay = self.group_relay
        if relay is not None:
            for sessions, message in outcome.pushes:
                for session in sessions:
                    ref = self.group_remote(session)
                    if ref is not None:
                        relay.push(ref, message)
        self.deliver(conn, outcome)

    def group_remote(self, session: SessionId) -> RemoteSession | None:
        """Where a session of another tracker of the group is (``None``: one of ours)."""
        if self.group is None:
            return None
        return self.group.state.address_of(session)

    def _forward(self, forward: Forward) -> None:
        """Carry a relayed frame, never waiting: a target that does not read fast enough
        loses it (and both ends are told) instead of making the tracker buffer it."""
        target = self.connections.get(forward.target)
        if target is None:
            ref = self.group_remote(forward.target)
            if ref is not None and self.group_relay is not None:
                self.group_relay.forward(forward, ref)
            return
        if target.unsent > self.config.relay_receiver_buffer:
            self.problems.warning("relay_drop", "dropping relayed frames to a slow receiver")
            self.deliver_relay(None, self.state.relay_dropped(forward))
            return
        target.send(forward.message)

    async def _sweep(self) -> None:
        config = self.config
        max_silence = config.heartbeat_interval * config.heartbeat_misses
        period = min(config.heartbeat_interval, config.auth_timeout) / 2
        save_interval = SAVE_INTERVAL if self.storage.kind == "sqlite" else GROUP_SAVE_INTERVAL
        next_save = time.monotonic() + save_interval
        next_stats = time.monotonic() + config.stats_interval
        logged_stats = RelayStats()  # nothing relayed yet: nothing to log
        while True:
            await asyncio.sleep(min(period, 1.0))
            now = time.time()
            for session in self.state.expired(now, max_silence):
                conn = self.connections.get(session)
                if conn is not None:
                    log.info("session %d silent for %.1f s; closing it", session, max_silence)
                    conn.abort()
            deadline = time.monotonic() - config.auth_timeout
            for conn in list(self._awaiting_login.values()):
                if conn.opened > deadline:
                    break
                conn.abort()
            if time.monotonic() >= next_stats:
                next_stats = time.monotonic() + config.stats_interval
                stats = self.state.relay_stats
                if stats != logged_stats:
                    log.info("%s", stats.line(self.state.relay_pairs()))
                    logged_stats = replace(stats)
            if time.monotonic() >= next_save:
                next_save = time.monotonic() + save_interval
                await self._save_throttles()

    async def _save_throttles(self) -> None:
        if self._throttles is None:
            return
        try:
            await self._throttles.save()
        except Exception as exc:
            self.problems.warning(
                "throttle_save", "could not save throttle state: %s", type(exc).__name__
            )

    # ------------------------------------------------------------ async commands

    async def register(self, conn: TrackerConnection, request: Request) -> None:
        assert request.username and request.password and request.identity_key
        try:
            await self.accounts.register(
                request.username,
                request.password,
                request.identity_key,
                conn.host,
                request.invite,
            )
        except P2PChatError as exc:
            conn.send(error_from(request.id, exc))
            return
        except Exception:
            log.exception("register failed")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        conn.send(ok(request.id, username=request.username))

    def _may_log_in(self, conn: TrackerConnection, username: str) -> bool:
        previous = self.state.online.get(username)
        replacing = previous is not None and (
            (old := self.connections.get(previous.session)) is not None
            and old.ticket.source == conn.ticket.source
        )
        return self.admission.may_log_in(conn.ticket, replacing_same_source=replacing)

    def _refuse_session(self, conn: TrackerConnection, request: Request) -> None:
        self.counters["sessions_per_source"] += 1
        conn.send(
            error(
                request.id,
                ErrorCode.TOO_MANY_CONNECTIONS,
                "too many sessions from your address",
            )
        )

    async def salt(self, conn: TrackerConnection, request: Request) -> None:
        assert request.username is not None
        if not conn.ticket.trusted:
            wait = self._salts.take(conn.ticket.source, time.time())
            if wait > 0:
                conn.send(error(request.id, ErrorCode.RATE_LIMITED, "too many SALT requests", wait))
                return
        try:
            reply = await self.accounts.salt(request.username)
        except Exception:
            log.exception("salt lookup failed")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        conn.send(
            ok(
                request.id,
                salt=reply.salt.hex(),
                kdf=reply.kdf.to_wire(),
                realm=reply.realm,
                legacy=reply.legacy,
            )
        )

    async def login(self, conn: TrackerConnection, request: Request) -> None:
        assert request.username and request.password and request.identity_key
        if not self._may_log_in(conn, request.username):
            self._refuse_session(conn, request)
            return
        try:
            result = await self.accounts.login(
                request.username,
                request.password,
                request.identity_key,
                request.replace_key,
                conn.host,
                request.legacy_password,
            )
            ticket = await self.accounts.issue_ticket(request.username, request.identity_key)
        except P2PChatError as exc:
            conn.send(error_from(request.id, exc))
            return
        except Exception:
            log.exception("login failed")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        await self._start_session(conn, request, ticket, key_changed=result.key_changed)

    async def resume(self, conn: TrackerConnection, request: Request) -> None:
        """RESUME: a session back with its ticket, without argon2."""
        assert request.username and request.ticket and request.identity_key
        if not self._may_log_in(conn, request.username):
            self._refuse_session(conn, request)
            return
        try:
            ticket = await self.accounts.resume(
                request.username,
                request.ticket,
                request.identity_key,
                conn.host,
                conn.ticket.trusted,
            )
        except P2PChatError as exc:
            if exc.code is ErrorCode.TICKET_REUSED:
                await self.end_sessions_of(request.username, "ticket_reused")
            conn.send(error_from(request.id, exc))
            return
        except Exception:
            log.exception("resume failed")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        self.counters["resumed"] += 1
        await self._start_session(conn, request, ticket, key_changed=False)

    async def _start_session(
        self, conn: TrackerConnection, request: Request, ticket: str, *, key_changed: bool
    ) -> None:
        if conn.closed:
            return
        assert request.username is not None
        if not self._may_log_in(conn, request.username):
            self._refuse_session(conn, request)
            return
        host = request.host or conn.host
        now = time.time()

        def login(state: TrackerState) -> Outcome:
            if conn.closed:
                return Outcome()
            return state.login(
                conn.session,
                request,
                host,
                now,
                key_changed=key_changed,
                source=conn.ticket.source,
                trusted=conn.ticket.trusted,
            )

        try:
            outcome = await self._change(login)
        except Exception:
            log.exception("could not start a session")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        if conn.closed or not self.state.is_authenticated(conn.session):
            self.deliver(None, Outcome(pushes=outcome.pushes, close=outcome.close))
            return
        self._awaiting_login.pop(conn.session, None)
        self.admission.logged_in(conn.ticket)
        if outcome.reply is not None:
            outcome.reply["ticket"] = ticket
        self.deliver(conn, outcome)

    async def end_sessions_of(self, username: str, reason: str) -> None:
        """A spent ticket came back: whoever holds the user's session is cut off."""

        def end(state: TrackerState) -> Outcome:
            user = state.online.get(username)
            if user is None:
                return Outcome()
            outcome = Outcome(close=[user.session])
            outcome.push_to((user.session,), push(Event.SESSION_ENDED, reason=reason))
            return outcome

        self.deliver(None, await self._change(end))

    async def group_command(self, conn: TrackerConnection, request: Request) -> None:
        """A room command when trackers share a database: decided under the group lock."""
        now = time.time()
        try:
            outcome = await self._change(lambda state: state.handle(conn.session, request, now))
        except Exception:
            log.exception("a group command failed")
            conn.send(error(request.id, ErrorCode.INTERNAL, "could not store the change"))
            return
        self.deliver(conn, outcome)

    async def logout(self, conn: TrackerConnection, request: Request) -> None:
        """LOGOUT revokes the user's tickets before it is answered."""
        username = self.state.username_of(conn.session)
        if username is not None:
            try:
                await self.accounts.revoke_tickets(username)
            except Exception:
                log.exception("could not revoke the tickets of a logout")
                conn.send(error(request.id, ErrorCode.INTERNAL, "could not revoke tickets"))
                return
        now = time.time()
        try:
            outcome = await self._change(lambda state: state.handle(conn.session, request, now))
        except Exception:
            log.exception("logout failed")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        self.deliver(conn, outcome)

    async def persist_then_deliver(self, conn: TrackerConnection, outcome: Outcome) -> None:
        """Write a command's durable changes before anyone hears of them.

        If the write fails, what it would have stored is undone in memory
        (:meth:`TrackerState.revert`), the membership changes stand and are announced,
        and the command is answered ``internal_error``.
        """
        try:
            await self.storage.apply_room_changes(outcome.store)
        except Exception:
            log.exception("could not persist a room change")
            request_id = outcome.reply.get("id") if outcome.reply else None
            self.deliver(None, Outcome(pushes=outcome.pushes))
            self.deliver(None, self.state.revert(outcome.store))
            conn.send(error(request_id, ErrorCode.INTERNAL, "could not store the change"))
            return
        self.deliver(conn, outcome)


_ACCOUNT_COMMANDS = {
    Command.REGISTER: TrackerServer.register,
    Command.LOGIN: TrackerServer.login,
    Command.RESUME: TrackerServer.resume,
}
