"""The tracker's one periodic sweep: expiry, login deadline, relay statistics, throttles.

Why one loop: there are no per-session timers (a timer per connection costs memory a
stranger with many sockets could make the tracker spend); one task wakes at most every
second and does every periodic duty in turn.

Contract, each pass: sessions silent for ``heartbeat_interval * heartbeat_misses`` are
aborted; connections that have not logged in within ``auth_timeout`` are aborted
(``_awaiting_login`` is in arrival order, so the pass stops at the first one still in
time); every ``stats_interval`` the relay statistics are logged if they changed; every
throttle save interval the throttle tables are saved (a failed save is logged at a
bounded rate and retried at the next interval).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from tracker.server.server_base import ServerBase, log
from tracker.state.relay_budget import RelayStats
from tracker.storage.throttle_store import GROUP_SAVE_INTERVAL, SAVE_INTERVAL


class Maintenance(ServerBase):
    """The periodic sweep (:meth:`_sweep`, run as one task from ``start()`` to ``stop()``)."""

    async def _sweep(self) -> None:
        config = self.config
        max_silence = config.heartbeat_interval * config.heartbeat_misses
        period = min(config.heartbeat_interval, config.auth_timeout) / 2
        save_interval = SAVE_INTERVAL if self.storage.kind == "sqlite" else GROUP_SAVE_INTERVAL
        next_save = time.monotonic() + save_interval
        next_stats = time.monotonic() + config.stats_interval
        logged_stats = RelayStats()  # nothing relayed yet: nothing to log
        while True:
            await asyncio.sleep(min(period, 1.0))
            now = time.time()
            for session in self.state.expired(now, max_silence):
                conn = self.connections.get(session)
                if conn is not None:
                    log.info("session %d silent for %.1f s; closing it", session, max_silence)
                    conn.abort()
            deadline = time.monotonic() - config.auth_timeout
            for conn in list(self._awaiting_login.values()):
                if conn.opened > deadline:
                    break
                conn.abort()
            if time.monotonic() >= next_stats:
                next_stats = time.monotonic() + config.stats_interval
                stats = self.state.relay_stats
                if stats != logged_stats:
                    log.info("%s", stats.line(self.state.relay_pairs()))
                    logged_stats = replace(stats)
            if time.monotonic() >= next_save:
                next_save = time.monotonic() + save_interval
                await self._save_throttles()

    async def _save_throttles(self) -> None:
        if self._throttles is None:
            return
        try:
            await self._throttles.save()
        except Exception as exc:
            self.problems.warning(
                "throttle_save", "could not save throttle state: %s", type(exc).__name__
            )
