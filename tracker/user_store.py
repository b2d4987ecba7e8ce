"""Accounts on disk: username, argon2id hash, bound identity key, creation time."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from tracker.database import Database


@dataclass(frozen=True, slots=True)
class UserRecord:
    username: str
    password_hash: str
    identity_key: str
    created: float


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

    async def add(self, username: str, password_hash: str, identity_key: str) -> bool:
        """Insert a user durably; False when the name (any case) is taken."""
        return await self._db.run(
            lambda conn: insert_user(conn, username, password_hash, identity_key)
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
    conn: sqlite3.Connection, username: str, password_hash: str, identity_key: str
) -> bool:
    """Insert one user in its own transaction; False when the name is taken."""
    try:
        conn.execute(
            "INSERT INTO users (username, password, identity_key, created) VALUES (?, ?, ?, ?)",
            (username, password_hash, identity_key, time.time()),
        )
    except sqlite3.IntegrityError:
        return False
    return True
