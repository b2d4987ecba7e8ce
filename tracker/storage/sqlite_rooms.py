"""Rooms in SQLite: name, owner, invite-only flag, ban list and invite list, members,
when a member was last online, whether a newcomer made it, and the operator's pending
removals.

Members (``room_members``) are durable, in join order (the ``seq`` column), each with
its ``relay_only`` choice; who is online is live state and not stored. Members, ban
and invite lists are keyed by username ignoring case (usernames are unique ignoring
case) and go away with their room (``ON DELETE CASCADE``). :func:`apply_changes` writes
all the changes of one command in one transaction, so a crash never keeps half of a BAN
(say, the ban without the invite it revoked).
The SQL of :class:`tracker.storage.sqlite.SqliteStorage`.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence

from tracker.state.room_changes import (
    BanAdded,
    BanRemoved,
    InviteAdded,
    InviteRemoved,
    MemberAdded,
    MemberModeChanged,
    MemberRemoved,
    RoomCreated,
    RoomDeleted,
    RoomModeChanged,
    RoomUsed,
    StoreAction,
)
from tracker.storage.base import RoomRecord


def _names_by_room(conn: sqlite3.Connection, table: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for room, username in conn.execute(f"SELECT room, username FROM {table} ORDER BY created"):  # noqa: S608
        found[room].append(username)
    return found


def _apply_one(conn: sqlite3.Connection, action: StoreAction, now: float) -> None:
    if isinstance(action, RoomCreated):
        conn.execute(
            "INSERT INTO rooms (name, owner, created, invite_only, newcomer, last_active)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (action.name, action.owner, now, int(action.invite_only), int(action.newcomer), now),
        )
    elif isinstance(action, RoomDeleted):
        conn.execute("DELETE FROM rooms WHERE name = ?", (action.name,))
        conn.execute("DELETE FROM room_removals WHERE name = ?", (action.name,))
    elif isinstance(action, RoomUsed):
        conn.execute(
            "UPDATE rooms SET last_active = MAX(COALESCE(last_active, 0), ?) WHERE name = ?",
            (action.at, action.room),
        )
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
    elif isinstance(action, MemberAdded):
        conn.execute(
            "INSERT OR IGNORE INTO room_members (room, username, relay_only) VALUES (?, ?, ?)",
            (action.room, action.username, int(action.relay_only)),
        )
    elif isinstance(action, MemberRemoved):
        conn.execute(
            "DELETE FROM room_members WHERE room = ? AND username = ?",
            (action.room, action.username),
        )
    elif isinstance(action, MemberModeChanged):
        conn.execute(
            "UPDATE room_members SET relay_only = ? WHERE room = ? AND username = ?",
            (int(action.relay_only), action.room, action.username),
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


def _members_by_room(conn: sqlite3.Connection) -> dict[str, list[tuple[str, bool, float]]]:
    """Each room's members in join order; ``seq`` (one counter for every room) is what
    orders a user's rooms too."""
    found: dict[str, list[tuple[str, bool, float]]] = defaultdict(list)
    rows = conn.execute("SELECT room, username, relay_only, seq FROM room_members ORDER BY seq")
    for room, username, relay_only, seq in rows:
        found[room].append((username, bool(relay_only), float(seq)))
    return found


def all_rooms(conn: sqlite3.Connection) -> list[RoomRecord]:
    banned = _names_by_room(conn, "room_bans")
    invited = _names_by_room(conn, "room_invites")
    members = _members_by_room(conn)
    rows = conn.execute(
        "SELECT name, owner, created, invite_only, newcomer, COALESCE(last_active, created)"
        " FROM rooms ORDER BY name"
    ).fetchall()
    return [
        RoomRecord(
            name,
            owner,
            created,
            bool(invite_only),
            tuple(banned.get(name, ())),
            tuple(invited.get(name, ())),
            bool(newcomer),
            last_active,
            tuple(members.get(name, ())),
        )
        for name, owner, created, invite_only, newcomer, last_active in rows
    ]


def request_removal(conn: sqlite3.Connection, name: str) -> bool:
    """Note the operator's wish to delete room ``name``; False if there is none."""
    if conn.execute("SELECT 1 FROM rooms WHERE name = ?", (name,)).fetchone() is None:
        return False
    conn.execute(
        "INSERT OR REPLACE INTO room_removals (name, requested) VALUES (?, ?)",
        (name, time.time()),
    )
    return True


def removals(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT name FROM room_removals ORDER BY requested")]


def clear_removals(conn: sqlite3.Connection, names: Sequence[str]) -> None:
    conn.executemany("DELETE FROM room_removals WHERE name = ?", [(name,) for name in names])
