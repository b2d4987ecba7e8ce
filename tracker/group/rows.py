"""The shared rows of a group: ``presence`` and room members, read and written.

Every tracker of a group keeps a full copy of the live state (:class:`ReplicaState`);
the database holds the same state as rows, which is what a tracker reads when it starts
over (:meth:`tracker.group.coordinator.Group.resync`: every row) or catches up (only the users and
rooms the new ``group_log`` entries name: :mod:`tracker.group.log`). The rows are
written under the group lock, in the transaction that writes the entries naming them,
so a tracker that reads the rows an entry names always finds the state after it.

Contract: ``read_presence``/``read_rooms`` with ``names`` return one item per name
(``None``: no such row, the user is offline or the room deleted); with ``None`` every
row. ``write_rows`` writes exactly the users and rooms it is given, from ``state``.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from tracker.group.replica import Presence, ReplicaState, RoomSnapshot


async def _select_named(
    conn: AsyncConnection[Any], query: str, column: str, names: set[str] | None
) -> tuple[list[TupleRow], dict[str, Any]]:
    """Rows of ``query`` whose ``column`` is in ``names`` (every row for ``None``), and
    the result to fill: empty, or ``None`` for each name until its row is found."""
    if names is None:
        cur = await conn.execute(query)
        return await cur.fetchall(), {}
    cur = await conn.execute(query + f" WHERE {column} = ANY(%s)", (list(names),))
    return await cur.fetchall(), dict.fromkeys(names)


async def read_presence(
    conn: AsyncConnection[Any], names: set[str] | None
) -> dict[str, Presence | None]:
    """Presence rows of ``names`` (``None`` for those without one), or every row."""
    if names is not None and not names:
        return {}
    rows, found = await _select_named(
        conn,
        "SELECT username, tracker, session, host, port, identity_key, since FROM presence",
        "username",
        names,
    )
    for row in rows:
        port = None if row[4] is None else int(row[4])
        found[row[0]] = Presence(row[0], row[1], int(row[2]), row[3], port, row[5], row[6])
    return found


async def read_rooms(
    conn: AsyncConnection[Any], names: set[str] | None
) -> dict[str, RoomSnapshot | None]:
    """Rooms of ``names`` with access lists and members (``None``: deleted), or every room."""
    where, params = ("", ()) if names is None else (" WHERE room = ANY(%s)", (list(names),))
    if names is not None and not names:
        return {}
    access: dict[str, dict[str, list[str]]] = {"room_bans": {}, "room_invites": {}}
    for table, found_names in access.items():
        cur = await conn.execute(
            f"SELECT room, username FROM {table}{where} ORDER BY created",  # noqa: S608
            params,
        )
        for room, username in await cur.fetchall():
            found_names.setdefault(room, []).append(username)
    rows, found = await _select_named(
        conn,
        "SELECT name, owner, invite_only, members, newcomer, COALESCE(last_active, created),"
        " member_relay_only, member_joined FROM rooms",
        "name",
        names,
    )
    for name, owner, invite_only, members, newcomer, last_active, relay_only, joined in rows:
        found[name] = RoomSnapshot(
            name,
            owner,
            bool(invite_only),
            tuple(access["room_bans"].get(name, ())),
            tuple(access["room_invites"].get(name, ())),
            tuple(members),
            bool(newcomer),
            float(last_active),
            tuple(relay_only),
            tuple(float(j) for j in joined),
        )
    return found


async def write_rows(
    conn: AsyncConnection[Any], state: ReplicaState, users: set[str], rooms: set[str]
) -> None:
    """Write ``users``' presence (deleted for those gone) and ``rooms``' members as
    ``state`` has them; a room no longer in ``state`` was deleted by its own change."""
    gone = [name for name in users if name not in state.online]
    present = [state.presence_of(state.online[name]) for name in users if name in state.online]
    cur = conn.cursor()
    if gone:
        await conn.execute("DELETE FROM presence WHERE username = ANY(%s)", (gone,))
    if present:
        await cur.executemany(
            "INSERT INTO presence (username, tracker, session, host, port, identity_key, since)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (username)"
            " DO UPDATE SET tracker = excluded.tracker, session = excluded.session,"
            " host = excluded.host, port = excluded.port, identity_key = excluded.identity_key,"
            " since = excluded.since",
            [
                (p.username, p.tracker, p.session, p.host, p.port, p.identity_key, p.since)
                for p in present
            ],
        )
    live = [
        (
            list(room.members),
            [m for m in room.members if m in room.relay_only],
            [room.joined.get(m, 0.0) for m in room.members],
            name,
        )
        for name in rooms
        if (room := state.rooms.get(name)) is not None
    ]
    if live:
        await cur.executemany(
            "UPDATE rooms SET members = %s, member_relay_only = %s, member_joined = %s"
            " WHERE name = %s",
            live,
        )
