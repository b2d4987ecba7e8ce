"""Stopping a part's background tasks without letting one of them hang the shutdown.

A task that swallows its cancellation (or is stuck in a call that ignores it) would
make a plain ``await`` on it wait for ever, and a tracker could then never stop: the
wait is bounded, and what did not stop is returned for the caller to report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

#: How long stopping waits for cancelled tasks to finish (the callers' logs say 5 s).
STOP_TIMEOUT = 5.0


async def cancel_and_wait(tasks: Collection[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
    """Cancel ``tasks`` and wait up to :data:`STOP_TIMEOUT` seconds; those still running."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return set()
    _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
    return stuck
