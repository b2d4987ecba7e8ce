"""``p2pchat-tracker`` / ``python -m tracker``: run the tracker until interrupted.

Prints the listening address and the certificate's SHA-256 fingerprint, which users
pin in their peers (``p2pchat --tracker-fingerprint ...``). ``p2pchat-tracker invite
...`` manages registration invites instead, ``p2pchat-tracker room ...`` rooms
(:mod:`tracker.admin`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from commons.models import MAX_ROOM_CAPACITY
from commons.relay_frames import MAX_RELAY_BODY
from commons.version import package_version
from crypto.login_secret import LoginKdf
from tracker import admin
from tracker.accounts.registration import RegistrationMode
from tracker.config import TrackerConfig
from tracker.server.server import TrackerServer
from tracker.state.relay_budget import RelayRate
from tracker.storage.sqlite_file import DB_FILE_NAME, DatabaseOpenError


def build_parser() -> argparse.ArgumentParser:
    """The command line; every option's help names its default."""
    defaults = TrackerConfig()
    parser = argparse.ArgumentParser(
        prog="p2pchat-tracker",
        description="p2pchat tracker: accounts, presence and rooms over TLS. Prints its"
        " address and its certificate's SHA-256 fingerprint, which users pin.",
        epilog="p2pchat-tracker invite --help: single-use registration invites;"
        " p2pchat-tracker room --help: list rooms, delete any room",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument(
        "--host", default=defaults.host, help="address to listen on (default %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=defaults.port,
        help="TCP port, 0: any free (default %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=defaults.data_dir,
        metavar="DIR",
        help=f"users and rooms ({DB_FILE_NAME}), the self-signed certificate and its key"
        " (default %(default)s)",
    )
    parser.add_argument(
        "--cert", type=Path, help="PEM certificate (default: a self-signed one in --data-dir)"
    )
    parser.add_argument(
        "--key", type=Path, help="PEM private key matching --cert (default: with the certificate)"
    )
    parser.add_argument(
        "--room-capacity",
        type=int,
        default=defaults.room_capacity,
        help=f"members per room, 2-{MAX_ROOM_CAPACITY} (default %(default)s)",
    )
    parser.add_argument(
        "--max-frame-size",
        type=int,
        default=defaults.max_frame_size,
        help="largest request in bytes (default %(default)s)",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=defaults.heartbeat_interval,
        help="seconds between client PINGs; silent for 3 intervals means gone"
        " (default %(default)s)",
    )
    parser.add_argument(
        "--auth-timeout",
        type=float,
        default=defaults.auth_timeout,
        help="seconds a connection has to log in (default %(default)s)",
    )
    parser.add_argument(
        "--hash-workers",
        type=int,
        default=defaults.hash_workers,
        help="threads hashing passwords (default %(default)s)",
    )
    parser.add_argument(
        "--argon2-memory-kib",
        type=int,
        default=defaults.argon2_memory_kib,
        help="argon2id memory per hash, KiB (default %(default)s, the OWASP minimum)",
    )
    parser.add_argument(
        "--argon2-time-cost",
        type=int,
        default=defaults.argon2_time_cost,
        help="argon2id passes (default %(default)s)",
    )
    parser.add_argument(
        "--argon2-parallelism",
        type=int,
        default=defaults.argon2_parallelism,
        help="argon2id lanes (default %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="INFO", help="log level on stderr (default %(default)s)"
    )
    parser.add_argument("--allow-weak-argon2", action="store_true", help=argparse.SUPPRESS)
    group = parser.add_argument_group("storage, logins and tracker groups")
    group.add_argument(
        "--database",
        metavar="URL",
        help="postgresql://... to share accounts, rooms and sessions with other trackers"
        " (default: SQLite in --data-dir)",
    )
    group.add_argument(
        "--realm",
        help="the group's name in login secrets, fixed by the first tracker to start on a"
        " database (default: a random one)",
    )
    group.add_argument(
        "--login-kdf-memory-kib",
        type=int,
        default=defaults.login_kdf.memory_kib,
        help="client-side Argon2id memory of new accounts' login secrets (default %(default)s)",
    )
    group.add_argument(
        "--login-kdf-iterations",
        type=int,
        default=defaults.login_kdf.iterations,
        help="its passes (default %(default)s)",
    )
    group.add_argument(
        "--login-kdf-lanes",
        type=int,
        default=defaults.login_kdf.lanes,
        help="its lanes (default %(default)s)",
    )
    group.add_argument(
        "--ticket-lifetime",
        type=float,
        default=defaults.ticket_lifetime,
        metavar="SECONDS",
        help="how long a resumption ticket stays valid (default %(default)s)",
    )
    group.add_argument(
        "--lease-seconds",
        type=float,
        default=defaults.lease_seconds,
        help="with --database: a tracker silent this long is taken for dead by the others"
        " (default %(default)s)",
    )
    limits = parser.add_argument_group("abuse limits (per source: an IPv4 address or IPv6 /64)")
    limits.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help="connections in all, lowered at start if the open-file limit cannot carry it"
        " (default %(default)s)",
    )
    limits.add_argument(
        "--max-unauthenticated",
        type=int,
        default=defaults.max_unauthenticated,
        help="connections not logged in yet, in all (default %(default)s)",
    )
    limits.add_argument(
        "--max-unauthenticated-per-source",
        type=int,
        default=defaults.max_unauthenticated_per_source,
        help="connections not logged in yet, per source (default %(default)s)",
    )
    limits.add_argument(
        "--max-sessions-per-source",
        type=int,
        default=defaults.max_sessions_per_source,
        help="logged-in sessions per source (default %(default)s)",
    )
    limits.add_argument(
        "--trusted-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="exempt from every per-source limit (repeatable; e.g. 127.0.0.0/8 for benches;"
        " default: none)",
    )
    limits.add_argument(
        "--registration",
        choices=[mode.value for mode in RegistrationMode],
        default=defaults.registration.value,
        help="open, invite (codes from 'p2pchat-tracker invite new') or closed"
        " (default %(default)s)",
    )
    limits.add_argument(
        "--registrations-per-source",
        type=int,
        default=defaults.registrations_per_source_per_hour,
        metavar="PER_HOUR",
        help="new accounts per source per hour (default %(default)s)",
    )
    limits.add_argument(
        "--registrations-total",
        type=int,
        default=defaults.registrations_per_hour,
        metavar="PER_HOUR",
        help="new accounts per hour in all (default %(default)s)",
    )
    limits.add_argument(
        "--rooms-per-owner",
        type=int,
        default=defaults.rooms_per_owner,
        help="rooms one user may own (default %(default)s)",
    )
    limits.add_argument(
        "--rooms-per-user",
        type=int,
        default=defaults.rooms_per_user,
        help="rooms one user may be a member of at once, 1-64 (default %(default)s)",
    )
    limits.add_argument(
        "--max-rooms",
        type=int,
        default=defaults.max_rooms,
        help="rooms in all (default %(default)s)",
    )
    limits.add_argument(
        "--room-standing-hours",
        type=float,
        default=defaults.room_standing_hours,
        metavar="HOURS",
        help="accounts younger than this are newcomers (default %(default)g)",
    )
    limits.add_argument(
        "--newcomer-room-share",
        type=float,
        default=defaults.newcomer_room_share,
        metavar="SHARE",
        help="share of --max-rooms that newcomers' rooms may take together, 0-1"
        " (default %(default)g)",
    )
    limits.add_argument(
        "--room-expiry-days",
        type=float,
        default=defaults.room_expiry_days,
        metavar="DAYS",
        help="a room with no member for this long is deleted (default %(default)g)",
    )
    limits.add_argument(
        "--mailbox-messages",
        type=int,
        default=defaults.mailbox_messages,
        metavar="N",
        help="sealed deposits kept per recipient; one token may fill a quarter"
        " (default %(default)s)",
    )
    limits.add_argument(
        "--mailbox-bytes",
        type=int,
        default=defaults.mailbox_bytes,
        metavar="BYTES",
        help="bytes of sealed deposits kept per recipient; one token may fill a quarter"
        " (default %(default)s)",
    )
    limits.add_argument(
        "--mailbox-days",
        type=float,
        default=defaults.mailbox_days,
        metavar="DAYS",
        help="a deposit not fetched and acknowledged in this time is deleted (default %(default)g)",
    )
    relay = parser.add_argument_group(
        "relay (channels of peers that cannot reach each other, through this tracker)"
    )
    relay.add_argument(
        "--no-relay",
        action="store_true",
        help="relay nothing: peers must reach each other (default: relay)",
    )
    relay.add_argument(
        "--relay-rate",
        type=float,
        default=defaults.relay_bytes_per_second / 1024,
        metavar="KIB_PER_S",
        help="relayed bytes per session and second, in KiB (default %(default)g)",
    )
    relay.add_argument(
        "--relay-frames",
        type=float,
        default=defaults.relay_frames_per_second,
        metavar="PER_S",
        help="relayed frames per session and second (default %(default)g)",
    )
    relay.add_argument(
        "--relay-user-rate",
        type=float,
        default=None,
        metavar="KIB_PER_S",
        help="relayed bytes per user and second, over all their sessions, in KiB"
        " (default: --relay-rate)",
    )
    relay.add_argument(
        "--relay-user-frames",
        type=float,
        default=None,
        metavar="PER_S",
        help="relayed frames per user and second (default: --relay-frames)",
    )
    relay.add_argument(
        "--relay-source-rate",
        type=float,
        default=defaults.relay_per_source.bytes_per_second / 1024,
        metavar="KIB_PER_S",
        help="relayed bytes per source (IPv4 address, IPv6 /64) and second, over all its"
        " sessions and every tracker of a group, in KiB; trusted networks are exempt"
        " (default %(default)g)",
    )
    relay.add_argument(
        "--relay-source-frames",
        type=float,
        default=defaults.relay_per_source.frames_per_second,
        metavar="PER_S",
        help="relayed frames per source and second (default %(default)g)",
    )
    relay.add_argument(
        "--relay-total-rate",
        type=float,
        default=defaults.relay_in_all.bytes_per_second / 1024,
        metavar="KIB_PER_S",
        help="relayed bytes per second through this tracker in all, in KiB (default %(default)g)",
    )
    relay.add_argument(
        "--relay-total-frames",
        type=float,
        default=defaults.relay_in_all.frames_per_second,
        metavar="PER_S",
        help="relayed frames per second through this tracker in all (default %(default)g)",
    )
    relay.add_argument(
        "--relay-pairs",
        type=int,
        default=defaults.relay_max_pairs,
        help="users one session may relay to at once (default %(default)d)",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> TrackerConfig:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return TrackerConfig(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            cert_file=args.cert,
            key_file=args.key,
            room_capacity=args.room_capacity,
            max_connections=args.max_connections,
            max_frame_size=args.max_frame_size,
            heartbeat_interval=args.heartbeat_interval,
            auth_timeout=args.auth_timeout,
            hash_workers=args.hash_workers,
            argon2_memory_kib=args.argon2_memory_kib,
            argon2_time_cost=args.argon2_time_cost,
            argon2_parallelism=args.argon2_parallelism,
            max_unauthenticated=args.max_unauthenticated,
            max_unauthenticated_per_source=args.max_unauthenticated_per_source,
            max_sessions_per_source=args.max_sessions_per_source,
            trusted_networks=tuple(args.trusted_network),
            registration=RegistrationMode(args.registration),
            registrations_per_source_per_hour=args.registrations_per_source,
            registrations_per_hour=args.registrations_total,
            rooms_per_owner=args.rooms_per_owner,
            rooms_per_user=args.rooms_per_user,
            max_rooms=args.max_rooms,
            room_standing_hours=args.room_standing_hours,
            newcomer_room_share=args.newcomer_room_share,
            room_expiry_days=args.room_expiry_days,
            mailbox_messages=args.mailbox_messages,
            mailbox_bytes=args.mailbox_bytes,
            mailbox_days=args.mailbox_days,
            database=args.database,
            allow_weak_argon2=args.allow_weak_argon2,
            realm=args.realm,
            login_kdf=LoginKdf(
                args.login_kdf_memory_kib, args.login_kdf_iterations, args.login_kdf_lanes
            ),
            ticket_lifetime=args.ticket_lifetime,
            lease_seconds=args.lease_seconds,
            relay_enabled=not args.no_relay,
            relay_bytes_per_second=args.relay_rate * 1024,
            relay_burst_bytes=max(2 * args.relay_rate * 1024, MAX_RELAY_BODY),
            relay_frames_per_second=args.relay_frames,
            relay_burst_frames=max(2 * args.relay_frames, 1.0),
            relay_max_pairs=args.relay_pairs,
            relay_per_user=RelayRate.per_second(
                (args.relay_rate if args.relay_user_rate is None else args.relay_user_rate) * 1024,
                args.relay_frames if args.relay_user_frames is None else args.relay_user_frames,
            ),
            relay_per_source=RelayRate.per_second(
                args.relay_source_rate * 1024, args.relay_source_frames
            ),
            relay_in_all=RelayRate.per_second(
                args.relay_total_rate * 1024, args.relay_total_frames
            ),
        ).validated()
    except ValueError as exc:
        parser.error(str(exc))


async def serve(config: TrackerConfig) -> None:
    server = TrackerServer(config)
    await server.start()
    host, port = server.address
    print(f"p2pchat tracker {package_version()} listening on {host}:{port}", flush=True)
    print(f"certificate SHA-256 fingerprint: {server.cert_fingerprint}", flush=True)
    print(f"data directory: {config.data_dir} (database {DB_FILE_NAME})", flush=True)
    print(f"storage: {server.storage.kind}; realm: {server.realm}", flush=True)
    print(f"registration: {server.config.registration.value}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] in (["invite"], ["room"]):
        return admin.main(arguments)
    config = parse_args(arguments)
    if sys.platform == "win32":
        # The accept loop (tracker/network/listener.py) needs add_reader: a selector loop.
        asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())  # type: ignore[attr-defined,unused-ignore]
    try:
        asyncio.run(serve(config))
    except KeyboardInterrupt:
        pass
    except (OSError, DatabaseOpenError) as exc:
        print(f"p2pchat-tracker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
