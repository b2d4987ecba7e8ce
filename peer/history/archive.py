"""The history for asyncio code: one worker thread, batched writes, a bounded queue.

:class:`HistoryArchive` wraps a :class:`peer.history.store.HistoryStore` (which blocks)
and runs every call on its own single thread, in order, so the event loop never waits
for SQLite or the disk. Messages to keep are queued by :meth:`record` (never blocks)
and written in batches: at most :data:`FLUSH_DELAY` seconds after the first one, or
at once when :data:`FLUSH_BATCH` are waiting. The queue holds at most
:data:`MAX_PENDING` messages: when a peer sends faster than the disk writes, the excess
is not kept and :attr:`dropped` counts it (the chat says so).

Retention runs at open and then every :data:`PRUNE_INTERVAL`. ``days == 0`` keeps
nothing: the file is deleted and nothing is recorded.

A file sealed under another identity key (the user replaced theirs) cannot be opened:
it is renamed ``history.sqlite3.unreadable-<time>`` (never deleted: the old key may be
found again) and a new history starts; :attr:`notice` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from crypto.history_seal import HistoryKeys
from peer.history.entries import (
    Amendment,
    HistoryEntry,
    HistoryLimits,
    SearchResult,
    StoredEntry,
)
from peer.history.file import HistoryError, HistoryKeyError, remove_history_files
from peer.history.store import HistoryStore

log = logging.getLogger(__name__)

T = TypeVar("T")
FLUSH_DELAY = 0.5
FLUSH_BATCH = 200
MAX_PENDING = 5000
PRUNE_INTERVAL = 3600.0


class HistoryArchive:
    """Async front of one user's history file. Create, then :meth:`open`."""

    def __init__(
        self,
        path: Path,
        keys: Callable[[bytes], HistoryKeys],
        *,
        days: int,
        limits: HistoryLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.days = days
        self._keys = keys
        self._limits = limits or HistoryLimits()
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2pchat-history")
        self._store: HistoryStore | None = None
        self._pending: list[HistoryEntry | Amendment] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._prune_task: asyncio.Task[None] | None = None
        self._closed = False
        self.dropped = 0
        self.failed: str | None = None
        #: Something the user should read about their history (set by :meth:`open`).
        self.notice: str | None = None

    @property
    def enabled(self) -> bool:
        """True while messages are being kept."""
        return self._store is not None and not self._closed

    @property
    def session_start_row(self) -> int:
        return 0 if self._store is None else self._store.session_start_row

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Open (or create) the file, or delete it when ``days`` is 0. Never raises:
        a history that cannot be used is reported in :attr:`failed` and left off."""
        if self.days <= 0:
            await self._run(remove_history_files, self.path)
            self._pending.clear()
            return
        try:
            self._store = await self._run(self._open_blocking)
        except HistoryError as exc:
            self.failed = exc.message
            log.warning("history not available: %s", exc.code)
            self._pending.clear()
            return
        await self.prune()
        self._prune_task = asyncio.get_running_loop().create_task(self._prune_forever())
        if self._pending:
            self._schedule_flush(0.0)

    def _open_blocking(self) -> HistoryStore:
        try:
            return HistoryStore.open(self.path, self._keys, self._limits)
        except HistoryKeyError:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            kept = self.path.with_name(f"{self.path.name}.unreadable-{stamp}")
            self.path.rename(kept)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(str(self.path) + suffix).rename(Path(str(kept) + suffix))
            self.notice = (
                "your history was sealed with another identity key of this account (a key"
                f" replaced?); it is kept, unreadable, in {kept.name}, and a new history starts"
            )
            return HistoryStore.open(self.path, self._keys, self._limits)

    async def close(self) -> None:
        """Write what is queued, then close the file and the thread."""
        if self._closed:
            return
        if self._prune_task is not None:
            self._prune_task.cancel()
        with contextlib.suppress(Exception):
            await self.flush()
        self._closed = True
        store, self._store = self._store, None
        if store is not None:
            with contextlib.suppress(Exception):
                await self._run(store.close)
        self._executor.shutdown(wait=False)

    # ------------------------------------------------------------------ writing

    def record(self, entry: HistoryEntry | Amendment) -> None:
        """Queue ``entry`` (a message, or an edit, delete or reaction of one) to be kept,
        in order (before :meth:`open` too); never blocks."""
        if self._closed or self.failed is not None or self.days <= 0:
            return
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append(entry)
        if self._store is None:
            return
        self._schedule_flush(0.0 if len(self._pending) >= FLUSH_BATCH else FLUSH_DELAY)

    def _schedule_flush(self, delay: float) -> None:
        if self._flush_handle is not None:
            if delay > 0:
                return
            self._flush_handle.cancel()
        loop = asyncio.get_running_loop()
        self._flush_handle = loop.call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        """Write every queued message now (searches call this first)."""
        while self._pending and self._store is not None:
            batch, self._pending = self._pending, []
            try:
                await self._run(self._store.append, batch)
            except (HistoryError, OSError) as exc:
                self.failed = str(exc)
                log.warning("history write failed: %s", type(exc).__name__)
                return
            except Exception as exc:  # sqlite3.Error and friends: keep the chat running
                self.failed = f"could not write the history ({type(exc).__name__})"
                log.warning("history write failed: %s", type(exc).__name__)
                return

    # ------------------------------------------------------------------ reading

    async def conversations(self, limit: int) -> list[str]:
        if self._store is None:
            return []
        return await self._run(self._store.conversations, limit)

    async def recent(self, conversation: str, limit: int) -> list[StoredEntry]:
        """The last ``limit`` messages of ``conversation`` from before this session."""
        store = self._store
        if store is None:
            return []
        return await self._run(store.recent, conversation, limit, store.session_start_row + 1)

    async def search(self, query: str, conversation: str | None, limit: int) -> SearchResult:
        store = self._store
        if store is None:
            return SearchResult([])
        await self.flush()
        return await self._run(store.search, query, conversation, limit)

    async def around(self, row: int, before: int, after: int) -> list[StoredEntry]:
        store = self._store
        if store is None:
            return []
        await self.flush()
        return await self._run(store.around, row, before, after)

    # ------------------------------------------------------------------ retention

    async def prune(self) -> int:
        store = self._store
        if store is None:
            return 0
        return await self._run(store.prune, self._clock(), float(self.days))

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_INTERVAL)
            with contextlib.suppress(HistoryError, OSError):
                await self.prune()

    async def set_days(self, days: int) -> int:
        """Change the retention now; 0 deletes everything and stops keeping. Returns how
        many messages went."""
        self.days = days
        if days <= 0:
            count = 0 if self._store is None else self._store.stats.messages
            await self.clear(keep_recording=False)
            return count
        if self._store is None and self.failed is None:
            await self.open()
            return 0
        return await self.prune()

    async def clear(self, *, keep_recording: bool = True) -> None:
        """Delete the whole history (the file, with a new salt and keys if it goes on)."""
        self._pending.clear()
        store, self._store = self._store, None
        if store is not None:
            # No point sealing the index into a file about to be deleted.
            await self._run(functools.partial(store.close, save_index=False))
        await self._run(remove_history_files, self.path)
        if keep_recording and self.days > 0:
            self._store = await self._run(HistoryStore.open, self.path, self._keys, self._limits)
