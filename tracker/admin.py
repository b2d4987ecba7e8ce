"""``p2pchat-tracker invite ...`` and ``room ...``: the operator's invites and rooms.

Invites are made on the tracker's machine, by whoever can write its data directory
(mode 0700, so: the operator), straight into the database; there is no wire command
for it, so no account, however privileged, can mint invites over the network. The
tracker may be running meanwhile (SQLite's locking and WAL keep both consistent).

* ``invite new [--count N] [--expires-in HOURS]``: print N fresh single-use codes;
* ``invite list``: every code's state (made, expires, used by whom); codes themselves
  are not stored, so they cannot be listed;
* ``invite revoke CODE``: forget an unused code.

Rooms (any room, whoever owns it):

* ``room list``: every room, its owner, how many members it has (online or not), when
  a member was last online, and whether a newcomer's account made it;
* ``room delete NAME [--wait SECONDS]``: delete a room. The command does not delete the
  row itself: it files a removal (``room_removals``) that the tracker's upkeep carries
  out through its own rules (:mod:`tracker.state.room_upkeep`) within a few seconds,
  telling the members (``ROOM_DELETED``) and, in a group, every tracker. Deleting the
  row under a running tracker would leave the room alive in its memory (members chatting
  on, the owner's next ban failing on a missing row) and unknown to the other trackers
  of a group; the removal is safe whether a tracker runs or not (a stopped one carries
  it out when it starts). It waits up to ``--wait`` seconds and says which it was.
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
#: Seconds ``room delete`` waits for a running tracker (its upkeep runs every 5 s).
DEFAULT_WAIT = 15.0
_POLL = 0.2


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    moment = datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=TrackerConfig().data_dir)
    parser.add_argument(
        "--database", metavar="URL", help="postgresql://... (default: SQLite in --data-dir)"
    )


def _room_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p2pchat-tracker room", description="the tracker's rooms, whoever owns them"
    )
    _store_options(parser)
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every room: owner, last activity, made by a newcomer")
    delete = actions.add_parser("delete", help="delete a room (the tracker tells its members)")
    delete.add_argument("name")
    delete.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help="how long to wait for a running tracker to carry it out (default %(default)g)",
    )
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p2pchat-tracker invite",
        description="single-use registration invites (for --registration invite)",
    )
    _store_options(parser)
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
    """Run one ``invite ...`` or ``room ...`` command (``argv`` starts with which); the
    exit status is 0 on success."""
    group, rest = (argv[0], argv[1:]) if argv else ("invite", [])
    rooms = group == "room"
    args = (_room_parser() if rooms else _parser()).parse_args(rest)
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
        return asyncio.run(_run_rooms(storage, args) if rooms else _run(storage, args))
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


async def _run_rooms(storage: Storage, args: argparse.Namespace) -> int:
    await storage.open()
    try:
        if args.action == "list":
            for room in await storage.all_rooms():
                made = " (newcomer)" if room.newcomer else ""
                mode = "invite-only" if room.invite_only else "open"
                print(
                    f"{room.name}  owner {room.owner}{made}  {mode}"
                    f"  {len(room.members)} members  last active {_when(room.last_active)}"
                )
            return 0
        if not await storage.request_room_removal(args.name):
            print("no room with that name", file=sys.stderr)
            return 1
        deadline = time.monotonic() + max(0.0, args.wait)
        while True:
            if args.name not in {room.name for room in await storage.all_rooms()}:
                print("deleted")
                return 0
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(_POLL)
        print(
            "queued: the tracker deletes it at its next upkeep (a stopped one when it starts)",
            file=sys.stderr,
        )
        return 0
    finally:
        await storage.close()
