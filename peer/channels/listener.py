"""The TCP listener other peers dial; each accepted connection goes to a handler.

Bounded by :class:`peer.channels.inbound_limits.HandshakeSlots`: at most ``per_source``
connections from one source (IPv4 address, IPv6 /64) may be in their handshake at once,
and ``total`` in all; an extra one is closed at once, or takes the place of the oldest
handshake of the busiest source (the handler enforces its own timeout). Refusals are
logged at a bounded rate (:class:`commons.rate_limited_log.RateLimitedLog`). Handler
tasks belong to the client's task supervisor, which cancels them when the client closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable

from commons.network_source import source_key
from commons.rate_limited_log import RateLimitedLog
from peer.channels.inbound_limits import DEFAULT_PER_SOURCE, DEFAULT_TOTAL, HandshakeSlots
from peer.supervisor import TaskSupervisor

log = logging.getLogger(__name__)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class P2PListener:
    def __init__(
        self,
        handler: Handler,
        tasks: TaskSupervisor,
        max_pending: int = DEFAULT_TOTAL,
        per_source: int = DEFAULT_PER_SOURCE,
    ) -> None:
        self._handler = handler
        self._tasks = tasks
        self.slots = HandshakeSlots(max_pending, per_source)
        self._tokens = itertools.count(1)
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._server: asyncio.Server | None = None
        self._log = RateLimitedLog(log)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind and listen; returns the bound address (port 0 -> a free port)."""
        self._server = await asyncio.start_server(self._accept, host, port)
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        source = source_key(str(peername[0])) if peername else source_key("")
        token = next(self._tokens)
        decision = self.slots.admit(source, token) if not self._tasks.closed else None
        if decision is None or not decision.admitted:
            why = "the client is closing" if decision is None else decision.reason
            self._log.warning("inbound-refused", "inbound connection dropped: %s", why)
            writer.transport.abort()
            return
        if decision.evict is not None:
            evicted = self._writers.pop(decision.evict, None)
            if evicted is not None:
                evicted.transport.abort()
            self._log.warning("inbound-evicted", "slow inbound handshake dropped for a newcomer")
        self._writers[token] = writer
        task = asyncio.current_task()
        if task is not None:
            self._tasks.adopt(task)
        try:
            await self._handler(reader, writer)
        finally:
            self._writers.pop(token, None)
            self.slots.release(source, token)

    async def close(self) -> None:
        server = self._server
        self._server = None
        if server is None:
            return
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)
