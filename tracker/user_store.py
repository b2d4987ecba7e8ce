"""Accounts on disk: username, argon2id hash, bound identity key, creation time."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from enum import Enum

from tracker.database import Database
from tracker.invite_store import spend_sync


@dataclass(frozen=True, slots=True)
class UserRecord:
    username: str
    password_hash: str
    identity_key: str
    created: float


class AddResult(Enum):
    ADDED = "added"
    TAKEN = "taken"
    INVITE_INVALID = "invite_invalid"


class UserStore:
    """Async access to the ``users`` table; every call runs on the database thread."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, username: str) -> UserRecord | None:
        def query(conn: sqlite3.Connection) -> UserRecord | None:
            row = conn.execute(
                "SELECT username, password, identity_key, created FROM users WHERE username = ?",
                (username,),
            ).fetchone()
            return None if row is None else UserRecord(*row)

        return await self._db.run(query)

    async def add(
        self, username: str, password_hash: str, identity_key: str, invite: str | None = None
    ) -> AddResult:
        """Insert a user durably, spending ``invite`` in the same transaction if given."""
        return await self._db.run(
            lambda conn: insert_user(conn, username, password_hash, identity_key, invite)
        )

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        await self._db.run(
            lambda conn: conn.execute(
                "UPDATE users SET password = ? WHERE username = ?", (password_hash, username)
            )
        )

    async def set_identity_key(self, username: str, identity_key: str) -> None:
        await self._db.run(
            lambda conn: conn.execute(
                "UPDATE users SET identity_key = ? WHERE username = ?", (identity_key, username)
            )
        )

    async def count(self) -> int:
        return await self._db.run(
            lambda conn: int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])
        )


def insert_user(
    conn: sqlite3.Connection,
    username: str,
    password_hash: str,
    identity_key: str,
    invite: str | None = None,
) -> AddResult:
    """Insert one user (and spend ``invite``) atomically.

    The name is checked first, so a taken name never spends the invite. A savepoint
    rather than ``BEGIN`` lets a caller seed many users in one transaction of its own.
    """
    now = time.time()
    conn.execute("SAVEPOINT add_user")
    try:
        try:
            conn.execute(
                "INSERT INTO users (username, password, identity_key, created) VALUES (?, ?, ?, ?)",
                (username, password_hash, identity_key, now),
            )
        except sqlite3.IntegrityError:
            result = AddResult.TAKEN
        else:
            spent = invite is None or spend_sync(conn, invite, username, now)
            result = AddResult.ADDED if spent else AddResult.INVITE_INVALID
        if result is not AddResult.ADDED:
            conn.execute("ROLLBACK TO add_user")
    except BaseException:
        conn.execute("ROLLBACK TO add_user")
        conn.execute("RELEASE add_user")
        raise
    conn.execute("RELEASE add_user")
    return result
