"""Throttle tables shared by the trackers of a PostgreSQL group: every event counts once.

:mod:`tracker.storage.throttle_store` hands each save what happened to each changed key since
the last one (:class:`~tracker.limits.keyed_records.Pending`). Here that is applied to the
shared row by the table's own rule (:func:`~tracker.limits.keyed_records.shared_row`, the
arithmetic the tracker uses locally) at the database's clock, while holding the row's
advisory lock from reading it to committing the new one. So events that several
trackers save at the same moment add up, and none is lost or counted twice.

The locks: :data:`THROTTLE_LOCKS` of them, a key's chosen by a hash, taken in one order
(two trackers cannot deadlock). One lock per row would run PostgreSQL out of its
shared lock table on a save of a spray of keys; a few dozen keep unrelated saves
mostly apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from tracker.limits.keyed_records import Record, shared_row
from tracker.storage.base import SavedThrottles, ThrottleChange, ThrottleRow

#: The first half of a throttle row's two-part advisory lock (the one-part locks of
#: :mod:`tracker.storage.postgres` live in another space).
THROTTLE_LOCK_CLASS = 0x70327401
#: How many locks the throttle rows share.
THROTTLE_LOCKS = 64


def throttle_lock(kind: str, key: str) -> int:
    """The second half of the advisory lock that guards one throttle row."""
    digest = hashlib.blake2b(f"{kind}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % THROTTLE_LOCKS


async def load(conn: AsyncConnection[Any]) -> list[ThrottleRow]:
    cur = await conn.execute("SELECT kind, key, value, stamp FROM throttle")
    return [(k, key, float(v), float(s)) for k, key, v, s in await cur.fetchall()]


async def save(
    conn: AsyncConnection[Any], changes: Sequence[ThrottleChange], since: float
) -> SavedThrottles:
    """Apply ``changes`` in one transaction; return the rows stamped after ``since``."""
    async with conn.transaction():
        if changes:
            locks = sorted({throttle_lock(c.kind, c.key) for c in changes})
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::integer[]) AS k",
                (THROTTLE_LOCK_CLASS, locks),
            )
            await _apply(conn, changes)
        cur = await conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
        clock_row = await cur.fetchone()
        assert clock_row is not None
        cur = await conn.execute(
            "SELECT kind, key, value, stamp FROM throttle WHERE stamp > %s", (since,)
        )
        rows = await cur.fetchall()
    return SavedThrottles(
        [(k, key, float(v), float(s)) for k, key, v, s in rows], float(clock_row[0])
    )


async def _apply(conn: AsyncConnection[Any], changes: Sequence[ThrottleChange]) -> None:
    """Read the changed keys' rows (under their locks), write what the rules make of them."""
    cur = await conn.execute(
        "SELECT extract(epoch FROM clock_timestamp())::float8, t.kind, t.key, t.value,"
        " t.stamp FROM unnest(%s::text[], %s::text[]) AS c (kind, key)"
        " LEFT JOIN throttle AS t ON t.kind = c.kind AND t.key = c.key",
        ([c.kind for c in changes], [c.key for c in changes]),
    )
    found = await cur.fetchall()
    now = float(found[0][0])
    rows = {(k, key): Record(float(v), float(s)) for _, k, key, v, s in found if k is not None}
    gone: list[tuple[str, str]] = []
    kept: list[tuple[str, str, float, float]] = []
    for change in changes:
        row = rows.get((change.kind, change.key))
        new = shared_row(row, change.pending, change.rule, now)
        if new is None and row is not None:
            gone.append((change.kind, change.key))
        elif new is not None and new is not row:
            kept.append((change.kind, change.key, new.value, new.stamp))
    writer = conn.cursor()
    if gone:
        await writer.executemany("DELETE FROM throttle WHERE kind = %s AND key = %s", gone)
    if kept:
        await writer.executemany(
            "INSERT INTO throttle (kind, key, value, stamp) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (kind, key) DO UPDATE"
            " SET value = excluded.value, stamp = excluded.stamp",
            kept,
        )
