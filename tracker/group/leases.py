"""Leases: how the trackers of a group learn that one of them is gone.

Each tracker has a row in ``trackers`` whose ``lease_until`` it renews every third of
``lease_seconds``, on the database's clock (a tracker whose own clock runs fast or
slow must not take the others' leases). Every tracker looks for expired leases at the
same pace and removes the dead tracker's sessions (members are told, as for any
session that ends): a tracker killed with ``kill -9`` is gone from every room within
``lease_seconds`` plus one renewal period. A tracker that finds its own lease taken (it
was cut off from the database for too long) closes all its sessions, which come back by
RESUME, and joins again under a new id (:meth:`tracker.group.coordinator.Group.start` runs the
renewal loop).

Contract: :func:`reap` runs under the group lock (a step of
:meth:`~tracker.group.coordinator.Group.run`'s batch) and takes a tracker's sessions only if its
lease is still expired there, so two trackers reaping the same one end its sessions
once.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from psycopg import AsyncConnection

from tracker.group.replica import ReplicaState
from tracker.state.tracker_state import Outcome
from tracker.storage.postgres import PgStorage

log = logging.getLogger("tracker.group")


def new_tracker_id() -> str:
    return secrets.token_hex(8)


async def register(storage: PgStorage, me: str, lease_seconds: float) -> None:
    """Join the group as ``me``, with a fresh lease."""
    async with storage.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO trackers (id, started, lease_until)"
            " VALUES (%s, extract(epoch from clock_timestamp()),"
            " extract(epoch from clock_timestamp()) + %s)",
            (me, lease_seconds),
        )


async def renew(storage: PgStorage, me: str, lease_seconds: float) -> bool:
    """Extend ``me``'s lease; ``False`` if it was taken (``me`` was reaped)."""
    async with storage.pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE trackers SET lease_until = extract(epoch from clock_timestamp()) + %s"
            " WHERE id = %s RETURNING id",
            (lease_seconds, me),
        )
        return await cur.fetchone() is not None


async def expired(storage: PgStorage, me: str) -> list[str]:
    """The other trackers whose lease has expired (read without the group lock)."""
    async with storage.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id FROM trackers"
            " WHERE lease_until < extract(epoch from clock_timestamp()) AND id <> %s",
            (me,),
        )
        return [str(row[0]) for row in await cur.fetchall()]


async def reap(
    conn: AsyncConnection[Any], state: ReplicaState, dead: list[str]
) -> tuple[Outcome, set[str]]:
    """End the sessions of those of ``dead`` whose lease is still expired, in ``state``
    and in ``presence``; what to deliver, and the trackers removed."""
    cur = await conn.execute(
        "DELETE FROM trackers"
        " WHERE id = ANY(%s) AND lease_until < extract(epoch from clock_timestamp())"
        " RETURNING id",
        (dead,),
    )
    gone = {str(row[0]) for row in await cur.fetchall()}
    outcome = Outcome()
    if not gone:
        return outcome, gone
    for user in list(state.online.values()):
        ref = state.address_of(user.session)
        if ref is not None and ref.tracker in gone:
            ended = state.disconnect(user.session)
            outcome.pushes.extend(ended.pushes)
    cur = await conn.execute(
        "DELETE FROM presence WHERE tracker = ANY(%s) RETURNING username", (list(gone),)
    )
    state.changed_users.update(str(row[0]) for row in await cur.fetchall())
    log.warning("trackers %s stopped renewing their lease; their sessions ended", gone)
    return outcome, gone
