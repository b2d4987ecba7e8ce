"""Several trackers on one PostgreSQL database: one community, any tracker.

Each tracker keeps a full copy of the group's live state (:class:`ReplicaState`: every
online user, every room with its members) and serves reads (``LIST_PEERS``,
``LIST_ROOMS``, ``LOOKUP``) from it. Everything that changes live state (LOGIN, RESUME,
LOGOUT, a session's end, every room command) runs through :meth:`Group.run`:

1. take the group's advisory lock (one change at a time in the whole group; the
   changes queued meanwhile on this tracker share one transaction);
2. catch up: apply the ``group_log`` entries other trackers wrote since the last one
   seen (re-reading the rows they name), so the copy is exactly the database;
3. run the commands with the unchanged rules of :class:`~tracker.state.TrackerState`;
4. write what they changed (``presence`` rows, room members, durable room facts) and
   one ``group_log`` entry per user, room and push addressed to another tracker's
   session, then ``NOTIFY`` (the payload is only the writer's id) and commit.

Other trackers ``LISTEN``; on a notification they catch up the same way and deliver to
their own sessions what the entries mean (``ROOM_UPDATE``, ``KICKED``,
``SESSION_REPLACED``...). ``NOTIFY`` payloads stay tiny: entries name users and rooms
(ids and sequence numbers), never a member list, so PostgreSQL's 8,000-byte limit is
never near.

**Leases.** Each tracker has a row in ``trackers`` whose ``lease_until`` it renews every
third of ``lease_seconds``, on the database's clock. Every tracker looks for expired
leases at the same pace and removes the dead tracker's sessions (members are told, as
for any session that ends): a tracker killed with ``kill -9`` is gone from every room
within ``lease_seconds`` plus one renewal period. A tracker that finds its own lease
taken (it was cut off from the database for too long) closes all its sessions, which
come back by RESUME, and joins again under a new id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection

from commons.rate_limited_log import RateLimitedLog
from commons.tracker_protocol import Event
from tracker.group_relay import RELAY_CHANNEL, GroupRelay
from tracker.pg_storage import GROUP_LOCK, PgStorage, apply_room_change
from tracker.replica import (
    ROOM_EVENTS,
    AddressedPush,
    Presence,
    ReplicaState,
    RoomSnapshot,
)
from tracker.room_changes import RoomCreated, RoomDeleted, StoreAction
from tracker.state import Outcome

log = logging.getLogger("tracker.group")

CHANNEL = "p2pchat_group"
#: Log entries older than this are deleted (a tracker behind by more lost its lease).
LOG_RETENTION = 600.0

Op = Callable[[ReplicaState], Outcome]
Step = Callable[[AsyncConnection[Any]], Awaitable[Outcome]]


def new_tracker_id() -> str:
    return secrets.token_hex(8)


def _room_of(action: StoreAction) -> str:
    return action.name if isinstance(action, RoomCreated | RoomDeleted) else action.room


class Group:
    """This tracker's part in the group; see the module docstring."""

    def __init__(
        self,
        storage: PgStorage,
        state: ReplicaState,
        deliver: Callable[[Outcome], None],
        lease_seconds: float,
        problems: RateLimitedLog,
        relay: GroupRelay | None = None,
    ) -> None:
        self._storage = storage
        #: Relayed frames between the group's trackers (:mod:`tracker.group_relay`).
        self.relay = relay
        self.state = state
        self._deliver = deliver
        self.lease_seconds = lease_seconds
        self._problems = problems
        self.applied = 0
        self._local = asyncio.Lock()
        self._queue: list[tuple[Step, asyncio.Future[Outcome]]] = []
        self._draining = False
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listen: AsyncConnection[Any] | None = None
        self._stopping = False
        #: Transactions written, entries applied from others (tests and the bench).
        self.counters = {"transactions": 0, "applied": 0, "reaped": 0, "rejoined": 0}

    @property
    def me(self) -> str:
        return self.state.me

    # ------------------------------------------------------------ life

    async def start(self) -> None:
        await self._register()
        await self._open_listener()
        await self.resync()
        self._tasks = [
            asyncio.create_task(self._listen_loop()),
            asyncio.create_task(self._catch_up_loop()),
            asyncio.create_task(self._lease_loop()),
        ]
        if self.relay is not None:
            self.relay.start()

    async def stop(self) -> None:
        """Leave the group: end this tracker's sessions in everyone's copy, drop the lease."""
        self._stopping = True
        if self.relay is not None:
            await self.relay.stop()
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # bounded: a task that swallowed its cancellation must not hang us
            _, stuck = await asyncio.wait(self._tasks, timeout=5)
            if stuck:
                log.warning("%d group tasks did not stop in 5 s", len(stuck))

        async def leave(conn: AsyncConnection[Any]) -> Outcome:
            outcome = Outcome()
            for user in [u for u in self.state.online.values() if u.tracker is None]:
                ended = self.state.disconnect(user.session)
                outcome.pushes.extend(ended.pushes)
            await conn.execute("DELETE FROM trackers WHERE id = %s", (self.me,))
            return outcome

        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._submit(leave), 10)
        if self._listen is not None:
            with contextlib.suppress(Exception):
                await self._listen.close()

    async def _register(self) -> None:
        async with self._storage.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO trackers (id, started, lease_until)"
                " VALUES (%s, extract(epoch from clock_timestamp()),"
                " extract(epoch from clock_timestamp()) + %s)",
                (self.me, self.lease_seconds),
            )

    async def _open_listener(self) -> None:
        self._listen = await psycopg.AsyncConnection.connect(self._storage.url, autocommit=True)
        await self._listen.execute(f"LISTEN {CHANNEL}")
        await self._listen.execute(f"LISTEN {RELAY_CHANNEL}")

    async def resync(self) -> None:
        """Read the whole live state under the lock and start over from it."""
        async with self._local:
            async with self._storage.pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (GROUP_LOCK,))
                cur = await conn.execute("SELECT coalesce(max(seq), 0) FROM group_log")
                row = await cur.fetchone()
                seq = 0 if row is None else int(row[0])
                presence = await _presence(conn, None)
                rooms = await _rooms(conn, None)
            self.applied = seq
            outcome = self.state.reset(
                [p for p in presence.values() if p], [r for r in rooms.values() if r]
            )
        self._deliver(outcome)

    # ------------------------------------------------------------ changes

    async def run(self, op: Op) -> Outcome:
        """Run ``op`` on the up-to-date copy, under the group lock; its outcome once stored."""

        async def step(conn: AsyncConnection[Any]) -> Outcome:
            return op(self.state)

        return await self._submit(step)

    async def _submit(self, step: Step) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((step, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._run_batch(batch)
        finally:
            self._draining = False

    async def _run_batch(self, batch: list[tuple[Step, asyncio.Future[Outcome]]]) -> None:
        results: list[tuple[asyncio.Future[Outcome], Outcome | BaseException]] = []
        async with self._local:
            try:
                async with self._storage.pool.connection() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (GROUP_LOCK,))
                    caught_up = await self._catch_up(conn)
                    for step, future in batch:
                        try:
                            results.append((future, await step(conn)))
                        except Exception as exc:  # one command's bug fails that command only
                            log.exception("a group command failed")
                            results.append((future, exc))
                    outcomes = [r for _, r in results if isinstance(r, Outcome)]
                    await self._write(conn, outcomes)
            except Exception as exc:
                self._problems.warning(
                    "group_write", "group transaction failed: %s", type(exc).__name__
                )
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                self._resync_soon()
                return
            self.counters["transactions"] += 1
        self._deliver(caught_up)
        for future, result in results:
            if future.done():
                continue
            if isinstance(result, Outcome):
                future.set_result(result)
            else:
                future.set_exception(result)
        self.state.forget_gone_remotes()

    def _resync_soon(self) -> None:
        """The copy may now differ from the database: read it all again (retrying)."""

        async def again() -> None:
            delay = 0.2
            while not self._stopping:
                try:
                    await self.resync()
                    return
                except Exception as exc:
                    self._problems.warning("resync", "resync failed: %s", type(exc).__name__)
                    await asyncio.sleep(delay)
                    delay = min(5.0, delay * 2)

        self._tasks.append(asyncio.get_running_loop().create_task(again()))

    async def _write(self, conn: AsyncConnection[Any], outcomes: list[Outcome]) -> None:
        state = self.state
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
            return
        gone = [name for name in users if name not in state.online]
        present = [state.presence_of(state.online[name]) for name in users if name in state.online]
        cur = conn.cursor()
        if gone:
            await conn.execute("DELETE FROM presence WHERE username = ANY(%s)", (gone,))
        if present:
            await cur.executemany(
                "INSERT INTO presence (username, tracker, session, host, port, identity_key, since)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (username) DO UPDATE SET"
                " tracker = excluded.tracker, session = excluded.session, host = excluded.host,"
                " port = excluded.port, identity_key = excluded.identity_key,"
                " since = excluded.since",
                [
                    (p.username, p.tracker, p.session, p.host, p.port, p.identity_key, p.since)
                    for p in present
                ],
            )
        live = [(list(state.rooms[n].members), n) for n in rooms if n in state.rooms]
        if live:
            await cur.executemany("UPDATE rooms SET members = %s WHERE name = %s", live)
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
            json.dumps({"tracker": p.tracker, "session": p.session, "body": p.body})
            for p in addressed
        ]
        cur = await conn.execute(
            "INSERT INTO group_log (kind, key, extra, at)"
            " SELECT k, n, e, %s FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(k, n, e)"
            " RETURNING seq",
            (now, kinds, keys, extras),
        )
        seqs = [int(row[0]) for row in await cur.fetchall()]
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.me))
        self.applied = max(self.applied, *seqs)

    # ------------------------------------------------------------ others' changes

    async def _catch_up(self, conn: AsyncConnection[Any]) -> Outcome:
        """Apply the entries others wrote since the last one seen; what to deliver."""
        cur = await conn.execute(
            "SELECT seq, kind, key, extra FROM group_log WHERE seq > %s ORDER BY seq",
            (self.applied,),
        )
        entries = await cur.fetchall()
        if not entries:
            return Outcome()
        users = {key for _, kind, key, _ in entries if kind == "user"}
        names = {key for _, kind, key, _ in entries if kind == "room"}
        removed: dict[str, list[object]] = {}
        for _, kind, key, extra in entries:
            if kind == "room" and extra is not None:
                records = json.loads(extra).get("removed")
                if isinstance(records, list):
                    removed.setdefault(key, []).extend(records)
        pushes = []
        for _, kind, key, extra in entries:
            if kind == "push" and extra is not None:
                body = json.loads(extra)
                pushes.append(AddressedPush(key, body["tracker"], body["session"], body["body"]))
        rooms = await _rooms(conn, names)
        members = {m for room in rooms.values() if room for m in room.members}
        missing = members - users - self.state.online.keys()
        presence = await _presence(conn, users | missing)
        self.applied = int(entries[-1][0])
        self.counters["applied"] += len(entries)
        return self.state.apply(presence, rooms, pushes, removed)

    async def _listen_loop(self) -> None:
        delay = 0.5
        while True:
            try:
                if self._listen is None or self._listen.closed:
                    await self._open_listener()
                    self._wake.set()  # notifications may have been missed meanwhile
                    if self.relay is not None:
                        self.relay.wake()
                assert self._listen is not None
                async for notice in self._listen.notifies():
                    if notice.channel == RELAY_CHANNEL:
                        if notice.payload == self.me and self.relay is not None:
                            self.relay.wake()
                    elif notice.payload != self.me:
                        self._wake.set()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._problems.warning("listen", "LISTEN connection lost: %s", type(exc).__name__)
                if self._listen is not None:
                    with contextlib.suppress(Exception):
                        await self._listen.close()
                self._listen = None
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)

    async def _catch_up_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                async with self._local, self._storage.pool.connection() as conn:
                    outcome = await self._catch_up(conn)
                self._deliver(outcome)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._problems.warning("catch_up", "catching up failed: %s", type(exc).__name__)
                await asyncio.sleep(0.5)
                self._wake.set()

    # ------------------------------------------------------------ leases

    async def _lease_loop(self) -> None:
        period = self.lease_seconds / 3
        next_prune = time.monotonic()
        while True:
            await asyncio.sleep(period)
            try:
                if not await self._renew():
                    await self._rejoin()
                    continue
                await self._reap()
                if self.relay is not None:
                    async with self._storage.pool.connection() as conn:
                        await self.relay.sweep(conn)
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + 60
                    async with self._storage.pool.connection() as conn:
                        await conn.execute(
                            "DELETE FROM group_log WHERE at < %s", (time.time() - LOG_RETENTION,)
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._problems.warning("lease", "lease upkeep failed: %s", type(exc).__name__)

    async def _renew(self) -> bool:
        async with self._storage.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE trackers SET lease_until = extract(epoch from clock_timestamp()) + %s"
                " WHERE id = %s RETURNING id",
                (self.lease_seconds, self.me),
            )
            return await cur.fetchone() is not None

    async def _rejoin(self) -> None:
        """Our lease was taken: our sessions are gone from the group; close and rejoin."""
        log.warning("tracker %s lost its lease; closing its sessions and joining again", self.me)
        self.counters["rejoined"] += 1
        self.state.me = new_tracker_id()
        await self._register()
        await self.resync()

    async def _reap(self) -> None:
        """End the sessions of trackers whose lease expired."""
        async with self._storage.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id FROM trackers"
                " WHERE lease_until < extract(epoch from clock_timestamp()) AND id <> %s",
                (self.me,),
            )
            dead = [str(row[0]) for row in await cur.fetchall()]
        if not dead:
            return

        async def reap(conn: AsyncConnection[Any]) -> Outcome:
            cur = await conn.execute(
                "DELETE FROM trackers"
                " WHERE id = ANY(%s) AND lease_until < extract(epoch from clock_timestamp())"
                " RETURNING id",
                (dead,),
            )
            gone = {str(row[0]) for row in await cur.fetchall()}
            outcome = Outcome()
            if not gone:
                return outcome
            state = self.state
            for user in list(state.online.values()):
                ref = state.address_of(user.session)
                if ref is not None and ref.tracker in gone:
                    ended = state.disconnect(user.session)
                    outcome.pushes.extend(ended.pushes)
            cur = await conn.execute(
                "DELETE FROM presence WHERE tracker = ANY(%s) RETURNING username", (list(gone),)
            )
            state.changed_users.update(str(row[0]) for row in await cur.fetchall())
            self.counters["reaped"] += len(gone)
            log.warning("trackers %s stopped renewing their lease; their sessions ended", gone)
            return outcome

        self._deliver(await self._submit(reap))


async def _presence(
    conn: AsyncConnection[Any], names: set[str] | None
) -> dict[str, Presence | None]:
    """Presence rows of ``names`` (``None`` for those without one), or every row."""
    query = "SELECT username, tracker, session, host, port, identity_key, since FROM presence"
    if names is None:
        cur = await conn.execute(query)
        found: dict[str, Presence | None] = {}
    else:
        if not names:
            return {}
        cur = await conn.execute(query + " WHERE username = ANY(%s)", (list(names),))
        found = dict.fromkeys(names)
    for row in await cur.fetchall():
        port = None if row[4] is None else int(row[4])
        found[row[0]] = Presence(row[0], row[1], int(row[2]), row[3], port, row[5], row[6])
    return found


async def _rooms(
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
    query = "SELECT name, owner, invite_only, members FROM rooms"
    if names is None:
        cur = await conn.execute(query)
        found: dict[str, RoomSnapshot | None] = {}
    else:
        cur = await conn.execute(query + " WHERE name = ANY(%s)", (list(names),))
        found = dict.fromkeys(names)
    for name, owner, invite_only, members in await cur.fetchall():
        found[name] = RoomSnapshot(
            name,
            owner,
            bool(invite_only),
            tuple(access["room_bans"].get(name, ())),
            tuple(access["room_invites"].get(name, ())),
            tuple(members),
        )
    return found
