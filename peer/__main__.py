"""``p2pchat`` / ``python -m peer``: parse the command line, then start a front end.

On a terminal (stdin and stdout both TTYs) without ``--batch`` it opens the full-screen
chat (:mod:`peer.tui.app`); otherwise it runs the batch mode (:mod:`peer.batch`).

Settings come from the config file (:mod:`peer.user_settings`; the chat writes a commented
one on first run) and the flags here override it. ``--help`` names every default.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import sys
from pathlib import Path

from commons.data_dirs import user_data_dir
from commons.errors import P2PChatError, ValidationError
from commons.models import validate_host, validate_port
from commons.tls_fingerprint import normalize_fingerprint
from commons.version import package_version
from crypto.login_secret import MIN_LOGIN_KDF, LoginKdf
from peer.config import PeerConfig, parse_endpoint
from peer.core.conversation import SignalSwitches
from peer.core.endpoint_policy import DirectPrivate
from peer.core.settings import CoreSettings
from peer.user_settings import (
    SPEC_BY_KEY,
    SettingError,
    Settings,
    default_config_path,
    load_settings,
    write_template,
)


def _default(key: str) -> str:
    return str(SPEC_BY_KEY[key].default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p2pchat",
        description="End-to-end encrypted peer-to-peer chat (client). On a terminal it opens"
        " the full-screen chat; piped, or with --batch, it reads commands on stdin and"
        " writes JSON lines.",
        epilog="Every setting of the config file is listed, with what it does, in the file"
        " itself (written on the chat's first run) and by /set in the chat.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"settings file (default {default_config_path()})",
    )
    parser.add_argument(
        "--tracker",
        default=None,
        metavar="HOST:PORT",
        help=f"tracker address (default {_default('connection.tracker')},"
        " or connection.tracker in the config file)",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"folder for keys, pins and history (default {user_data_dir('peer')},"
        " or connection.home in the config file)",
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
        help="port your room-mates should dial, if not the one bound, as behind a port"
        " forward (default: the port bound)",
    )
    hiding = parser.add_mutually_exclusive_group()
    hiding.add_argument(
        "--no-listen",
        action="store_true",
        help="no listener: your address is never published; others reach you through the"
        " tracker's relay; you still dial room-mates directly (default: listen)",
    )
    hiding.add_argument(
        "--relay-only",
        action="store_true",
        help="no listener and no direct dial: every channel goes through the tracker's"
        " relay, so no other user ever learns your address (default: off)",
    )
    parser.add_argument(
        "--direct-private",
        choices=[p.value for p in DirectPrivate],
        default=DirectPrivate.VERIFIED.value,
        help="to whom you offer your address in a private conversation over the relay, so"
        " it can go direct (default %(default)s: contacts you verified)",
    )
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument(
        "--cafile",
        type=Path,
        help="CA file to verify the tracker's certificate (default: none, pin on first use)",
    )
    trust.add_argument(
        "--tracker-fingerprint",
        metavar="SHA256",
        help="expected SHA-256 fingerprint of the tracker's certificate"
        " (default: none, pin on first use in HOME/known_trackers.json)",
    )
    parser.add_argument(
        "--min-login-kdf",
        metavar="MEMORY_KIB,PASSES",
        default=f"{MIN_LOGIN_KDF.memory_kib},{MIN_LOGIN_KDF.iterations}",
        help="the least Argon2id cost of the login secret accepted from a tracker; lower"
        " it only for a tracker you trust (default %(default)s)",
    )
    parser.add_argument(
        "--allow-legacy-login",
        action="store_true",
        help="if the tracker holds your account in the old login scheme, send the old"
        " password digest once to upgrade it (default: refuse; never for an account this"
        " client already logged in to with the new scheme there)",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=None,
        metavar="N",
        help=f"days of messages kept in the encrypted history; 0 keeps nothing"
        f" (default {_default('history.days')}, or history.days in the config file)",
    )
    parser.add_argument(
        "--theme",
        default=None,
        metavar="NAME",
        help=f"one of Textual's themes (default {_default('display.theme')})",
    )
    parser.add_argument(
        "--no-bell",
        action="store_true",
        help="no terminal bell on private messages and mentions (default: ring)",
    )
    parser.add_argument(
        "--no-title",
        action="store_true",
        help="leave the terminal title alone (default: show the unread count)",
    )
    parser.add_argument(
        "--no-desktop",
        action="store_true",
        help="no desktop notifications (default: where the terminal or notify-send can)",
    )
    parser.add_argument(
        "--no-typing-indicators",
        action="store_true",
        help="neither send nor show typing indicators (default: to room-mates and contacts)",
    )
    parser.add_argument(
        "--no-read-receipts",
        action="store_true",
        help="neither send nor show read receipts (default: to room-mates and contacts)",
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="batch mode: commands on stdin, one JSON object per line on stdout"
        " (default: only when stdin or stdout is not a terminal)",
    )
    parser.add_argument(
        "--log-level", default="WARNING", help="log level on stderr (default %(default)s)"
    )
    return parser


def settings_from_args(args: argparse.Namespace, *, write_file: bool = False) -> Settings:
    """The config file's settings with the flags on top (SettingError on bad values).

    ``write_file`` writes the commented template if there is no file yet (the chat does
    on its first run; scripts in batch mode do not get files they did not ask for).
    """
    path = args.config if args.config is not None else default_config_path()
    settings = load_settings(path)
    if write_file and not path.exists():
        settings.written = write_template(path)
    flags: dict[str, object] = {
        "connection.tracker": args.tracker,
        "connection.home": None if args.home is None else str(args.home),
        "history.days": args.history_days,
        "display.theme": args.theme,
        "notifications.bell": False if args.no_bell else None,
        "notifications.title": False if args.no_title else None,
        "notifications.desktop": False if args.no_desktop else None,
        "privacy.typing_indicators": False if args.no_typing_indicators else None,
        "privacy.read_receipts": False if args.no_read_receipts else None,
    }
    for key, value in flags.items():
        if value is not None:
            settings.set(key, value, "flag")
    return settings


def config_from_args(args: argparse.Namespace, settings: Settings | None = None) -> PeerConfig:
    """Validated connection settings from flags over the config file (P2PChatError on bad
    values)."""
    settings = settings if settings is not None else settings_from_args(args)
    if args.tracker_fingerprint is not None:
        normalize_fingerprint(args.tracker_fingerprint)
    home_text = str(settings.get("connection.home"))
    return PeerConfig(
        tracker=parse_endpoint(str(settings.get("connection.tracker"))),
        home=Path(home_text).expanduser() if home_text else user_data_dir("peer"),
        listen=None if args.listen is None else parse_endpoint(args.listen, allow_port_zero=True),
        no_listen=args.no_listen,
        relay_only=args.relay_only,
        direct_private=DirectPrivate(args.direct_private),
        cafile=args.cafile,
        tracker_fingerprint=args.tracker_fingerprint,
        advertise_host=None if args.advertise_host is None else validate_host(args.advertise_host),
        advertise_port=None if args.advertise_port is None else validate_port(args.advertise_port),
        min_login_kdf=_login_kdf_floor(args.min_login_kdf),
        allow_legacy_login=args.allow_legacy_login,
        core=CoreSettings(
            signals=SignalSwitches(
                typing_indicators=bool(settings.get("privacy.typing_indicators")),
                read_receipts=bool(settings.get("privacy.read_receipts")),
            )
        ),
    )


def _login_kdf_floor(text: str) -> LoginKdf:
    memory, _, passes = text.partition(",")
    if not (memory.isdigit() and passes.isdigit()):
        raise ValidationError("--min-login-kdf takes MEMORY_KIB,PASSES (e.g. 19456,2)")
    return LoginKdf(int(memory), int(passes), 1)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``p2pchat`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    tui = not args.batch and sys.stdin.isatty() and sys.stdout.isatty()
    try:
        settings = settings_from_args(args, write_file=tui)
        config = config_from_args(args, settings)
    except SettingError as exc:
        parser.error(exc.message)
    except P2PChatError as exc:
        parser.error(exc.message)
    if tui:
        from peer.tui.app import run_tui

        return run_tui(config, settings)
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
