"""What the history forgets: the quotas, and messages older than the retention period.

Bounds, because a hostile peer can send as many messages as it likes: at most
:attr:`HistoryLimits.max_per_conversation` messages per conversation (its oldest go
first), :attr:`HistoryLimits.max_messages` in all and :attr:`HistoryLimits.max_bytes`
of sealed entries and index rows (over either, the oldest messages of the *largest*
conversation go first, so a flood in one conversation cannot push out another's
history), at most :attr:`HistoryLimits.max_conversations` conversations (the emptiest
goes), and at most :data:`peer.history.search.MAX_WORDS_PER_MESSAGE` indexed words per
message (their index postings are counted in the byte quota: :func:`row_cost`). A full
history evicts down to 95% of a limit, so it does not delete on every message.

Deleting reads no message: the word index (:mod:`peer.history.index`) is in memory;
``before_delete`` lets its owner drop the sealed copy in the same transaction (it holds
the deleted messages' words) and compact the index later. Blocks (SQLite).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Sequence

from peer.history.conversations import Conversation, ConversationTable
from peer.history.entries import HistoryLimits, HistoryStats
from peer.history.sealing import hour_of, row_cost


def low_water(limit: int) -> int:
    """Evict down to 95% of a limit, so a full history does not delete on every message."""
    return max(0, limit - max(1, limit // 20))


class Retention:
    """Applies ``limits`` to one open file; ``stats`` counts what it evicts."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        table: ConversationTable,
        limits: HistoryLimits,
        stats: HistoryStats,
        before_delete: Callable[[], None],
    ) -> None:
        self._conn = conn
        self._table = table
        self._before_delete = before_delete
        self.limits = limits
        self._stats = stats

    def make_room_for_conversation(self) -> None:
        """Room for one more conversation: when full, forget the one with the fewest
        messages (the oldest among equals), so a thousand one-line strangers cannot lock
        out a friend."""
        if len(self._table) < self.limits.max_conversations:
            return
        victim = min(self._table.all(), key=lambda c: (c.messages, c.last))
        self._evict(victim, victim.messages)
        self._table.remove(victim)

    def apply_quotas(self, touched: set[int]) -> None:
        """After writing to the conversations ``touched``: evict until within limits."""
        limits, table, stats = self.limits, self._table, self._stats
        for cid in touched:
            conv = table.get(cid)
            if conv is not None and conv.messages > limits.max_per_conversation:
                self._evict(conv, conv.messages - low_water(limits.max_per_conversation))
        table.refresh_totals()
        while stats.messages > limits.max_messages or stats.bytes > limits.max_bytes:
            if stats.messages > limits.max_messages:
                largest = max(table.all(), key=lambda c: (c.messages, c.bytes))
                excess = stats.messages - low_water(limits.max_messages)
            else:
                largest = max(table.all(), key=lambda c: (c.bytes, c.messages))
                excess = 1
            count = max(excess, math.ceil(largest.messages / 20))
            self._evict(largest, min(count, largest.messages))
            table.refresh_totals()

    def _evict(self, conv: Conversation, count: int) -> None:
        """Delete the oldest ``count`` messages of ``conv``."""
        if count <= 0:
            return
        rows = self._conn.execute(
            "SELECT id, conversation, length(sealed) FROM messages"
            " WHERE conversation = ? ORDER BY id LIMIT ?",
            (conv.id, count),
        ).fetchall()
        self._delete_rows(rows)
        self._stats.evicted += len(rows)

    def _delete_rows(self, rows: Sequence[tuple[int, int, int]]) -> None:
        """Delete ``(id, conversation, sealed size)`` rows and keep the counts. Their index
        postings go stale (search finds no row behind them; ids are never reused).
        Runs inside the caller's transaction, as does ``before_delete``."""
        if not rows:
            return
        self._before_delete()
        for _, cid, size in rows:
            self._table.count_removed(cid, row_cost(size))
        self._conn.executemany("DELETE FROM messages WHERE id = ?", [(r[0],) for r in rows])

    def prune(self, now: float, days: float) -> int:
        """Delete messages that arrived more than ``days`` days before ``now``; returns
        how many. Works by whole hours: a message may outlive the limit by under an hour."""
        cutoff = hour_of(now - days * 86400.0)
        total = 0
        while True:
            rows = self._conn.execute(
                "SELECT id, conversation, length(sealed) FROM messages"
                " WHERE hour < ? ORDER BY id LIMIT 2000",
                (cutoff,),
            ).fetchall()
            if not rows:
                break
            with self._conn:
                self._conn.execute("BEGIN")
                self._delete_rows(rows)
                self._table.save_counts()
            total += len(rows)
        if total:
            self._table.refresh_totals()
            self._conn.execute("PRAGMA incremental_vacuum")
        return total
