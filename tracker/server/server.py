"""The asyncio shell of the tracker: TLS connections in, frames out.

:class:`TrackerServer` is ``await start()``, serve, ``await stop()``. It owns the parts'
life (certificate, storage, state, hashing, throttles, accounts, the group when trackers
share a database, the listener and the periodic sweep) and the life of connections:
accepted, admitted or refused, registered, gone. The rest of the shell is split by job:

- :mod:`tracker.server.connection`: one connection's TLS, framing and request routing
  (:class:`~tracker.server.connection.TrackerConnection`, importable from here as before);
- :mod:`tracker.server.delivery`: carrying out :class:`~tracker.state.tracker_state.Outcome`
values, after a
  durable write or the group's lock when one is needed;
- :mod:`tracker.server.account_commands`: REGISTER, SALT, LOGIN, RESUME, LOGOUT (argon2, disk);
- :mod:`tracker.server.maintenance`: the one periodic sweep (there are no per-session timers);
- :mod:`tracker.server.startup`: building the parts from the configuration;
- :mod:`tracker.server.server_base`: the parts and tables they all share.

Connections come in through :class:`~tracker.network.listener.Listener` (our own accept loop,
bounded under descriptor exhaustion) and are admitted or refused per source by
:class:`~tracker.network.admission.Admission` before any TLS work. Everything a stranger can
trigger in bulk (refused connections, failed handshakes, accept errors) is counted in
:attr:`TrackerServer.counters` and logged at a bounded rate, never once per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct

from tracker.accounts.accounts import Accounts
from tracker.network.admission import Verdict
from tracker.network.certificate import ensure_certificate
from tracker.network.listener import Listener, bind_sockets
from tracker.network.tls_context import server_context
from tracker.server.account_commands import AccountCommands
from tracker.server.connection import TrackerConnection
from tracker.server.maintenance import Maintenance
from tracker.server.server_base import log
from tracker.server.startup import (
    admission_for,
    fit_to_descriptors,
    login_throttle,
    password_hashing,
    registration_policy,
    resume_failures,
    state_limits,
)
from tracker.state.tracker_state import RoomSeed, SessionId, TrackerState
from tracker.storage.throttle_store import ThrottleStore

__all__ = ["LISTEN_BACKLOG", "TrackerConnection", "TrackerServer"]

#: Connections the kernel may queue for accept() (capped by net.core.somaxconn): after a
#: restart every client reconnects within a second, and a full queue drops SYNs, which
#: clients retry only 1, 3, 7, 15... s later.
LISTEN_BACKLOG = 4096
_LINGER_RESET = struct.pack("ii", 1, 0)


class TrackerServer(AccountCommands, Maintenance):
    """The tracker: ``await start()``, serve, ``await stop()``."""

    # ------------------------------------------------------------ lifecycle

    def _fit_to_descriptors(self) -> None:
        """Raise the open-file limit; lower the connection caps if it cannot cover them."""
        fitted = fit_to_descriptors(self.config)
        if fitted is not self.config:
            self.config = fitted
            self.admission = admission_for(fitted)

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
        limits = state_limits(config)
        state_args = (config.room_capacity, config.heartbeat_interval, config.max_frame_size)
        if self.storage.kind == "postgresql":
            # Imported here: psycopg is the optional extra "postgresql".
            from tracker.group.coordinator import Group, new_tracker_id
            from tracker.group.relay import GroupRelay
            from tracker.group.replica import ReplicaState
            from tracker.storage.postgres import PgStorage

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
        self._hashing = await loop.run_in_executor(None, password_hashing, config)
        throttle = login_throttle(config)
        registration = registration_policy(config)
        resumes = resume_failures(config)
        self._throttles = ThrottleStore(
            self.storage, [*throttle.tables, *registration.tables, resumes.records]
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
            resume_failures=resumes,
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
        self.connections[conn.session] = conn
        if conn.ticket.verdict is Verdict.ADMIT:
            self._awaiting_login[conn.session] = conn

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
