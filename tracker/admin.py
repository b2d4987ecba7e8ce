"""``p2pchat-tracker invite ...``: the operator's registration invites.

Invites are made on the tracker's machine, by whoever can write its data directory
(mode 0700, so: the operator), straight into the database; there is no wire command
for it, so no account, however privileged, can mint invites over the network. The
tracker may be running meanwhile (SQLite's locking and WAL keep both consistent).

* ``invite new [--count N] [--expires-in HOURS]``: print N fresh single-use codes;
* ``invite list``: every code's state (made, expires, used by whom); codes themselves
  are not stored, so they cannot be listed;
* ``invite revoke CODE``: forget an unused code.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys
import time
from pathlib import Path

from tracker.config import TrackerConfig
from tracker.storage.base import Storage
from tracker.storage.open import open_storage
from tracker.storage.sqlite_file import DatabaseOpenError

DEFAULT_EXPIRY_HOURS = 7 * 24.0
MAX_CODES = 1000


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    moment = datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p2pchat-tracker invite",
        description="single-use registration invites (for --registration invite)",
    )
    parser.add_argument("--data-dir", type=Path, default=TrackerConfig().data_dir)
    parser.add_argument(
        "--database", metavar="URL", help="postgresql://... (default: SQLite in --data-dir)"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    new = actions.add_parser("new", help="make new invite codes and print them")
    new.add_argument("--count", type=int, default=1, help=f"how many (1-{MAX_CODES})")
    new.add_argument(
        "--expires-in",
        type=float,
        default=DEFAULT_EXPIRY_HOURS,
        metavar="HOURS",
        help="hours until unused codes expire (0: never; default one week)",
    )
    actions.add_parser("list", help="show every code's state (not the codes)")
    revoke = actions.add_parser("revoke", help="forget an unused code")
    revoke.add_argument("code")
    return parser


def main(argv: list[str]) -> int:
    """Run one invite command; the exit status is 0 on success."""
    args = _parser().parse_args(argv)
    if args.action == "new" and (not 1 <= args.count <= MAX_CODES or args.expires_in < 0):
        print(f"--count must be 1-{MAX_CODES}, --expires-in >= 0", file=sys.stderr)
        return 2
    try:
        config = TrackerConfig(data_dir=args.data_dir, database=args.database).validated()
    except ValueError as exc:
        print(f"p2pchat-tracker: {exc}", file=sys.stderr)
        return 2
    storage = open_storage(config.database, config.data_dir, config.database_pool_size)
    try:
        return asyncio.run(_run(storage, args))
    except (DatabaseOpenError, OSError) as exc:
        print(f"p2pchat-tracker: {exc}", file=sys.stderr)
        return 1


async def _run(storage: Storage, args: argparse.Namespace) -> int:
    await storage.open()
    try:
        if args.action == "new":
            expires = None if args.expires_in == 0 else time.time() + args.expires_in * 3600
            for code in await storage.create_invites(args.count, expires):
                print(code)
            print(f"single use; expire: {_when(expires)}", file=sys.stderr)
        elif args.action == "list":
            now = time.time()
            for record in await storage.list_invites():
                if record.used_by is not None:
                    state = f"used by {record.used_by} at {_when(record.used_at)}"
                elif not record.usable(now):
                    state = "expired"
                else:
                    state = f"unused, expires {_when(record.expires)}"
                print(f"{record.code_hash[:12]}  made {_when(record.created)}  {state}")
        else:
            if not await storage.revoke_invite(args.code):
                print("no unused invite with that code", file=sys.stderr)
                return 1
            print("revoked")
    finally:
        await storage.close()
    return 0
