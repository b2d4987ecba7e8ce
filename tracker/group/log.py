"""The ``group_log``: what each change of a group's live state names, in order.

Every change runs under the group's advisory lock (:meth:`tracker.group.coordinator.Group.run`);
:func:`write_changes` then writes, in that same transaction, the rows it changed
(:mod:`tracker.group.rows`) and one ``group_log`` entry per user, room and push
addressed to another tracker's session, and ``NOTIFY``\\ s :data:`CHANNEL` with only the
writer's id as payload. Other trackers ``LISTEN`` (:mod:`tracker.group.listener`) and
catch up with :func:`read_entries`: the entries after the last one they saw, then the
rows those entries name, so their copy is exactly the database.

Entries name users and rooms (ids and sequence numbers), never a member list, so
``NOTIFY`` payloads stay tiny and PostgreSQL's 8,000-byte limit is never near. Two
extras ride along: the members taken out of a room on purpose (left, kicked, banned),
so the other trackers' ``ROOM_UPDATE`` says so too, and an addressed push's body.
Entries older than :data:`LOG_RETENTION` are pruned (:func:`prune`): a tracker behind
by more has lost its lease and starts over from the rows anyway.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection

from commons.tracker_protocol import Event
from tracker.group.replica import ROOM_EVENTS, AddressedPush, ReplicaState
from tracker.group.rows import write_rows
from tracker.state.room_changes import RoomCreated, RoomDeleted, StoreAction
from tracker.state.tracker_state import Outcome
from tracker.storage.postgres import apply_room_change

CHANNEL = "p2pchat_group"
#: Log entries older than this are deleted (a tracker behind by more lost its lease).
LOG_RETENTION = 600.0


def _room_of(action: StoreAction) -> str:
    return action.name if isinstance(action, RoomCreated | RoomDeleted) else action.room


async def write_changes(
    conn: AsyncConnection[Any], state: ReplicaState, outcomes: list[Outcome], me: str
) -> int | None:
    """Store what ``outcomes`` changed and announce it; the last entry's ``seq``, or
    ``None`` when nothing another tracker must learn changed."""
    users, rooms = state.take_changes()
    now = time.time()
    for outcome in outcomes:
        for action in outcome.store:
            await apply_room_change(conn, action, now)
            rooms.add(_room_of(action))
    addressed = [
        AddressedPush(ref.username, ref.tracker, ref.session, message)
        for outcome in outcomes
        for targets, message in outcome.pushes
        if message.get("event") not in ROOM_EVENTS
        for target in targets
        if (ref := state.address_of(target)) is not None
    ]
    if not (users or rooms or addressed):
        return None
    await write_rows(conn, state, users, rooms)
    kinds = ["user"] * len(users) + ["room"] * len(rooms) + ["push"] * len(addressed)
    keys = [*users, *rooms, *(p.username for p in addressed)]
    # A member taken out on purpose (left, kicked, banned) is named with its room, so
    # the other trackers' ROOM_UPDATE says so too and members close their channel.
    # Every such member of the batch: several may leave one room in one batch.
    removed: dict[str, list[object]] = {}
    for outcome in outcomes:
        for _, message in outcome.pushes:
            if message.get("event") == Event.ROOM_UPDATE and "removed" in message:
                removed.setdefault(str(message["room"]), []).append(message["removed"])
    extras: list[str | None] = [None] * len(users)
    extras += [json.dumps({"removed": removed[n]}) if n in removed else None for n in rooms]
    extras += [
        json.dumps({"tracker": p.tracker, "session": p.session, "body": p.body}) for p in addressed
    ]
    cur = await conn.execute(
        "INSERT INTO group_log (kind, key, extra, at)"
        " SELECT k, n, e, %s FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(k, n, e)"
        " RETURNING seq",
        (now, kinds, keys, extras),
    )
    seqs = [int(row[0]) for row in await cur.fetchall()]
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, me))
    return max(seqs)


@dataclass(slots=True)
class Entries:
    """The entries after a given ``seq``, by what they name.

    ``last`` is the last entry's ``seq`` (``None``: there was none); ``removed`` the
    members taken out of each room on purpose; ``pushes`` the addressed pushes in order.
    """

    last: int | None = None
    count: int = 0
    users: set[str] = field(default_factory=set)
    rooms: set[str] = field(default_factory=set)
    removed: dict[str, list[object]] = field(default_factory=dict)
    pushes: list[AddressedPush] = field(default_factory=list)


async def read_entries(conn: AsyncConnection[Any], after: int) -> Entries:
    """The entries written after ``after``, in ``seq`` order."""
    cur = await conn.execute(
        "SELECT seq, kind, key, extra FROM group_log WHERE seq > %s ORDER BY seq",
        (after,),
    )
    rows = await cur.fetchall()
    entries = Entries()
    if not rows:
        return entries
    entries.last = int(rows[-1][0])
    entries.count = len(rows)
    entries.users = {key for _, kind, key, _ in rows if kind == "user"}
    entries.rooms = {key for _, kind, key, _ in rows if kind == "room"}
    for _, kind, key, extra in rows:
        if kind == "room" and extra is not None:
            records = json.loads(extra).get("removed")
            if isinstance(records, list):
                entries.removed.setdefault(key, []).extend(records)
    for _, kind, key, extra in rows:
        if kind == "push" and extra is not None:
            body = json.loads(extra)
            entries.pushes.append(
                AddressedPush(key, body["tracker"], body["session"], body["body"])
            )
    return entries


async def last_seq(conn: AsyncConnection[Any]) -> int:
    """The ``seq`` of the newest entry (0: none yet)."""
    cur = await conn.execute("SELECT coalesce(max(seq), 0) FROM group_log")
    row = await cur.fetchone()
    return 0 if row is None else int(row[0])


async def prune(conn: AsyncConnection[Any]) -> None:
    """Delete the entries older than :data:`LOG_RETENTION`."""
    await conn.execute("DELETE FROM group_log WHERE at < %s", (time.time() - LOG_RETENTION,))
