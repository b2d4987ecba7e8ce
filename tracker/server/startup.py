"""Building the tracker's parts from its configuration, before it serves.

Why here: :meth:`tracker.server.server.TrackerServer.start` is the order in which the parts come
up (certificate, storage, state, hashing, throttles, accounts, listener); what each part
is made of, and how the connection caps are fitted to the open-file limit, is plain
construction from a :class:`~tracker.config.TrackerConfig`, kept out of the shell.

Contract: nothing here awaits or touches the network. :func:`fit_to_descriptors` raises
the process's open-file limit and may log one line; :func:`password_hashing` computes one
argon2 hash and so is called in an executor by ``start()``. Everything
else only builds values.
"""

from __future__ import annotations

import logging

from tracker.accounts.hashing import PasswordHashing
from tracker.accounts.registration import RegistrationPolicy
from tracker.config import TrackerConfig
from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import KeyedTokenBuckets
from tracker.limits.source import TrustedNetworks
from tracker.limits.throttle import LoginThrottle
from tracker.network.admission import MAX_REJECTING, SourceAdmission
from tracker.network.fd_limit import connection_cap, raise_open_file_limit
from tracker.state.tracker_state import StateLimits

log = logging.getLogger("tracker.server")


def admission_for(config: TrackerConfig) -> SourceAdmission:
    """The connection caps of ``config``, per source and in total."""
    return SourceAdmission(
        max_connections=config.max_connections,
        max_unauthenticated=config.max_unauthenticated,
        max_unauthenticated_per_source=config.max_unauthenticated_per_source,
        max_sessions_per_source=config.max_sessions_per_source,
        burst_per_source=config.connection_burst_per_source,
        per_source_per_second=config.connections_per_source_per_second,
        trusted=TrustedNetworks(config.trusted_networks),
        reserved_share=config.reserved_unauthenticated_share,
        history_window=config.login_history_days * 86400,
        grace=config.unauthenticated_grace,
    )


def fit_to_descriptors(config: TrackerConfig) -> TrackerConfig:
    """Raise the open-file limit; lower the connection caps if it cannot cover them.

    Returns ``config`` itself when it fits, else a copy with lower caps.
    """
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
        return config.with_changes(max_connections=cap, max_unauthenticated=unauthenticated)
    return config


def state_limits(config: TrackerConfig) -> StateLimits:
    """The bounds :class:`~tracker.state.tracker_state.TrackerState` enforces on rooms, pages and
    relay."""
    return StateLimits(
        rooms_per_owner=config.rooms_per_owner,
        rooms_per_user=config.rooms_per_user,
        max_rooms=config.max_rooms,
        standing_age=config.room_standing_hours * 3600,
        newcomer_room_share=config.newcomer_room_share,
        room_expiry=config.room_expiry_days * 86400,
        max_bans=config.max_bans_per_room,
        max_invites=config.max_invites_per_room,
        changes_burst=config.room_changes_burst,
        changes_per_second=config.room_changes_per_second,
        pages_burst_per_source=config.pages_burst_per_source,
        pages_per_source_per_second=config.pages_per_source_per_second,
        relay=config.relay_limits(),
    )


def password_hashing(config: TrackerConfig) -> PasswordHashing:
    """The bounded argon2 executor. It hashes once as it is built (the stand-in for
    unknown users), so call it off the event loop."""
    return PasswordHashing(
        memory_kib=config.argon2_memory_kib,
        time_cost=config.argon2_time_cost,
        parallelism=config.argon2_parallelism,
        workers=config.hash_workers,
        wait_timeout=config.hash_wait_timeout,
    )


def login_throttle(config: TrackerConfig) -> LoginThrottle:
    """The delays after failed logins, per source, per (source, account) and per account."""
    return LoginThrottle(
        source_failures=config.throttle_address_failures,
        pair_failures=config.throttle_account_failures,
        base_delay=config.throttle_base_delay,
        max_delay=config.throttle_max_delay,
        account_slowdown=config.account_slowdown_failures,
        account_failure_delay=config.account_failure_delay,
        account_half_life=config.account_failure_half_life,
    )


def registration_policy(config: TrackerConfig) -> RegistrationPolicy:
    """Who may register, and how many accounts per source and in total per hour."""
    return RegistrationPolicy(
        config.registration,
        config.registrations_per_source_per_hour,
        config.registrations_per_hour,
        TrustedNetworks(config.trusted_networks),
    )


def resume_failures(config: TrackerConfig) -> KeyedTokenBuckets:
    """Failed RESUME attempts allowed per source (a guessed ticket costs a token)."""
    return KeyedTokenBuckets(
        KeyedRecords("resume_source"),
        config.resume_failures_burst,
        config.resume_failures_per_second,
    )
