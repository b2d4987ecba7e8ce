"""The ``LISTEN`` connection of a group tracker: who to wake when another tracker writes.

A tracker learns of the others' changes by ``LISTEN`` on two channels, on a connection
of its own (outside the pool, in autocommit):

* :data:`tracker.group.log.CHANNEL`: another tracker wrote ``group_log`` entries (the
  payload is the writer's id; our own notifications are ignored): wake the catch-up;
* :data:`tracker.group.relay.RELAY_CHANNEL`: relayed frames wait for a tracker (the
  payload is its id): wake the relay's reader if it is this tracker.

Notifications carry no data, so a lost one costs only time: when the connection drops
it is opened again (backing off up to 5 s) and both readers are woken, since
notifications may have been missed meanwhile; the relay also polls on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg
from psycopg import AsyncConnection

from commons.rate_limited_log import RateLimitedLog
from tracker.group.log import CHANNEL
from tracker.group.relay import RELAY_CHANNEL, GroupRelay
from tracker.group.replica import ReplicaState


class GroupListener:
    """Wakes ``catch_up`` (and ``relay``) on the notifications meant for this tracker."""

    def __init__(
        self,
        url: str,
        state: ReplicaState,
        catch_up: asyncio.Event,
        relay: GroupRelay | None,
        problems: RateLimitedLog,
    ) -> None:
        self._url = url
        self._state = state
        self._catch_up = catch_up
        self._relay = relay
        self._problems = problems
        self._conn: AsyncConnection[Any] | None = None

    async def open(self) -> None:
        self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        await self._conn.execute(f"LISTEN {CHANNEL}")
        await self._conn.execute(f"LISTEN {RELAY_CHANNEL}")

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()

    async def run(self) -> None:
        """Listen until cancelled, opening the connection again when it drops."""
        delay = 0.5
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    await self.open()
                    self._catch_up.set()  # notifications may have been missed meanwhile
                    if self._relay is not None:
                        self._relay.wake()
                assert self._conn is not None
                async for notice in self._conn.notifies():
                    if notice.channel == RELAY_CHANNEL:
                        if notice.payload == self._state.me and self._relay is not None:
                            self._relay.wake()
                    elif notice.payload != self._state.me:
                        self._catch_up.set()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._problems.warning("listen", "LISTEN connection lost: %s", type(exc).__name__)
                await self.close()
                self._conn = None
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
