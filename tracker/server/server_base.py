"""What every part of the tracker's I/O shell shares: its parts, its tables, its logger.

Why: :class:`tracker.server.server.TrackerServer` is split by job (:mod:`tracker.server.delivery`,
:mod:`tracker.server.account_commands`, :mod:`tracker.server.maintenance`,
:mod:`tracker.server.server`),
and each part reads the same state. :class:`ServerBase` builds it once and offers the two
things every part needs: :meth:`~ServerBase.spawn` (a task the server owns and cancels at
``stop()``) and :meth:`~ServerBase._change` (change live state here, or through the group
when trackers share a database).

Contract: nothing here does I/O; every part logs through :data:`log` (the logger
``tracker.server``, which operators and tests filter on), and problems a client can
trigger go through :attr:`ServerBase.problems`, one line per kind per 10 s.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from commons.rate_limited_log import RateLimitedLog
from tracker.accounts.accounts import Accounts
from tracker.accounts.hashing import PasswordHashing
from tracker.config import TrackerConfig
from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import KeyedTokenBuckets
from tracker.network.listener import Listener
from tracker.server.startup import admission_for
from tracker.state.tracker_state import Outcome, SessionId, TrackerState
from tracker.storage.base import Storage
from tracker.storage.open import open_storage
from tracker.storage.throttle_store import ThrottleStore

if TYPE_CHECKING:
    from tracker.group.coordinator import Group
    from tracker.group.relay import GroupRelay
    from tracker.server.connection import TrackerConnection

log = logging.getLogger("tracker.server")


class ServerBase:
    """The tracker's parts and tables (see :class:`tracker.server.server.TrackerServer`)."""

    realm: str

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config.validated()
        self.session_ids = itertools.count(1)
        #: Problems a client can trigger are logged here: one line per kind per 10 s.
        self.problems = RateLimitedLog(log)
        #: What strangers did that was refused or failed, by kind (logs and tests).
        self.counters: Counter[str] = Counter()
        self.connections: dict[SessionId, TrackerConnection] = {}
        self._awaiting_login: dict[SessionId, TrackerConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: Listener | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.storage: Storage = open_storage(
            self.config.database, self.config.data_dir, self.config.database_pool_size
        )
        #: SALT requests per source (each is a database read a stranger can ask for).
        self._salts = KeyedTokenBuckets(KeyedRecords("salt_source"), 50, 10.0)
        self.state = TrackerState(
            self.config.room_capacity, self.config.heartbeat_interval, self.config.max_frame_size
        )
        self.admission = admission_for(self.config)
        self.ssl_context: ssl.SSLContext
        self.cert_path: Path
        self.cert_fingerprint = ""
        self.port = self.config.port
        self.accounts: Accounts
        self._hashing: PasswordHashing | None = None
        self._throttles: ThrottleStore | None = None
        #: With ``--database postgresql://``: this tracker's part in a group, and its
        #: end of the relay between the group's trackers.
        self.group: Group | None = None
        self.group_relay: GroupRelay | None = None

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _change(self, op: Callable[[TrackerState], Outcome]) -> Outcome:
        """Change live state: here, or through the group when trackers share a database."""
        if self.group is None:
            return op(self.state)
        return await self.group.run(op)
