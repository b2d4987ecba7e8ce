"""The TCP listener other peers dial; each accepted connection goes to a handler.

Bounded: at most ``max_pending`` connections may be in their handshake at once (the
handler enforces its own timeout); extra ones are closed at once, so a flood of idle
sockets cannot pile up. Handler tasks belong to the client's task supervisor, which
cancels them when the client closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from peer.supervisor import TaskSupervisor

log = logging.getLogger(__name__)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class P2PListener:
    def __init__(self, handler: Handler, tasks: TaskSupervisor, max_pending: int = 64) -> None:
        self._handler = handler
        self._tasks = tasks
        self._max_pending = max_pending
        self._pending = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind and listen; returns the bound address (port 0 -> a free port)."""
        self._server = await asyncio.start_server(self._accept, host, port)
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._pending >= self._max_pending or self._tasks.closed:
            log.warning("too many inbound handshakes in progress; connection dropped")
            writer.close()
            return
        self._pending += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.adopt(task)
        try:
            await self._handler(reader, writer)
        finally:
            self._pending -= 1

    async def close(self) -> None:
        server = self._server
        self._server = None
        if server is None:
            return
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)
