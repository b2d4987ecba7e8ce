"""Several trackers on one PostgreSQL database: one community, any tracker.

Each tracker keeps a full copy of the group's live state (:class:`ReplicaState`: every
online user, every room with its members) and serves reads (``LIST_PEERS``,
``LIST_ROOMS``, ``LOOKUP``) from it. Everything that changes live state (LOGIN, RESUME,
LOGOUT, a session's end, every room command) runs through :meth:`Group.run`:

1. take the group's advisory lock (one change at a time in the whole group; the
   changes queued meanwhile on this tracker share one transaction);
2. catch up: apply the ``group_log`` entries other trackers wrote since the last one
   seen (re-reading the rows they name), so the copy is exactly the database;
3. run the commands with the unchanged rules of :class:`~tracker.state.tracker_state.TrackerState`;
4. write what they changed (``presence`` rows, room members, durable room facts) and
   one ``group_log`` entry per user, room and push addressed to another tracker's
   session, then ``NOTIFY`` (the payload is only the writer's id) and commit.

Other trackers ``LISTEN``; on a notification they catch up the same way and deliver to
their own sessions what the entries mean (``ROOM_UPDATE``, ``KICKED``,
``SESSION_REPLACED``...).

This module is the coordinator: the lock, the batching of changes, catching up, and
the tasks that keep a tracker in the group. The jobs it coordinates live apart:
:mod:`tracker.group.log` (the entries, written and read), :mod:`tracker.group.rows`
(the live-state rows), :mod:`tracker.group.leases` (leases and reaping dead trackers),
:mod:`tracker.group.listener` (the ``LISTEN`` connection) and
:mod:`tracker.group.relay` (relayed frames between trackers).

Contract: a command's outcome is returned only once the transaction that stored it
committed; a failed transaction fails every command of its batch and the copy is read
again from the database (the copy may have changed with the commands).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection

from commons.rate_limited_log import RateLimitedLog
from tracker.group import leases as group_leases
from tracker.group.background_tasks import cancel_and_wait
from tracker.group.leases import new_tracker_id
from tracker.group.listener import GroupListener
from tracker.group.log import CHANNEL, LOG_RETENTION, last_seq, prune, read_entries, write_changes
from tracker.group.relay import GroupRelay
from tracker.group.replica import ReplicaState
from tracker.group.rows import read_presence, read_rooms
from tracker.state.tracker_state import Outcome
from tracker.storage.postgres import GROUP_LOCK, PgStorage

__all__ = ["CHANNEL", "LOG_RETENTION", "Group", "GroupOp", "Op", "new_tracker_id"]

log = logging.getLogger("tracker.group")

#: A change of live state, run on the up-to-date copy (:meth:`Group.run`).
Op = Callable[[ReplicaState], Outcome]
#: One queued part of a group transaction: it runs on the locked connection.
GroupOp = Callable[[AsyncConnection[Any]], Awaitable[Outcome]]


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
        #: Relayed frames between the group's trackers (:mod:`tracker.group.relay`).
        self.relay = relay
        self.state = state
        self._deliver = deliver
        self.lease_seconds = lease_seconds
        self._problems = problems
        self.applied = 0
        self._local = asyncio.Lock()
        self._queue: list[tuple[GroupOp, asyncio.Future[Outcome]]] = []
        self._draining = False
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener = GroupListener(storage.url, state, self._wake, relay, problems)
        self._stopping = False
        #: Transactions written, entries applied from others (tests and the bench).
        self.counters = {"transactions": 0, "applied": 0, "reaped": 0, "rejoined": 0}

    @property
    def me(self) -> str:
        return self.state.me

    # ------------------------------------------------------------ life

    async def start(self) -> None:
        await group_leases.register(self._storage, self.me, self.lease_seconds)
        await self._listener.open()
        await self.resync()
        self._tasks = [
            asyncio.create_task(self._listener.run()),
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
        stuck = await cancel_and_wait(self._tasks)
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
        await self._listener.close()

    async def resync(self) -> None:
        """Read the whole live state under the lock and start over from it."""
        async with self._local:
            async with self._storage.pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (GROUP_LOCK,))
                seq = await last_seq(conn)
                presence = await read_presence(conn, None)
                rooms = await read_rooms(conn, None)
            self.applied = seq
            outcome = self.state.reset(
                [p for p in presence.values() if p], [r for r in rooms.values() if r]
            )
        self._deliver(outcome)

    # ------------------------------------------------------------ changes

    async def run(self, op: Op) -> Outcome:
        """Run ``op`` on the up-to-date copy, under the group lock; its outcome once stored."""

        async def on_copy(conn: AsyncConnection[Any]) -> Outcome:
            return op(self.state)

        return await self._submit(on_copy)

    async def _submit(self, group_op: GroupOp) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((group_op, future))
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

    async def _run_batch(self, batch: list[tuple[GroupOp, asyncio.Future[Outcome]]]) -> None:
        results: list[tuple[asyncio.Future[Outcome], Outcome | BaseException]] = []
        async with self._local:
            try:
                async with self._storage.pool.connection() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (GROUP_LOCK,))
                    caught_up = await self._catch_up(conn)
                    for group_op, future in batch:
                        try:
                            results.append((future, await group_op(conn)))
                        except Exception as exc:  # one command's bug fails that command only
                            log.exception("a group command failed")
                            results.append((future, exc))
                    outcomes = [r for _, r in results if isinstance(r, Outcome)]
                    seq = await write_changes(conn, self.state, outcomes, self.me)
                    if seq is not None:
                        self.applied = max(self.applied, seq)
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

    # ------------------------------------------------------------ others' changes

    async def _catch_up(self, conn: AsyncConnection[Any]) -> Outcome:
        """Apply the entries others wrote since the last one seen; what to deliver."""
        entries = await read_entries(conn, self.applied)
        if entries.last is None:
            return Outcome()
        rooms = await read_rooms(conn, entries.rooms)
        members = {m for room in rooms.values() if room for m in room.members}
        missing = members - entries.users - self.state.online.keys()
        presence = await read_presence(conn, entries.users | missing)
        self.applied = entries.last
        self.counters["applied"] += entries.count
        return self.state.apply(presence, rooms, entries.pushes, entries.removed)

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
                if not await group_leases.renew(self._storage, self.me, self.lease_seconds):
                    await self._rejoin()
                    continue
                await self._reap()
                if self.relay is not None:
                    async with self._storage.pool.connection() as conn:
                        await self.relay.sweep(conn)
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + 60
                    async with self._storage.pool.connection() as conn:
                        await prune(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._problems.warning("lease", "lease upkeep failed: %s", type(exc).__name__)

    async def _rejoin(self) -> None:
        """Our lease was taken: our sessions are gone from the group; close and rejoin."""
        log.warning("tracker %s lost its lease; closing its sessions and joining again", self.me)
        self.counters["rejoined"] += 1
        self.state.me = new_tracker_id()
        await group_leases.register(self._storage, self.me, self.lease_seconds)
        await self.resync()

    async def _reap(self) -> None:
        """End the sessions of trackers whose lease expired."""
        dead = await group_leases.expired(self._storage, self.me)
        if not dead:
            return

        async def reap(conn: AsyncConnection[Any]) -> Outcome:
            outcome, gone = await group_leases.reap(conn, self.state, dead)
            self.counters["reaped"] += len(gone)
            return outcome

        self._deliver(await self._submit(reap))
