"""Relayed frames between the trackers of a group, through a ``relay`` table.

When the two ends of a relayed link are connected to different trackers of one
PostgreSQL group, the sender's tracker applies every rule of the relay as usual
(:meth:`~tracker.state.tracker_state.TrackerState.relay`: budget, shaping, pairs, ``--no-relay``)
and
hands the frame here instead of to a local connection. Then:

1. the frame (the push the receiver gets, already encoded: the body is the sender's
   base64 ciphertext, untouched) waits in a bounded outbox;
2. one writer task takes everything waiting and writes it as rows of the ``relay``
   table in one transaction, ``NOTIFY p2pchat_relay`` with the receiving tracker's id
   as the only payload (16 characters, never data), and commits;
3. the receiving tracker, woken by the notification (or by a poll every few seconds,
   should one be missed), deletes its rows in id order (``DELETE ... RETURNING``: each
   row is delivered once) and pushes each to its session, under the same slow-receiver
   rule as a local frame.

Frames of one link come from one sender's tracker, whose single writer commits them in
order with increasing ids, so they arrive in order. Ends (``RELAY_END``) take the same
path, so an end never overtakes the bodies before it.

**Bounds.** A tracker never has more than ``receiver_buffer`` bytes waiting in the
table for one receiving session, nor more than ``max_pending_bytes`` (and
``max_pending_rows``) for the sessions of one receiving tracker: a frame over either is
dropped and both ends get ``RELAY_END`` ``receiver_slow``, as for a receiver that does
not read on one tracker. Rows pile up only when the receiving *tracker* falls behind
(dead, cut off, overloaded): it takes its rows whatever its sessions do, and a session
that does not read loses frames there, at its own queue. A tracker that falls behind
fills only its own share. The outbox is bounded by ``max_pending_bytes`` too. Rows are deleted
when delivered, with their tracker when its lease is reaped, and after
``ROW_LIFETIME`` seconds in any case. Nothing here blocks the event loop: database
calls are the pool's async ones, and a failed write drops its frames with a clear end.
Relay rows are committed without waiting for the disk (``synchronous_commit`` off):
they are frames in flight, not acknowledged data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg import AsyncConnection

from commons.codec import JsonObject
from commons.rate_limited_log import RateLimitedLog
from commons.relay_frames import RELAY_EVENT, RelayEndCode, relay_end_push
from tracker.group.background_tasks import cancel_and_wait
from tracker.group.replica import RemoteSession, ReplicaState
from tracker.state.tracker_state import Forward, Outcome, SessionId
from tracker.storage.postgres import PgStorage

log = logging.getLogger("tracker.group_relay")

RELAY_CHANNEL = "p2pchat_relay"
#: Rows one tracker may have waiting in the table for the sessions of one other tracker.
MAX_PENDING_BYTES = 16 * 1024 * 1024
MAX_PENDING_ROWS = 8192
#: Room kept for ends (small) to a receiver whose bodies fill its share.
END_ALLOWANCE = 16 * 1024
#: Rows read and delivered per query.
READ_BATCH = 256
#: How often a tracker looks for rows without a notification (one may be missed while
#: its LISTEN connection is re-opened).
POLL_INTERVAL = 2.0
#: Undelivered rows older than this are deleted (their tracker is dead or stuck).
ROW_LIFETIME = 60.0


#: Relay rows are in flight, not acknowledged data: their commits need not wait for the
#: disk (a database crash loses them as a tracker crash loses its sockets' buffers).
_NO_SYNC = "SET LOCAL synchronous_commit TO OFF"


class RelayTarget(Protocol):
    """A local connection, as the relay sees it."""

    @property
    def unsent(self) -> int: ...

    def send(self, message: JsonObject) -> None: ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One row to write: ``body`` (an encoded push) for session ``to``.

    ``forward`` is the relayed frame it carries (``None`` for an end), which is what a
    drop must tell both ends about; ``origin_session`` the local session it comes from.
    """

    to: RemoteSession
    origin_session: SessionId
    body: str
    forward: Forward | None

    @property
    def size(self) -> int:
        return len(self.body)


def admit(
    items: Iterable[Outgoing],
    pending: Mapping[tuple[str, int], tuple[int, int]],
    receiver_buffer: int,
    max_bytes: int,
    max_rows: int,
) -> tuple[list[Outgoing], list[Outgoing]]:
    """Split ``items`` into rows to write and frames to drop, given what already waits
    in the table (``pending``: rows and bytes per receiving tracker and session).

    The bounds are per receiving session (``receiver_buffer``) and per receiving
    tracker (``max_bytes``, ``max_rows``): a tracker that is dead or behind fills only
    its own share, never the others'."""
    waiting: Counter[tuple[str, int]] = Counter()
    total: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    for (tracker, session), (count, size) in pending.items():
        waiting[(tracker, session)] += size
        total[tracker] += size
        rows[tracker] += count
    accepted: list[Outgoing] = []
    dropped: list[Outgoing] = []
    # A receiver one of whose bodies is dropped gets none of the later ones of the batch:
    # frames after a gap would only arrive before the end that reports it.
    cut: set[tuple[str, int]] = set()
    for item in items:
        tracker = item.to.tracker
        key = (tracker, item.to.session)
        allowance = 0 if item.forward is not None else END_ALLOWANCE
        fits = (
            waiting[key] + item.size <= receiver_buffer + allowance
            and total[tracker] + item.size <= max_bytes + allowance
            and rows[tracker] < max_rows
        )
        if not fits or (item.forward is not None and key in cut):
            dropped.append(item)
            if item.forward is not None:
                cut.add(key)
            continue
        waiting[key] += item.size
        total[tracker] += item.size
        rows[tracker] += 1
        accepted.append(item)
    return accepted, dropped


class GroupRelay:
    """This tracker's end of the ``relay`` table; see the module docstring."""

    def __init__(
        self,
        storage: PgStorage,
        state: ReplicaState,
        connections: Mapping[SessionId, RelayTarget],
        deliver: Callable[[Outcome], None],
        receiver_buffer: int,
        problems: RateLimitedLog,
        *,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        max_pending_rows: int = MAX_PENDING_ROWS,
    ) -> None:
        self._storage = storage
        self._state = state
        self._connections = connections
        self._deliver = deliver
        self._receiver_buffer = receiver_buffer
        self._problems = problems
        self._max_bytes = max_pending_bytes
        self._max_rows = max_pending_rows
        self._outbox: deque[Outgoing] = deque()
        self._outbox_bytes = 0
        self._outgoing = asyncio.Event()
        self._incoming = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        #: Rows written and delivered, frames dropped (tests, the bench, the log).
        self.counters: Counter[str] = Counter()

    # ------------------------------------------------------------ life

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_loop()),
            asyncio.create_task(self._read_loop()),
        ]

    async def stop(self) -> None:
        if await cancel_and_wait(self._tasks):
            log.warning("the group relay's tasks did not stop in 5 s")
        self._tasks = []

    def wake(self) -> None:
        """Rows for this tracker may be waiting (a notification named it)."""
        self._incoming.set()

    # ------------------------------------------------------------ sending

    def forward(self, forward: Forward, to: RemoteSession) -> None:
        """Carry a relayed body to a session of another tracker."""
        self._queue(Outgoing(to, forward.sender, _encode(forward.message), forward))

    def push(self, to: RemoteSession, message: JsonObject) -> None:
        """Carry a relay push (an end) to a session of another tracker."""
        self._queue(Outgoing(to, 0, _encode(message), None))

    def _queue(self, item: Outgoing) -> None:
        if self._outbox_bytes + item.size > self._max_bytes + END_ALLOWANCE:
            self._dropped([item], "the relay's outbox is full")
            return
        self._outbox.append(item)
        self._outbox_bytes += item.size
        self._outgoing.set()

    def _dropped(self, items: Iterable[Outgoing], why: str) -> None:
        for item in items:
            self.counters["dropped"] += 1
            if item.forward is None:
                continue
            self._problems.warning("group_relay_drop", "dropping relayed frames: %s", why)
            self._deliver(self._state.relay_dropped(item.forward))

    async def _write_loop(self) -> None:
        while True:
            await self._outgoing.wait()
            self._outgoing.clear()
            while self._outbox:
                batch = list(self._outbox)
                self._outbox.clear()
                self._outbox_bytes = 0
                try:
                    dropped = await self._write(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._problems.warning(
                        "group_relay_write", "writing relayed frames failed: %s", type(exc).__name__
                    )
                    dropped = batch
                self._dropped(dropped, "the receiver's tracker does not take them fast enough")

    async def _write(self, batch: list[Outgoing]) -> list[Outgoing]:
        me = self._state.me
        # Pipelined: one round trip to learn what waits, one to write and commit.
        pool = self._storage.pool
        async with pool.connection() as conn, conn.pipeline(), conn.transaction():
            accepted, dropped = await self._insert(conn, batch, me)
        self.counters["written"] += len(accepted)
        return dropped

    async def _insert(
        self, conn: AsyncConnection[Any], batch: list[Outgoing], me: str
    ) -> tuple[list[Outgoing], list[Outgoing]]:
        await conn.execute(_NO_SYNC)
        cur = await conn.execute(
            "SELECT tracker, session, count(*), sum(size) FROM relay"
            " WHERE origin = %s GROUP BY tracker, session",
            (me,),
        )
        pending = {
            (str(tracker), int(session)): (int(count), int(size))
            for tracker, session, count, size in await cur.fetchall()
        }
        accepted, dropped = admit(
            batch, pending, self._receiver_buffer, self._max_bytes, self._max_rows
        )
        if accepted:
            await conn.execute(
                "INSERT INTO relay"
                " (tracker, session, username, origin, origin_session, size, body, at)"
                " SELECT t, s, u, %s, o, z, b, extract(epoch from clock_timestamp())"
                " FROM unnest("
                "%s::text[], %s::bigint[], %s::text[], %s::bigint[], %s::int[], %s::text[]"
                ") AS r(t, s, u, o, z, b)",
                (
                    me,
                    [i.to.tracker for i in accepted],
                    [i.to.session for i in accepted],
                    [i.to.username for i in accepted],
                    [i.origin_session for i in accepted],
                    [i.size for i in accepted],
                    [i.body for i in accepted],
                ),
            )
            for tracker in sorted({i.to.tracker for i in accepted}):
                await conn.execute("SELECT pg_notify(%s, %s)", (RELAY_CHANNEL, tracker))
        return accepted, dropped

    # ------------------------------------------------------------ receiving

    async def _read_loop(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that comes as the event is set, and stop() would wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_INTERVAL):
                    await self._incoming.wait()
            self._incoming.clear()
            try:
                while await self._read() == READ_BATCH:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._problems.warning(
                    "group_relay_read", "reading relayed frames failed: %s", type(exc).__name__
                )
                await asyncio.sleep(0.5)

    async def _read(self) -> int:
        async with self._storage.pool.connection() as conn, conn.pipeline():
            async with conn.transaction():  # pipelined: one round trip
                await conn.execute(_NO_SYNC)
                cur = await conn.execute(
                    "DELETE FROM relay WHERE id IN"
                    " (SELECT id FROM relay WHERE tracker = %s ORDER BY id LIMIT %s)"
                    " RETURNING id, session, username, origin, origin_session, body",
                    (self._state.me, READ_BATCH),
                )
            rows = sorted(await cur.fetchall())
        for _, session, username, origin, origin_session, body in rows:
            try:
                self._arrived(int(session), str(username), str(origin), int(origin_session), body)
            except (ValueError, KeyError, TypeError) as exc:  # one bad row costs that row
                self._problems.warning(
                    "group_relay_row", "a relay row could not be delivered: %s", type(exc).__name__
                )
        return len(rows)

    def _arrived(
        self, session: SessionId, username: str, origin: str, origin_session: int, body: str
    ) -> None:
        """Deliver one row to its session, if that is still who it was written for."""
        state = self._state
        user = state.sessions.get(session)
        target = self._connections.get(session)
        if user is None or target is None or not user.local or user.username != username:
            self.counters["gone"] += 1  # the session ended: its partners were told
            return
        message = json.loads(body)
        self.counters["delivered"] += 1
        if message.get("event") != RELAY_EVENT:
            target.send(message)
            return
        sender = str(message["from"])
        link, back = int(message["link"]), bool(message["back"])
        back_to = RemoteSession(origin, origin_session, sender)

        def end_at_sender(code: RelayEndCode, text: str) -> None:
            self.push(back_to, relay_end_push(username, link, not back, code, text))

        if not state.limits.relay.enabled:
            state.relay_stats.refused += 1
            end_at_sender(RelayEndCode.RELAY_DISABLED, f"{username}'s tracker does not relay")
            return
        if target.unsent > self._receiver_buffer:
            self._problems.warning("relay_drop", "dropping relayed frames to a slow receiver")
            state.relay_stats.dropped += 1
            code = RelayEndCode.RECEIVER_SLOW
            end_at_sender(
                code, f"{username} does not read fast enough: relayed frames were dropped"
            )
            target.send(
                relay_end_push(
                    sender,
                    link,
                    back,
                    code,
                    "frames relayed to you were dropped: your connection does not read fast enough",
                )
            )
            return
        state.relay_arrived(origin, sender, user, time.time())
        target.send(message)

    # ------------------------------------------------------------ clean-up

    async def sweep(self, conn: AsyncConnection[Any]) -> None:
        """Delete rows nobody will read: for trackers gone, or too old."""
        # The database's clock, as for the leases: a tracker whose own clock runs ahead
        # must not delete the others' fresh rows.
        await conn.execute(
            "DELETE FROM relay WHERE at < extract(epoch from clock_timestamp()) - %s"
            " OR tracker NOT IN (SELECT id FROM trackers)",
            (ROW_LIFETIME,),
        )


def _encode(message: JsonObject) -> str:
    return json.dumps(message, separators=(",", ":"))
