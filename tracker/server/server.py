"""The asyncio shell of the tracker: TLS connections in, outcomes out.

:class:`TrackerServer` is ``await start()``, serve, ``await stop()``. It is one class,
and it owns:

- the parts' life: certificate, storage, state, hashing, throttles, accounts, the group
  when trackers share a database, the listener and the periodic sweep (what each part is
  made of is :mod:`tracker.server.startup`'s);
- the life of connections: accepted, admitted or refused, registered, gone;
- routing: which part handles each request a connection hands it (:meth:`~TrackerServer.dispatch`);
- delivery: carrying out an :class:`~tracker.state.tracker_state.Outcome` (reply,
  pushes, relayed frame, closes), after a durable write or under the group's lock when
  one is needed;
- the mailbox's commands (:class:`~tracker.server.mailbox_commands.MailboxCommands`),
  routed here and run as awaited work of their connection;
- the one periodic sweep (there are no per-session timers: a timer per connection costs
  memory a stranger with many sockets could make the tracker spend).

Its two collaborators see it only through a Protocol each, so neither imports this
module: :class:`~tracker.server.connection.TrackerConnection` (one connection's TLS,
framing and the order of its requests) through
:class:`~tracker.server.connection.ConnectionOwner`, and
:class:`~tracker.server.account_commands.AccountCommands` (REGISTER, SALT, LOGIN, RESUME,
LOGOUT: argon2, disk) through :class:`~tracker.server.account_commands.AccountOwner`.

Connections come in through :class:`~tracker.network.listener.Listener` (our own accept
loop, bounded under descriptor exhaustion) and are admitted or refused per source by
:class:`~tracker.network.admission.SourceAdmission` before any TLS work. Everything a
stranger can trigger in bulk (refused connections, failed handshakes, accept errors) is
counted in :attr:`TrackerServer.counters` and logged at a bounded rate, never once per
socket.

Contract: every part logs through :data:`log` (the logger ``tracker.server``, which
operators and tests filter on). Nothing a client sends can make delivery fail half-way:
:meth:`~tracker.server.connection.TrackerConnection.send` never raises, so the reply, the
pushes to other sessions and the closes of one outcome are each carried out whatever
happened to the others. A relayed frame is never buffered for a receiver that does not
read: it is dropped and both ends are told. Each pass of the sweep aborts the sessions
silent for ``heartbeat_interval * heartbeat_misses`` and the connections that have not
logged in within ``auth_timeout``, logs the relay statistics every ``stats_interval`` if
they changed, runs the rooms' upkeep every ``room_upkeep_interval`` (abandoned rooms
expire, the operator's removals are carried out, mailbox deposits past
``--mailbox-days`` are deleted), and saves the throttle tables every
save interval (a failed save is logged at a bounded rate and retried at the next
interval).
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
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from commons.errors import ErrorCode
from commons.rate_limited_log import RateLimitedLog
from commons.relay_frames import RelayFrame
from commons.tracker_protocol import Command, Request, error
from tracker.accounts.accounts import Accounts
from tracker.accounts.hashing import PasswordHashing
from tracker.config import TrackerConfig
from tracker.network.admission import Verdict
from tracker.network.certificate import ensure_certificate
from tracker.network.listener import Listener, bind_sockets
from tracker.network.tls_context import server_context
from tracker.server.account_commands import ACCOUNT_COMMANDS, AccountCommands
from tracker.server.connection import TrackerConnection
from tracker.server.mailbox_commands import MAILBOX_COMMANDS, MailboxCommands
from tracker.server.startup import (
    admission_for,
    fit_to_descriptors,
    login_throttle,
    password_hashing,
    registration_policy,
    resume_failures,
    state_limits,
)
from tracker.state.relay_budget import RelayStats
from tracker.state.tracker_state import (
    GROUP_COMMANDS,
    Forward,
    Outcome,
    RoomSeed,
    SessionId,
    TrackerState,
)
from tracker.storage.base import Storage
from tracker.storage.open import open_storage
from tracker.storage.throttle_store import GROUP_SAVE_INTERVAL, SAVE_INTERVAL, ThrottleStore

if TYPE_CHECKING:
    from tracker.group.coordinator import Group
    from tracker.group.relay import GroupRelay
    from tracker.group.replica import RemoteSession

__all__ = ["LISTEN_BACKLOG", "TrackerServer"]

log = logging.getLogger("tracker.server")

#: Connections the kernel may queue for accept() (capped by net.core.somaxconn): after a
#: restart every client reconnects within a second, and a full queue drops SYNs, which
#: clients retry only 1, 3, 7, 15... s later.
LISTEN_BACKLOG = 4096
_LINGER_RESET = struct.pack("ii", 1, 0)


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
        #: Admitted connections whose transport is not up yet (they may be evicted).
        self._attaching: dict[SessionId, TrackerConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: Listener | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.storage: Storage = open_storage(
            self.config.database, self.config.data_dir, self.config.database_pool_size
        )
        self.state = TrackerState(
            self.config.room_capacity, self.config.heartbeat_interval, self.config.max_frame_size
        )
        self.admission = admission_for(self.config)
        self.ssl_context: ssl.SSLContext
        self.cert_path: Path
        self.cert_fingerprint = ""
        self.port = self.config.port
        self.accounts: Accounts
        self.account_commands = AccountCommands(self)
        #: The mailbox's commands (issue 22), its rates and its limits.
        self.mailbox = MailboxCommands(self)
        self._hashing: PasswordHashing | None = None
        self._throttles: ThrottleStore | None = None
        #: With ``--database postgresql://``: this tracker's part in a group, and its
        #: end of the relay between the group's trackers.
        self.group: Group | None = None
        self.group_relay: GroupRelay | None = None

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task that ``stop()`` cancels."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def change(self, op: Callable[[TrackerState], Outcome]) -> Outcome:
        """Change live state: here, or through the group when trackers share a database."""
        if self.group is None:
            return op(self.state)
        return await self.group.run(op)

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
            seeds = [
                RoomSeed(
                    r.name,
                    r.owner,
                    r.invite_only,
                    r.banned,
                    r.invited,
                    r.newcomer,
                    r.last_active,
                    r.members,
                )
                for r in rooms
            ]
            self.state = TrackerState(*state_args, seeds, limits)
        self._hashing = await loop.run_in_executor(None, password_hashing, config)
        throttle = login_throttle(config)
        registration = registration_policy(config)
        resumes = resume_failures(config)
        # The relay's per-user and per-source budgets are shared by a group, so a source
        # spread over its trackers gets its rate once; one tracker alone need not save them
        # (a restart forgives at most a burst).
        relay_tables = self.state.relay_tables if self.group is not None else ()
        self._throttles = ThrottleStore(
            self.storage,
            [
                *throttle.tables,
                *registration.tables,
                resumes.records,
                self.admission.history,
                *relay_tables,
            ],
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
            self.admission.is_full,
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
        """A socket was accepted: admit it (closing the connection it displaces, if
        any), refuse it politely, or drop it at once."""
        session = next(self.session_ids)
        arrival = self.admission.arrive(host, key=session)
        if arrival.evict is not None:
            self._evict(arrival.evict)
        if arrival.verdict is Verdict.DROP:
            # A reset, not a FIN: no closing handshake or TIME_WAIT kept for a flood.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            sock.close()
            self.counters["dropped"] += 1
            self.problems.warning(
                "refused", "refusing connections (%s) from %s", arrival.reason, arrival.source
            )
            return
        if arrival.verdict is Verdict.REJECT:
            self.counters["rejected"] += 1
        protocol = TrackerConnection(self, arrival, host, session)
        if arrival.verdict is Verdict.ADMIT:
            self._attaching[session] = protocol
        self.spawn(self._attach(sock, protocol))

    def _evict(self, session: SessionId) -> None:
        """Close a connection still logging in to make room for a newcomer
        (:mod:`tracker.network.admission` chose it: the oldest idle one of its pool)."""
        self.counters["evicted"] += 1
        self.problems.warning("evicted", "closing idle connections that have not logged in")
        victim = self._awaiting_login.get(session)
        if victim is not None:
            victim.abort()
            return
        attaching = self._attaching.pop(session, None)
        if attaching is not None:
            attaching.abort()  # its transport is not up: it closes as it comes up
            self.admission.gone(attaching.admitted, was_session=False)

    async def _attach(self, sock: socket.socket, protocol: TrackerConnection) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: protocol, sock)
        except BaseException as exc:
            sock.close()
            if self._attaching.pop(protocol.session, None) is not None:
                self.admission.gone(protocol.admitted, was_session=False)
            if not isinstance(exc, Exception):
                raise
            self.counters["attach_failed"] += 1
            self.problems.warning("attach", "a connection failed at once: %s", type(exc).__name__)

    def register_connection(self, conn: TrackerConnection) -> None:
        """Track an admitted connection (refused ones are only bounded in time)."""
        self._attaching.pop(conn.session, None)
        self.connections[conn.session] = conn
        if conn.admitted.verdict is Verdict.ADMIT:
            self._awaiting_login[conn.session] = conn

    def session_started(self, conn: TrackerConnection) -> None:
        """``conn`` logged in: off the login deadline, counted as a session of its source."""
        self._awaiting_login.pop(conn.session, None)
        self.admission.logged_in(conn.admitted)

    def connection_gone(self, conn: TrackerConnection) -> None:
        """Idempotent clean-up: offline at once, room left, members told."""
        if self.connections.pop(conn.session, None) is None:
            return
        awaiting = self._awaiting_login.pop(conn.session, None) is not None
        self.admission.gone(conn.admitted, was_session=not awaiting)
        if self.group is None:
            self.deliver(None, self.state.disconnect(conn.session))
        elif conn.session in self.state.sessions:
            self.spawn(self._group_disconnect(conn.session))

    async def _group_disconnect(self, session: SessionId) -> None:
        try:
            outcome = await self.change(lambda state: state.disconnect(session))
        except Exception as exc:
            self.problems.warning("disconnect", "ending a session failed: %s", type(exc).__name__)
            return
        self.deliver(None, outcome)

    # ------------------------------------------------------------ routing

    def dispatch(self, conn: TrackerConnection, item: Request | RelayFrame) -> None:
        """Handle ``conn``'s next request: at once when the rules need nothing slow,
        else as work the connection awaits before it reads its next request."""
        state = self.state
        now = time.time()
        state.touch(conn.session, now)
        if isinstance(item, RelayFrame):
            outcome = state.relay(conn.session, item, now)
            if outcome.wait > 0:
                conn.hold(outcome.wait, item)
            else:
                self.deliver_relay(conn, outcome)
            return
        authenticated = state.is_authenticated(conn.session)
        if not authenticated:
            self.admission.request_seen(conn.admitted)
        accounts = self.account_commands
        if item.cmd in MAILBOX_COMMANDS:
            self._mailbox_command(conn, item, authenticated)
            return
        if item.cmd is Command.SALT:
            conn.run_async(accounts.salt(conn, item))
            return
        if not authenticated and item.cmd in ACCOUNT_COMMANDS:
            conn.run_async(ACCOUNT_COMMANDS[item.cmd](accounts, conn, item))
            return
        if authenticated and item.cmd is Command.LOGOUT:
            conn.run_async(accounts.logout(conn, item))
            return
        if authenticated and self.group is not None and item.cmd in GROUP_COMMANDS:
            conn.run_async(self.group_command(conn, item))
            return
        outcome = state.handle(conn.session, item, now)
        if outcome.store:
            conn.run_async(self.persist_then_deliver(conn, outcome))
            return
        self.deliver(conn, outcome)

    def _mailbox_command(self, conn: TrackerConnection, item: Request, authenticated: bool) -> None:
        """``DEPOSIT`` from anyone (its rates are checked here, before any await); the
        other mailbox commands only from a session, about its own mailbox."""
        if item.cmd is Command.DEPOSIT:
            if not self.mailbox.admit_deposit(conn, item):
                return
        elif not authenticated:
            conn.send(error(item.id, ErrorCode.NOT_AUTHENTICATED, "log in first"))
            return
        conn.run_async(MAILBOX_COMMANDS[item.cmd](self.mailbox, conn, item))

    async def mailbox_summary(self, username: str) -> dict[str, Any]:
        """LOGIN's and RESUME's ``mailbox`` (:meth:`MailboxCommands.summary`)."""
        return await self.mailbox.summary(username)

    # ------------------------------------------------------------ delivery

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
        (:mod:`tracker.group.relay`). Outcomes of group commands never come here: their
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

    async def group_command(self, conn: TrackerConnection, request: Request) -> None:
        """A room command when trackers share a database: decided under the group lock."""
        await self.handle_then_deliver(
            conn, request, "a group command failed", "could not store the change"
        )

    async def handle_then_deliver(
        self, conn: TrackerConnection, request: Request, failure: str, answer: str
    ) -> None:
        """Decide ``request`` through :meth:`change` (the group's lock, in a group), then
        deliver; if that fails, log ``failure`` and answer ``internal_error`` ``answer``."""
        now = time.time()
        try:
            outcome = await self.change(lambda state: state.handle(conn.session, request, now))
        except Exception:
            log.exception(failure)
            conn.send(error(request.id, ErrorCode.INTERNAL, answer))
            return
        self.deliver(conn, outcome)

    async def persist_then_deliver(self, conn: TrackerConnection, outcome: Outcome) -> None:
        """Write a command's durable changes before anyone hears of them.

        If the write fails, what it would have stored is undone in memory
        (:meth:`~tracker.state.tracker_state.TrackerState.revert`), the membership
        changes stand and are announced, and the command is answered ``internal_error``.
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

    # ------------------------------------------------------------ the periodic sweep

    async def _sweep(self) -> None:
        """Every duty that recurs, in one task from ``start()`` to ``stop()``; one pass at
        most every second (``_awaiting_login`` is in arrival order, so the login deadline
        check stops at the first connection still in time)."""
        config = self.config
        max_silence = config.heartbeat_interval * config.heartbeat_misses
        period = min(config.heartbeat_interval, config.auth_timeout) / 2
        save_interval = SAVE_INTERVAL if self.storage.kind == "sqlite" else GROUP_SAVE_INTERVAL
        next_save = time.monotonic() + save_interval
        next_stats = time.monotonic() + config.stats_interval
        next_upkeep = time.monotonic() + config.room_upkeep_interval
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
                    logged_stats = stats.copy()
            if time.monotonic() >= next_upkeep:
                next_upkeep = time.monotonic() + config.room_upkeep_interval
                await self._upkeep_rooms()
                await self._expire_mailbox()
            if time.monotonic() >= next_save:
                next_save = time.monotonic() + save_interval
                await self._save_throttles()

    async def _upkeep_rooms(self) -> None:
        """The rooms' upkeep (:mod:`tracker.state.room_upkeep`): stamp rooms in use,
        delete abandoned ones and those the operator asked to remove, store it all
        (in a group: in the group's transaction), then tell the members. A failure is
        logged at a bounded rate and the next pass tries again."""
        try:
            removals = await self.storage.room_removals()
            now = time.time()
            outcome = await self.change(lambda state: state.upkeep_rooms(now, removals))
            if self.group is None and outcome.store:
                try:
                    await self.storage.apply_room_changes(outcome.store)
                except Exception:
                    self.deliver(None, Outcome(pushes=outcome.pushes))
                    self.deliver(None, self.state.revert(outcome.store))
                    raise
            self.deliver(None, outcome)
            if removals:
                await self.storage.clear_room_removals(removals)
        except Exception as exc:
            self.problems.warning("room_upkeep", "room upkeep failed: %s", type(exc).__name__)

    async def _expire_mailbox(self) -> None:
        """Delete deposits older than ``--mailbox-days`` (with the rooms' upkeep); a
        failure is logged at a bounded rate and the next pass tries again."""
        try:
            expired = await self.mailbox.expire(time.time())
        except Exception as exc:
            self.problems.warning("mailbox_expiry", "mailbox expiry failed: %s", type(exc).__name__)
            return
        if expired:
            log.info("mailbox: %d deposits expired", expired)

    async def _save_throttles(self) -> None:
        if self._throttles is None:
            return
        try:
            await self._throttles.save()
        except Exception as exc:
            self.problems.warning(
                "throttle_save", "could not save throttle state: %s", type(exc).__name__
            )
