"""Rooms on disk: name, owner, invite-only flag, ban list and invite list.

Membership is live state and not stored. Ban and invite lists are keyed by username
ignoring case (usernames are unique ignoring case) and go away with their room
(``ON DELETE CASCADE``). :meth:`RoomStore.apply` writes all the changes of one command
in one transaction, so a crash never keeps half of a BAN (say, the ban without the
invite it revoked).
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from tracker.database import Database
from tracker.room_changes import (
    BanAdded,
    BanRemoved,
    InviteAdded,
    InviteRemoved,
    RoomCreated,
    RoomDeleted,
    RoomModeChanged,
    StoreAction,
)


@dataclass(frozen=True, slots=True)
class RoomRecord:
    name: str
    owner: str
    created: float
    invite_only: bool = False
    banned: tuple[str, ...] = ()
    invited: tuple[str, ...] = ()


def _names_by_room(conn: sqlite3.Connection, table: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for room, username in conn.execute(f"SELECT room, username FROM {table} ORDER BY created"):  # noqa: S608
        found[room].append(username)
    return found


def _apply_one(conn: sqlite3.Connection, action: StoreAction, now: float) -> None:
    if isinstance(action, RoomCreated):
        conn.execute(
            "INSERT INTO rooms (name, owner, created, invite_only) VALUES (?, ?, ?, ?)",
            (action.name, action.owner, now, int(action.invite_only)),
        )
    elif isinstance(action, RoomDeleted):
        conn.execute("DELETE FROM rooms WHERE name = ?", (action.name,))
    elif isinstance(action, RoomModeChanged):
        conn.execute(
            "UPDATE rooms SET invite_only = ? WHERE name = ?",
            (int(action.invite_only), action.room),
        )
    elif isinstance(action, BanAdded | InviteAdded):
        table = "room_bans" if isinstance(action, BanAdded) else "room_invites"
        conn.execute(
            f"INSERT OR IGNORE INTO {table} (room, username, created) VALUES (?, ?, ?)",  # noqa: S608
            (action.room, action.username, now),
        )
    elif isinstance(action, BanRemoved | InviteRemoved):
        table = "room_bans" if isinstance(action, BanRemoved) else "room_invites"
        conn.execute(
            f"DELETE FROM {table} WHERE room = ? AND username = ?",  # noqa: S608
            (action.room, action.username),
        )


def apply_changes(conn: sqlite3.Connection, actions: Sequence[StoreAction]) -> None:
    """Write ``actions`` in one transaction (all or nothing)."""
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    try:
        for action in actions:
            _apply_one(conn, action, now)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class RoomStore:
    """Async access to the room tables; every call runs on the database thread."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[RoomRecord]:
        def query(conn: sqlite3.Connection) -> list[RoomRecord]:
            banned = _names_by_room(conn, "room_bans")
            invited = _names_by_room(conn, "room_invites")
            rows = conn.execute(
                "SELECT name, owner, created, invite_only FROM rooms ORDER BY name"
            ).fetchall()
            return [
                RoomRecord(
                    name,
                    owner,
                    created,
                    bool(invite_only),
                    tuple(banned.get(name, ())),
                    tuple(invited.get(name, ())),
                )
                for name, owner, created, invite_only in rows
            ]

        return await self._db.run(query)

    async def apply(self, actions: Sequence[StoreAction]) -> None:
        """Persist one command's changes durably, in one transaction."""
        changes = tuple(actions)
        await self._db.run(lambda conn: apply_changes(conn, changes))

    async def add(self, name: str, owner: str) -> None:
        await self.apply([RoomCreated(name, owner)])

    async def delete(self, name: str) -> None:
        await self.apply([RoomDeleted(name)])
