"""``p2pchat`` / ``python -m peer``: parse the command line, then start a front end.

On a terminal (stdin and stdout both TTYs) without ``--batch`` it opens the full-screen
chat (:mod:`peer.tui.app`); otherwise it runs the batch mode (:mod:`peer.batch`).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import sys
from pathlib import Path

from commons.data_dirs import user_data_dir
from commons.errors import P2PChatError
from commons.models import validate_host, validate_port
from commons.tls_fingerprint import normalize_fingerprint
from peer.config import DEFAULT_TRACKER, PeerConfig, parse_endpoint
from peer.endpoint_policy import DirectPrivate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p2pchat",
        description="End-to-end encrypted peer-to-peer chat (client).",
    )
    parser.add_argument(
        "--tracker",
        default=f"{DEFAULT_TRACKER[0]}:{DEFAULT_TRACKER[1]}",
        metavar="HOST:PORT",
        help="tracker address (default %(default)s)",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"folder for keys and pins (default {user_data_dir('peer')})",
    )
    parser.add_argument(
        "--listen",
        default=None,
        metavar="HOST:PORT",
        help="P2P listening address (default: any free port, on loopback when the tracker"
        " is on loopback, else on every interface)",
    )
    parser.add_argument(
        "--advertise-host",
        default=None,
        metavar="HOST",
        help="host your room-mates should dial (default: what the tracker sees)",
    )
    parser.add_argument(
        "--advertise-port",
        type=int,
        default=None,
        metavar="PORT",
        help="port your room-mates should dial, if not the one bound (a port forward)",
    )
    hiding = parser.add_mutually_exclusive_group()
    hiding.add_argument(
        "--no-listen",
        action="store_true",
        help="no listener: your address is never published; others reach you through the"
        " tracker's relay (you still dial room-mates directly)",
    )
    hiding.add_argument(
        "--relay-only",
        action="store_true",
        help="no listener and no direct dial: every channel goes through the tracker's"
        " relay, so no other user ever learns your address",
    )
    parser.add_argument(
        "--direct-private",
        choices=[p.value for p in DirectPrivate],
        default=DirectPrivate.VERIFIED.value,
        help="to whom you offer your address in a private conversation over the relay, so"
        " it can go direct (default %(default)s: contacts you verified)",
    )
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument("--cafile", type=Path, help="CA file to verify the tracker's certificate")
    trust.add_argument(
        "--tracker-fingerprint",
        metavar="SHA256",
        help="expected SHA-256 fingerprint of the tracker's certificate",
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="batch mode: commands on stdin, one JSON object per line on stdout",
    )
    parser.add_argument(
        "--log-level", default="WARNING", help="log level on stderr (default %(default)s)"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> PeerConfig:
    """Validated settings from parsed arguments (P2PChatError on bad values)."""
    if args.tracker_fingerprint is not None:
        normalize_fingerprint(args.tracker_fingerprint)
    return PeerConfig(
        tracker=parse_endpoint(args.tracker),
        home=args.home if args.home is not None else user_data_dir("peer"),
        listen=None if args.listen is None else parse_endpoint(args.listen, allow_port_zero=True),
        no_listen=args.no_listen,
        relay_only=args.relay_only,
        direct_private=DirectPrivate(args.direct_private),
        cafile=args.cafile,
        tracker_fingerprint=args.tracker_fingerprint,
        advertise_host=None if args.advertise_host is None else validate_host(args.advertise_host),
        advertise_port=None if args.advertise_port is None else validate_port(args.advertise_port),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``p2pchat`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    try:
        config = config_from_args(args)
    except P2PChatError as exc:
        parser.error(exc.message)
    if not args.batch and sys.stdin.isatty() and sys.stdout.isatty():
        from peer.tui.app import run_tui

        return run_tui(config)
    from peer.batch import main_batch

    for stream in (sys.stdin, sys.stdout):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace")
    try:
        return asyncio.run(main_batch(config))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
