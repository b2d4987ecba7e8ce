"""The encrypted local message history: one SQLite file per user, nothing readable at rest.

:class:`HistoryStore` is an open history file: it writes messages, reads a
conversation's last ones or those around a row, and searches them. Its parts:

* :mod:`peer.history.file`: the file, its tables, opening it and checking its key;
* :mod:`peer.history.sealing`: how entries and conversation names are sealed in rows;
* :mod:`peer.history.conversations`: the conversations and their running counts;
* :mod:`peer.history.retention`: the quotas and the retention period;
* :mod:`peer.history.search`: which words are indexed and what a query matches.

Searches decrypt at most :attr:`HistoryLimits.max_scan` candidates, so a history full of
one word cannot make a search read the whole file.

This class blocks (SQLite, fsync): :mod:`peer.history.archive` runs it on one thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crypto.history_seal import HistoryKeys, HistorySealer
from peer.history import search as history_search
from peer.history.conversations import Conversation, ConversationTable
from peer.history.entries import (
    HistoryEntry,
    HistoryLimits,
    HistoryStats,
    SearchResult,
    StoredEntry,
    validate_label,
)
from peer.history.file import close_database, open_database
from peer.history.retention import Retention
from peer.history.sealing import RowSealer, hour_of, row_cost


class HistoryStore:
    """An open history file; every method blocks. Not thread-safe: one thread at a time."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        sealer: HistorySealer,
        limits: HistoryLimits,
    ) -> None:
        self._conn = conn
        self._rows = RowSealer(sealer)
        self.limits = limits
        self.stats = HistoryStats()
        self._table = ConversationTable(conn, self._rows, self.stats)
        self._retention = Retention(conn, self._table, self._rows, limits, self.stats)
        row = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
        #: Rows up to this one were written before this session opened the file.
        self.session_start_row: int = int(row[0])

    @classmethod
    def open(
        cls,
        path: Path,
        keys: Callable[[bytes], HistoryKeys],
        limits: HistoryLimits | None = None,
    ) -> HistoryStore:
        """Open ``path`` (creating it 0600 if missing); ``keys(salt)`` derives the keys.

        Raises :class:`~peer.history.file.HistoryKeyError` if the file was sealed under
        other keys and :class:`~peer.history.file.HistoryError` if it is damaged, of an
        unknown format or too open.
        """
        with open_database(path, keys) as (conn, sealer):
            return cls(conn, sealer, limits or HistoryLimits())

    def close(self) -> None:
        close_database(self._conn)

    def conversations(self, limit: int) -> list[str]:
        """Labels of the conversations with the most recent messages, newest first."""
        return self._table.most_recent(limit)

    # ------------------------------------------------------------------ writing

    def append(self, entries: Sequence[HistoryEntry]) -> None:
        """Write ``entries`` in one transaction, then apply the quotas."""
        if not entries:
            return
        conn = self._conn
        with conn:
            conn.execute("BEGIN")
            touched: set[int] = set()
            for entry in entries:
                conv = self._conversation(validate_label(entry.conversation))
                hour = hour_of(entry.received_at)
                sealed = self._rows.seal_entry(conv.id, hour, entry)
                terms = self._rows.terms(entry.text)
                cursor = conn.execute(
                    "INSERT INTO messages (conversation, hour, sealed, terms) VALUES (?, ?, ?, ?)",
                    (conv.id, hour, sealed, len(terms)),
                )
                row = cursor.lastrowid
                conn.executemany(
                    "INSERT OR IGNORE INTO terms (term, message) VALUES (?, ?)",
                    [(term, row) for term in terms],
                )
                self._table.count_added(conv, int(row or 0), row_cost(sealed, len(terms)))
                touched.add(conv.id)
            self._table.refresh_totals()
            self._retention.apply_quotas(touched)
            self._table.save_counts()

    def _conversation(self, label: str) -> Conversation:
        conv = self._table.find(label)
        if conv is None:
            self._retention.make_room_for_conversation()
            conv = self._table.create(label)
        return conv

    # ------------------------------------------------------------------ reading

    def recent(
        self, conversation: str, limit: int, before_row: int | None = None
    ) -> list[StoredEntry]:
        """The last ``limit`` messages of ``conversation`` (before ``before_row``), oldest
        first."""
        conv = self._table.find(validate_label(conversation))
        if conv is None or limit <= 0:
            return []
        bound = before_row if before_row is not None else 2**62
        rows = self._conn.execute(
            "SELECT id, conversation, hour, sealed FROM messages"
            " WHERE conversation = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (conv.id, bound, limit),
        ).fetchall()
        return self._table.open_rows(rows[::-1])

    def around(self, row: int, before: int, after: int) -> list[StoredEntry]:
        """Messages of ``row``'s conversation around it (``row`` included), oldest first."""
        found = self._conn.execute(
            "SELECT conversation FROM messages WHERE id = ?", (row,)
        ).fetchone()
        if found is None:
            return []
        cid = found[0]
        older = self._conn.execute(
            "SELECT id, conversation, hour, sealed FROM messages"
            " WHERE conversation = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (cid, row, before),
        ).fetchall()
        newer = self._conn.execute(
            "SELECT id, conversation, hour, sealed FROM messages"
            " WHERE conversation = ? AND id >= ? ORDER BY id LIMIT ?",
            (cid, row, after + 1),
        ).fetchall()
        return self._table.open_rows(older[::-1] + newer)

    def search(self, query: str, conversation: str | None = None, limit: int = 50) -> SearchResult:
        """Messages matching ``query`` (see :mod:`peer.history.search`), newest first."""
        qwords = history_search.query_words(query)
        if not qwords or limit <= 0:
            return SearchResult([])
        conv: Conversation | None = None
        if conversation is not None:
            conv = self._table.find(validate_label(conversation))
            if conv is None:
                return SearchResult([])
        parts: list[str] = []
        params: list[Any] = []
        for word in history_search.indexed_query_words(qwords):
            parts.append("SELECT message FROM terms WHERE term = ?")
            params.append(self._rows.lookup_term(word))
        # Only placeholders are spliced in; every value goes as a parameter.
        candidates = " INTERSECT ".join(parts)
        sql = f"SELECT m.id, m.conversation, m.hour, m.sealed FROM messages AS m WHERE m.id IN ({candidates})"  # noqa: S608, E501
        if conv is not None:
            sql += " AND m.conversation = ?"
            params.append(conv.id)
        sql += " ORDER BY m.id DESC LIMIT ?"
        params.append(self.limits.max_scan + 1)
        prefilter = history_search.prefilter(qwords)
        cursor = self._conn.execute(sql, params)
        hits: list[StoredEntry] = []
        scanned = 0
        try:
            while batch := cursor.fetchmany(256):
                if scanned + len(batch) > self.limits.max_scan:
                    batch = batch[: self.limits.max_scan - scanned]
                    complete = False
                else:
                    complete = True
                scanned += len(batch)
                for stored in self._table.open_rows(batch, prefilter):
                    if history_search.matches(stored.entry.text, qwords):
                        hits.append(stored)
                        if len(hits) >= limit:
                            return SearchResult(hits)
                if not complete:
                    return SearchResult(hits, complete=False)
        finally:
            cursor.close()
        return SearchResult(hits)

    # ------------------------------------------------------------------ retention

    def prune(self, now: float, days: float) -> int:
        """Delete messages that arrived more than ``days`` days before ``now``; returns
        how many (see :meth:`peer.history.retention.Retention.prune`)."""
        return self._retention.prune(now, days)
