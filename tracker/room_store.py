"""Rooms on disk: name, owner, creation time. Membership is live state and not stored."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from tracker.database import Database


@dataclass(frozen=True, slots=True)
class RoomRecord:
    name: str
    owner: str
    created: float


class RoomStore:
    """Async access to the ``rooms`` table; every call runs on the database thread."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[RoomRecord]:
        def query(conn: sqlite3.Connection) -> list[RoomRecord]:
            rows = conn.execute("SELECT name, owner, created FROM rooms ORDER BY name").fetchall()
            return [RoomRecord(*row) for row in rows]

        return await self._db.run(query)

    async def add(self, name: str, owner: str) -> None:
        await self._db.run(
            lambda conn: conn.execute(
                "INSERT INTO rooms (name, owner, created) VALUES (?, ?, ?)",
                (name, owner, time.time()),
            )
        )

    async def delete(self, name: str) -> None:
        await self._db.run(lambda conn: conn.execute("DELETE FROM rooms WHERE name = ?", (name,)))
