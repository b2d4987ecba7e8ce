"""The asyncio shell of the tracker: TLS connections in, frames out.

Each connection is one :class:`TrackerConnection` (an ``asyncio.Protocol``) driving an
``ssl.SSLObject`` over memory BIOs. asyncio's own TLS transport keeps a 256 KiB read
buffer per connection; doing TLS here keeps a session to a few kilobytes and needs no
task per connection. Requests go through :class:`~tracker.request_decoder.RequestDecoder`
and :class:`~tracker.state.TrackerState`; only REGISTER/LOGIN (argon2, disk) and room
creation/deletion (disk) run as short tasks, during which the connection stops reading
so that its requests stay in order. One periodic sweep closes silent sessions and
connections that never logged in; there are no per-session timers.

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
import ssl
import time
from collections import deque
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from commons.codec import JsonObject, encode_message
from commons.errors import ErrorCode, FrameTooLargeError, P2PChatError
from commons.rate_limited_log import RateLimitedLog
from commons.tracker_protocol import (
    Command,
    Request,
    error,
    error_from,
    is_push,
    ok,
    parse_request_id,
)
from tracker.accounts import Accounts
from tracker.certificate import ensure_certificate
from tracker.config import TrackerConfig
from tracker.database import Database
from tracker.password_hashing import PasswordHashing
from tracker.request_decoder import Rejected, RequestDecoder
from tracker.room_store import RoomStore
from tracker.state import Outcome, RoomCreated, RoomDeleted, SessionId, TrackerState
from tracker.throttle import LoginThrottle
from tracker.tls_context import server_context
from tracker.user_store import UserStore

log = logging.getLogger("tracker.server")

_READ_CHUNK = 16 * 1024
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
        "transport",
    )

    def __init__(self, server: TrackerServer) -> None:
        self._server = server
        self.session: SessionId = next(server.session_ids)
        self.transport: asyncio.Transport | None = None
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = server.ssl_context.wrap_bio(self._in, self._out, server_side=True)
        self._decoder = RequestDecoder(server.config.max_frame_size)
        self._phase = _HANDSHAKING
        self._busy = False
        self._backlog: deque[Request | Rejected] | None = None
        self._rejecting = False
        self.host = ""
        self.opened = time.monotonic()

    # ------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.host = str(peer[0]) if peer else ""
        self._rejecting = not self._server.register_connection(self)
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
                log.info("TLS handshake from %s failed: %s", self.host, exc.__class__.__name__)
                self.abort()
                return
            self._phase = _OPEN
            self._flush()
            if self._rejecting:
                self.send(error(None, ErrorCode.TOO_MANY_CONNECTIONS, "tracker is full"))
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

    # ------------------------------------------------------------ requests

    def _dispatch(self, item: Request | Rejected) -> None:
        server = self._server
        if isinstance(item, Rejected):
            self.send(item.reply)
            if item.close:
                self.close()
            return
        state = server.state
        now = time.time()
        state.touch(self.session, now)
        authenticated = state.is_authenticated(self.session)
        if not authenticated and item.cmd in (Command.REGISTER, Command.LOGIN):
            handler = server.register if item.cmd is Command.REGISTER else server.login
            self._run_async(handler(self, item))
            return
        outcome = state.handle(self.session, item, now)
        if outcome.store is not None:
            self._run_async(server.persist_then_deliver(self, outcome))
            return
        server.deliver(self, outcome)

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
                self._backlog.extendleft(reversed(backlog))
            if not self.closed and not self._busy and self.transport is not None:
                self.transport.resume_reading()


class TrackerServer:
    """The tracker: ``await start()``, serve, ``await stop()``."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config.validated()
        self.session_ids = itertools.count(1)
        #: Problems a client can trigger are logged here: one line per kind per 10 s.
        self.problems = RateLimitedLog(log)
        self.connections: dict[SessionId, TrackerConnection] = {}
        self._awaiting_login: dict[SessionId, TrackerConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._db = Database(self.config.data_dir)
        self._users = UserStore(self._db)
        self._rooms = RoomStore(self._db)
        self.state = TrackerState(
            self.config.room_capacity, self.config.heartbeat_interval, self.config.max_frame_size
        )
        self.ssl_context: ssl.SSLContext
        self.cert_path: Path
        self.cert_fingerprint = ""
        self.port = self.config.port
        self.accounts: Accounts
        self._hashing: PasswordHashing | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        cert = await loop.run_in_executor(
            None, ensure_certificate, config.data_dir, config.cert_file, config.key_file
        )
        self.cert_path = cert.cert_path
        self.cert_fingerprint = cert.fingerprint
        self.ssl_context = server_context(cert.cert_path, cert.key_path)
        await self._db.open()
        rooms = await self._rooms.all()
        self.state = TrackerState(
            config.room_capacity,
            config.heartbeat_interval,
            config.max_frame_size,
            [(r.name, r.owner) for r in rooms],
        )
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
            config.throttle_user_failures,
            config.throttle_address_failures,
            config.throttle_base_delay,
            config.throttle_max_delay,
        )
        self.accounts = Accounts(self._users, self._hashing, throttle)
        self._server = await loop.create_server(
            lambda: TrackerConnection(self), config.host, config.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = asyncio.create_task(self._sweep())
        log.info("tracker listening on %s:%d", config.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
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
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._hashing is not None:
            self._hashing.close()
        await self._db.close()

    @property
    def address(self) -> tuple[str, int]:
        return self.config.host, self.port

    # ------------------------------------------------------------ connections

    def register_connection(self, conn: TrackerConnection) -> bool:
        """Admit ``conn`` unless the cap is reached (then it is told and closed)."""
        if len(self.connections) >= self.config.max_connections:
            return False
        self.connections[conn.session] = conn
        self._awaiting_login[conn.session] = conn
        return True

    def connection_gone(self, conn: TrackerConnection) -> None:
        """Idempotent clean-up: offline at once, room left, members told."""
        if self.connections.pop(conn.session, None) is None:
            return
        self._awaiting_login.pop(conn.session, None)
        self.deliver(None, self.state.disconnect(conn.session))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def deliver(self, conn: TrackerConnection | None, outcome: Outcome) -> None:
        """Send the reply, the pushes, then close what must be closed.

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
        for session in outcome.close:
            target = self.connections.get(session)
            if target is not None:
                target.close()

    async def _sweep(self) -> None:
        config = self.config
        max_silence = config.heartbeat_interval * config.heartbeat_misses
        period = min(config.heartbeat_interval, config.auth_timeout) / 2
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

    # ------------------------------------------------------------ async commands

    async def register(self, conn: TrackerConnection, request: Request) -> None:
        assert request.username and request.password and request.identity_key
        try:
            await self.accounts.register(request.username, request.password, request.identity_key)
        except P2PChatError as exc:
            conn.send(error_from(request.id, exc))
            return
        except Exception:
            log.exception("register failed")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        conn.send(ok(request.id, username=request.username))

    async def login(self, conn: TrackerConnection, request: Request) -> None:
        assert request.username and request.password and request.identity_key
        try:
            result = await self.accounts.login(
                request.username,
                request.password,
                request.identity_key,
                request.replace_key,
                conn.host,
            )
        except P2PChatError as exc:
            conn.send(error_from(request.id, exc))
            return
        except Exception:
            log.exception("login failed")
            conn.send(error(request.id, ErrorCode.INTERNAL, "internal error"))
            return
        if conn.closed:
            return
        self._awaiting_login.pop(conn.session, None)
        host = request.host or conn.host
        outcome = self.state.login(
            conn.session, request, host, time.time(), key_changed=result.key_changed
        )
        self.deliver(conn, outcome)

    async def persist_then_deliver(self, conn: TrackerConnection, outcome: Outcome) -> None:
        """Write a room creation/deletion durably before anyone hears of it."""
        store = outcome.store
        try:
            if isinstance(store, RoomCreated):
                await self._rooms.add(store.name, store.owner)
            elif isinstance(store, RoomDeleted):
                await self._rooms.delete(store.name)
        except Exception:
            log.exception("could not persist room change")
            request_id = outcome.reply.get("id") if outcome.reply else None
            if isinstance(store, RoomCreated):
                self.deliver(None, self.state.drop_room(store.name))
            conn.send(error(request_id, ErrorCode.INTERNAL, "could not store the room"))
            return
        self.deliver(conn, outcome)
