"""One owner for every background task of a client (a small trio-style nursery).

The tracker session, the channel shell and the client spawn their tasks here (reader
loops, dials, the reconnect loop, the heartbeat), so that closing the client cancels and
awaits all of them in one place, and a task that dies of a bug is logged instead of
vanishing. Unlike :class:`asyncio.TaskGroup` it is not bound to one ``async with`` block:
a client is opened and closed by different calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from commons.errors import P2PChatError

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskSupervisor:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``coro`` as a supervised task. After :meth:`close` it is cancelled at once."""
        task = asyncio.create_task(coro, name=name)
        self.adopt(task)
        if self.closed:
            task.cancel()
        return task

    def adopt(self, task: asyncio.Task[Any]) -> None:
        """Supervise a task someone else created (e.g. a server's connection handler)."""
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, P2PChatError):
            log.error("background task %s failed", task.get_name(), exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every task but the caller's and wait for them to end."""
        self.closed = True
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current]
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
