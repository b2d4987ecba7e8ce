"""Tracker settings: one frozen dataclass that the CLI, the tests and the bench build.

Every limit the tracker enforces lives here so that tests can shrink it (short
heartbeats, small capacities) without touching code. :meth:`TrackerConfig.validated`
is the single place that refuses impossible values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from commons.data_dirs import user_data_dir
from commons.errors import ValidationError
from commons.framing import DEFAULT_MAX_FRAME_SIZE
from commons.models import MAX_ROOM_CAPACITY
from crypto.login_secret import DEFAULT_LOGIN_KDF, LoginKdf
from tracker.accounts.registration import RegistrationMode
from tracker.limits.source import parse_networks
from tracker.network.admission import DEFAULT_GRACE, DEFAULT_HISTORY_WINDOW, DEFAULT_RESERVED_SHARE
from tracker.state.mailbox import DEFAULT_MAILBOX_RATES, MailboxLimits, MailboxRateLimits
from tracker.state.relay_budget import DEFAULT_IN_ALL, DEFAULT_PER_SOURCE, RelayLimits, RelayRate

#: OWASP's floor for argon2id (m=19 MiB, t=2, p=1); the tracker refuses anything weaker.
ARGON2_MIN_MEMORY_KIB = 19 * 1024
ARGON2_MIN_TIME_COST = 2
ARGON2_MIN_PARALLELISM = 1


def _default_data_dir() -> Path:
    return user_data_dir("tracker")


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Everything a :class:`tracker.server.server.TrackerServer` needs to run."""

    host: str = "127.0.0.1"
    port: int = 6060
    data_dir: Path = field(default_factory=_default_data_dir)
    cert_file: Path | None = None
    key_file: Path | None = None
    #: Members per room: a group of friends by default; at most ``MAX_ROOM_CAPACITY`` (64),
    #: the most the pairwise design serves well (every member has a channel to every other;
    #: ``bench/p2p.py`` times a join at 16 and at 64, docs/BENCHMARKS.md).
    room_capacity: int = 16
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    heartbeat_interval: float = 10.0
    #: Sessions silent for this many heartbeat intervals are closed.
    heartbeat_misses: int = 3
    #: Connections that have not logged in within this many seconds are closed.
    auth_timeout: float = 10.0
    #: Open connections in all; lowered at start if the open-file limit cannot cover it.
    max_connections: int = 20000
    #: Connections not logged in yet, in all and per source (IPv4 address, IPv6 /64).
    max_unauthenticated: int = 1000
    max_unauthenticated_per_source: int = 10
    #: Logged-in sessions per source.
    max_sessions_per_source: int = 100
    #: Share of ``max_unauthenticated`` kept for sources where a session logged in within
    #: ``login_history_days``; seconds a connection is safe from being closed to make
    #: room for a newcomer (:mod:`tracker.network.admission`).
    reserved_unauthenticated_share: float = DEFAULT_RESERVED_SHARE
    login_history_days: float = DEFAULT_HISTORY_WINDOW / 86400
    unauthenticated_grace: float = DEFAULT_GRACE
    #: New connections per source: at most this many at once, then per second.
    connection_burst_per_source: int = 20
    connections_per_source_per_second: float = 10.0
    #: Networks exempt from every per-source limit (``--trusted-network``, CIDR).
    trusted_networks: tuple[str, ...] = ()
    #: Threads hashing passwords; also the number of hashes that may run at once.
    hash_workers: int = 2
    #: How long a REGISTER/LOGIN waits for a hashing slot before it gets ``busy``.
    hash_wait_timeout: float = 2.0
    argon2_memory_kib: int = ARGON2_MIN_MEMORY_KIB
    argon2_time_cost: int = ARGON2_MIN_TIME_COST
    argon2_parallelism: int = ARGON2_MIN_PARALLELISM
    #: Lets tests and benchmarks set argon2 below the OWASP floor to set up thousands of
    #: accounts quickly; never for a tracker people use (the CLI flag is hidden).
    allow_weak_argon2: bool = False
    #: Failed logins allowed per source, and per source and account, before backoff.
    throttle_address_failures: int = 10
    throttle_account_failures: int = 3
    #: First backoff delay in seconds; it doubles with every further failure.
    throttle_base_delay: float = 1.0
    throttle_max_delay: float = 300.0
    #: Failed logins of one account, from anywhere, above which each further failure is
    #: answered only after ``account_failure_delay`` s (the count halves every half-life).
    account_slowdown_failures: int = 100
    account_failure_delay: float = 2.0
    account_failure_half_life: float = 600.0
    #: ``open``, ``invite`` (single-use codes from ``p2pchat-tracker invite``) or ``closed``.
    registration: RegistrationMode = RegistrationMode.OPEN
    #: REGISTER requests per hour per source, and per hour in all (token buckets).
    registrations_per_source_per_hour: int = 10
    registrations_per_hour: int = 600
    #: Rooms one user may own; rooms in all.
    rooms_per_owner: int = 5
    max_rooms: int = 10000
    #: Rooms one user may be a member of at once (created ones included).
    rooms_per_user: int = 20
    #: Accounts younger than this are newcomers; the rooms newcomers create may take
    #: only this share of ``max_rooms`` together (:mod:`tracker.state.rooms`).
    room_standing_hours: float = 24.0
    newcomer_room_share: float = 0.5
    #: A room with no member for this many days is deleted; the upkeep runs every
    #: ``room_upkeep_interval`` s (also how soon an operator's ``room delete`` is done).
    room_expiry_days: float = 30.0
    room_upkeep_interval: float = 5.0
    #: Entries of one room's ban list and invite list.
    max_bans_per_room: int = 500
    max_invites_per_room: int = 500
    #: Room commands (create, join, leave, kick, ...) per session: burst, then per second.
    room_changes_burst: int = 10
    room_changes_per_second: float = 1.0
    #: Directory pages (LIST_PEERS, LIST_ROOMS, ROOM_ACCESS) per source: burst, then rate.
    pages_burst_per_source: int = 100
    pages_per_source_per_second: float = 50.0
    #: Replies and pushes queued for a client that does not read are capped at this.
    max_send_buffer: int = 1024 * 1024
    #: ``None``: SQLite in ``data_dir``; ``postgresql://...``: PostgreSQL, shared by a
    #: group of trackers (``--database``).
    database: str | None = None
    #: The client's Argon2id cost for the login secret of new accounts (``SALT``).
    login_kdf: LoginKdf = DEFAULT_LOGIN_KDF
    #: The group's name mixed into login secrets, fixed by the first tracker to start on
    #: a database (``None``: a random one).
    realm: str | None = None
    #: Seconds a resumption ticket stays valid.
    ticket_lifetime: float = 7 * 24 * 3600.0
    #: Failed RESUMEs per source: at once, then per second.
    resume_failures_burst: int = 20
    resume_failures_per_second: float = 1.0
    #: Trackers on one PostgreSQL: a tracker whose lease is this old is taken for dead
    #: and its sessions are ended by the others; it renews every third of it.
    lease_seconds: float = 15.0
    #: Connections in the PostgreSQL pool.
    database_pool_size: int = 8
    #: The relay (``--no-relay`` turns it off): per-session budget, pairs, and the
    #: queue above which frames relayed to a slow receiver are dropped.
    relay_enabled: bool = True
    relay_bytes_per_second: float = 256 * 1024
    relay_burst_bytes: float = 512 * 1024
    relay_frames_per_second: float = 500.0
    relay_burst_frames: float = 1000.0
    relay_max_pairs: int = 64
    relay_pair_idle: float = 30.0
    relay_receiver_buffer: int = 256 * 1024
    #: The relay's budgets above a session (:mod:`tracker.state.relay_budget`): per user
    #: (``None``: the session's), per source (trusted networks exempt), and in all.
    relay_per_user: RelayRate | None = None
    relay_per_source: RelayRate = DEFAULT_PER_SOURCE
    relay_in_all: RelayRate = DEFAULT_IN_ALL
    #: Seconds between two lines of relay counters in the log (only when they changed).
    stats_interval: float = 60.0
    #: The mailbox (issue 22): per recipient at most so many deposits and bytes, each
    #: kept at most so many days (one token: a quarter of the count and the bytes).
    mailbox_messages: int = 1000
    mailbox_bytes: int = 16 * 1024 * 1024
    mailbox_days: float = 14.0
    #: Deposits per source, per token and in all (bursts and rates of token buckets).
    mailbox_rates: MailboxRateLimits = DEFAULT_MAILBOX_RATES

    def mailbox_limits(self) -> MailboxLimits:
        return MailboxLimits(self.mailbox_messages, self.mailbox_bytes, self.mailbox_days)

    def relay_limits(self) -> RelayLimits:
        return RelayLimits(
            enabled=self.relay_enabled,
            bytes_per_second=self.relay_bytes_per_second,
            burst_bytes=self.relay_burst_bytes,
            frames_per_second=self.relay_frames_per_second,
            burst_frames=self.relay_burst_frames,
            max_pairs=self.relay_max_pairs,
            pair_idle=self.relay_pair_idle,
            per_user=self.relay_per_user,
            per_source=self.relay_per_source,
            in_all=self.relay_in_all,
        )

    def validated(self) -> TrackerConfig:
        """A normalised copy if every value is usable, else raise :class:`ValueError`."""
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be 0-65535")
        if not 2 <= self.room_capacity <= MAX_ROOM_CAPACITY:
            raise ValueError(f"room capacity must be 2-{MAX_ROOM_CAPACITY}")
        if not 64 <= self.max_frame_size <= 16 * 1024 * 1024:
            raise ValueError("max frame size must be 64 B - 16 MiB")
        if self.heartbeat_interval <= 0 or self.heartbeat_misses < 1:
            raise ValueError("heartbeat interval must be positive")
        if self.auth_timeout <= 0 or self.hash_wait_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_connections < 1 or self.hash_workers < 1:
            raise ValueError("max connections and hash workers must be at least 1")
        if (
            min(
                self.max_unauthenticated,
                self.max_unauthenticated_per_source,
                self.max_sessions_per_source,
                self.connection_burst_per_source,
            )
            < 1
            or self.connections_per_source_per_second <= 0
        ):
            raise ValueError("connection limits must be at least 1")
        if not 0 <= self.reserved_unauthenticated_share < 1:
            raise ValueError("the reserved share of connections logging in must be 0-0.99")
        if self.login_history_days <= 0 or self.unauthenticated_grace <= 0:
            raise ValueError("the login history and the grace of new connections must be positive")
        parse_networks(self.trusted_networks)
        try:
            RegistrationMode(self.registration)
        except ValueError:
            raise ValueError("registration must be open, invite or closed") from None
        if not self.allow_weak_argon2 and (
            self.argon2_memory_kib < ARGON2_MIN_MEMORY_KIB
            or self.argon2_time_cost < ARGON2_MIN_TIME_COST
            or self.argon2_parallelism < ARGON2_MIN_PARALLELISM
        ):
            raise ValueError("argon2 parameters below the OWASP minimum (m=19 MiB, t=2, p=1)")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("--cert and --key go together")
        if self.throttle_account_failures < 1 or self.throttle_address_failures < 1:
            raise ValueError("throttle thresholds must be at least 1")
        if not 0 < self.throttle_base_delay <= self.throttle_max_delay:
            raise ValueError("throttle delays must be positive, base <= max")
        if self.account_slowdown_failures < 1 or self.account_failure_half_life <= 0:
            raise ValueError("account slowdown threshold and half-life must be positive")
        if not 0 <= self.account_failure_delay <= 60:
            raise ValueError("account failure delay must be 0-60 s")
        if self.registrations_per_source_per_hour < 1 or self.registrations_per_hour < 1:
            raise ValueError("registration rates must be at least 1 per hour")
        if self.rooms_per_owner < 1 or self.max_rooms < 1:
            raise ValueError("room quotas must be at least 1")
        if not 1 <= self.rooms_per_user <= 64:
            raise ValueError("rooms per user must be 1-64 (clients keep at most 64)")
        if self.room_standing_hours < 0 or not 0 <= self.newcomer_room_share <= 1:
            raise ValueError("room standing must be >= 0 hours and the newcomer share 0-1")
        if self.room_expiry_days <= 0 or self.room_upkeep_interval <= 0:
            raise ValueError("the room expiry and the upkeep interval must be positive")
        if not 1 <= self.max_bans_per_room <= 500 or not 1 <= self.max_invites_per_room <= 500:
            raise ValueError("ban and invite lists hold 1-500 names per room")
        if self.mailbox_messages < 1 or self.mailbox_bytes < 1 or self.mailbox_days <= 0:
            raise ValueError("mailbox limits must be positive")
        if self.mailbox_messages > 1_000_000 or self.mailbox_bytes > 2**40:
            raise ValueError("mailbox limits: at most 1,000,000 messages and 1 TiB per user")
        if self.mailbox_days > 3650:
            raise ValueError("mailbox days: at most 3650")
        if self.room_changes_burst < 1 or self.room_changes_per_second <= 0:
            raise ValueError("room command rate must be positive")
        if self.pages_burst_per_source < 1 or self.pages_per_source_per_second <= 0:
            raise ValueError("directory page rate must be positive")
        try:
            self.login_kdf.validate()
        except ValidationError as exc:
            raise ValueError(exc.message) from None
        if self.realm is not None and not 1 <= len(self.realm.encode()) <= 64:
            raise ValueError("the realm must be 1-64 bytes")
        if self.ticket_lifetime <= 0 or self.lease_seconds < 1:
            raise ValueError("ticket lifetime must be positive and the lease at least 1 s")
        if self.resume_failures_burst < 1 or self.resume_failures_per_second <= 0:
            raise ValueError("the resume failure rate must be positive")
        if self.database is not None and not self.database.startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("--database takes a postgresql:// URL (SQLite is the default)")
        if not 1 <= self.database_pool_size <= 100:
            raise ValueError("the database pool holds 1-100 connections")
        self.relay_limits().check()
        if self.relay_receiver_buffer <= 0:
            raise ValueError("the relay's receiver buffer must be positive")
        if self.stats_interval <= 0:
            raise ValueError("the stats interval must be positive")
        return replace(
            self,
            # Relayed frames are dropped before the client would be (no reader at all).
            relay_receiver_buffer=min(self.relay_receiver_buffer, self.max_send_buffer // 2),
            registration=RegistrationMode(self.registration),
            trusted_networks=tuple(self.trusted_networks),
        )

    def with_changes(self, **changes: object) -> TrackerConfig:
        """A copy with some fields changed (tests and the CLI use this)."""
        return replace(self, **changes)  # type: ignore[arg-type]
