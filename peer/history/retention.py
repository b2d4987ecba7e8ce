"""What the history forgets: the quotas, and messages older than the retention period.

Bounds, because a hostile peer can send as many messages as it likes: at most
:attr:`HistoryLimits.max_per_conversation` messages per conversation (its oldest go
first), :attr:`HistoryLimits.max_messages` in all and :attr:`HistoryLimits.max_bytes`
of sealed entries and index rows (over either, the oldest messages of the *largest*
conversation go first, so a flood in one conversation cannot push out another's
history), at most :attr:`HistoryLimits.max_conversations` conversations (the emptiest
goes), and at most :data:`peer.history.search.MAX_WORDS_PER_MESSAGE` indexed words per
message. A full history evicts down to 95% of a limit, so it does not delete on every
message. Blocks (SQLite).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence

from peer.history.conversations import Conversation, ConversationTable
from peer.history.entries import HistoryLimits, HistoryStats
from peer.history.sealing import RowSealer, hour_of, row_cost


def low_water(limit: int) -> int:
    """Evict down to 95% of a limit, so a full history does not delete on every message."""
    return max(0, limit - max(1, limit // 20))


class Retention:
    """Applies ``limits`` to one open file; ``stats`` counts what it evicts."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        table: ConversationTable,
        rows: RowSealer,
        limits: HistoryLimits,
        stats: HistoryStats,
    ) -> None:
        self._conn = conn
        self._table = table
        self._rows = rows
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
        """Delete the oldest ``count`` messages of ``conv`` (and their index rows)."""
        if count <= 0:
            return
        rows = self._conn.execute(
            "SELECT id, conversation, hour, sealed, terms FROM messages"
            " WHERE conversation = ? ORDER BY id LIMIT ?",
            (conv.id, count),
        ).fetchall()
        self._delete_rows(rows)
        self._stats.evicted += len(rows)

    def _delete_rows(self, rows: Sequence[tuple[int, int, int, bytes, int]]) -> None:
        """Delete ``(id, conversation, hour, sealed, term count)`` rows, their index rows
        (found again from the decrypted text: the index is never stored twice) and keep
        the counts. A row that no longer opens leaves index rows that point nowhere,
        which search ignores; ids are never reused."""
        pairs: list[tuple[int, int]] = []
        for stored in self._table.open_rows([r[:4] for r in rows]):
            pairs.extend((term, stored.row) for term in self._rows.terms(stored.entry.text))
        for _, cid, _, sealed, nterms in rows:
            self._table.count_removed(cid, row_cost(sealed, nterms))
        self._conn.executemany("DELETE FROM terms WHERE term = ? AND message = ?", pairs)
        self._conn.executemany("DELETE FROM messages WHERE id = ?", [(r[0],) for r in rows])

    def prune(self, now: float, days: float) -> int:
        """Delete messages that arrived more than ``days`` days before ``now``; returns
        how many. Works by whole hours: a message may outlive the limit by under an hour."""
        cutoff = hour_of(now - days * 86400.0)
        total = 0
        while True:
            rows = self._conn.execute(
                "SELECT id, conversation, hour, sealed, terms FROM messages"
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
