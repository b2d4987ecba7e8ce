"""The encrypted local message history: one SQLite file per user, nothing readable at rest.

:class:`HistoryStore` is an open history file: it writes messages, reads a
conversation's last ones or those around a row, and searches them. Its parts:

* :mod:`peer.history.file`: the file, its tables, opening it and checking its key;
* :mod:`peer.history.sealing`: how entries and conversation names are sealed in rows;
* :mod:`peer.history.conversations`: the conversations and their running counts;
* :mod:`peer.history.retention`: the quotas and the retention period;
* :mod:`peer.history.search`: which words are indexed and what a query matches;
* :mod:`peer.history.index`: the word index, in memory, kept between sessions only as
  one sealed snapshot.

The index is loaded the first time a search (or a deletion) needs it: the sealed
snapshot, then the messages written after it, decrypted and indexed. :meth:`append`
keeps it up to date; it is compacted when deleted rows could make up half of it, and
sealed back into the file by :meth:`close`. A deletion drops the sealed copy in its own
transaction (the copy holds the deleted messages' words). Opening the file and showing
recent messages never wait for the index.

Searches decrypt at most :attr:`HistoryLimits.max_scan` candidates, so a history full of
one word cannot make a search read the whole file.

Amendments (:data:`peer.history.entries.Amendment`: an edit, a delete, a reaction) come
in :meth:`append` in order with the messages: each finds its message among the last
:attr:`HistoryLimits.max_scan` rows of its conversation by author and id, and seals that
row again in place (its order and arrival hour stay). An edit or a delete also drops the
sealed index copy in the same transaction and the index in memory: its words would keep
the old text findable, so the next search indexes the rows again (a delete leaves no
word of the deleted text in the file; an edit's latest text is what search finds).

This class blocks (SQLite, fsync): :mod:`peer.history.archive` runs it on one thread.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from crypto.errors import DecryptError
from crypto.history_seal import HistoryKeys, HistorySealer
from peer.history import search as history_search
from peer.history.conversations import Conversation, ConversationTable
from peer.history.entries import (
    Amendment,
    HistoryEntry,
    HistoryLimits,
    HistoryStats,
    SearchResult,
    StoredEntry,
    amended,
    validate_label,
)
from peer.history.file import INDEX_META, close_database, open_database
from peer.history.index import WordIndex
from peer.history.retention import Retention
from peer.history.sealing import RowSealer, hour_of, row_cost

#: Rows read per query when loading the index or fetching search candidates.
_BATCH = 256


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
        self._index: WordIndex | None = None
        #: The loaded index differs from the sealed copy in the file (or there is none).
        self._index_changed = False
        self._retention = Retention(conn, self._table, limits, self.stats, self._before_delete)
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

    def close(self, *, save_index: bool = True) -> None:
        """Seal the index into the file if this session changed it (unless
        ``save_index`` is False: the file is about to be deleted), then close."""
        if save_index and self._index is not None and self._index_changed:
            self._save_index(self._index)
        close_database(self._conn)

    def conversations(self, limit: int) -> list[str]:
        """Labels of the conversations with the most recent messages, newest first."""
        return self._table.most_recent(limit)

    # ------------------------------------------------------------------ writing

    def append(self, entries: Sequence[HistoryEntry | Amendment]) -> None:
        """Write ``entries`` (messages and amendments, in order) in one transaction, then
        apply the quotas."""
        if not entries:
            return
        try:
            added = self._write(entries)
        except BaseException:
            # The batch was rolled back, but an index loaded during it (an eviction
            # loads it) may hold its rows: drop it, the next search loads it again.
            self._index = None
            self._index_changed = False
            raise
        if self._index is not None:
            for row, text in added:
                # Rows an index loaded during the batch already holds are skipped.
                if row > self._index.covered:
                    self._index.add(row, history_search.index_words(text))
            self._index_changed = True
            self._compact_if_stale(self._index)

    def _write(self, entries: Sequence[HistoryEntry | Amendment]) -> list[tuple[int, str]]:
        """One transaction: the rows, the quotas, the counts. Returns the new rows' ids
        with their texts, for the index."""
        conn = self._conn
        added: list[tuple[int, str]] = []
        with conn:
            conn.execute("BEGIN")
            touched: set[int] = set()
            for entry in entries:
                if not isinstance(entry, HistoryEntry):
                    self._amend(entry)
                    continue
                conv = self._conversation(validate_label(entry.conversation))
                hour = hour_of(entry.received_at)
                sealed = self._rows.seal_entry(conv.id, hour, entry)
                cursor = conn.execute(
                    "INSERT INTO messages (conversation, hour, sealed) VALUES (?, ?, ?)",
                    (conv.id, hour, sealed),
                )
                row = int(cursor.lastrowid or 0)
                added.append((row, entry.text))
                self._table.count_added(conv, row, row_cost(len(sealed)))
                touched.add(conv.id)
            self._table.refresh_totals()
            self._retention.apply_quotas(touched)
            self._table.save_counts()
        return added

    def _amend(self, change: Amendment) -> None:
        """Seal ``change``'s message again with it applied (inside :meth:`_write`'s
        transaction); a message not found among the last ``max_scan`` rows of its
        conversation, or one the change leaves as it is, is not touched."""
        conv = self._table.find(validate_label(change.conversation))
        if conv is None:
            return
        found = self._find(conv, change.author, change.msg_id)
        if found is None:
            return
        row, hour, old_sealed, entry = found
        new = amended(entry, change)
        if new is None:
            return
        sealed = self._rows.seal_entry(conv.id, hour, new)
        self._conn.execute("UPDATE messages SET sealed = ? WHERE id = ?", (sealed, row))
        self._table.count_resized(conv, row_cost(len(sealed)) - row_cost(len(old_sealed)))
        if new.text != entry.text:
            # The index holds the old text's words: it goes, with its sealed copy.
            self._conn.execute("DELETE FROM meta WHERE name = ?", (INDEX_META,))
            self._index = None
            self._index_changed = False

    def _find(
        self, conv: Conversation, author: str, msg_id: str
    ) -> tuple[int, int, bytes, HistoryEntry] | None:
        """The newest row of ``conv`` holding ``author``'s ``msg_id``: its id, hour,
        sealed bytes and entry (at most ``max_scan`` rows are opened)."""
        bound, scanned = 2**62, 0
        while scanned < self.limits.max_scan:
            rows = self._conn.execute(
                "SELECT id, conversation, hour, sealed FROM messages"
                " WHERE conversation = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (conv.id, bound, min(_BATCH, self.limits.max_scan - scanned)),
            ).fetchall()
            if not rows:
                return None
            scanned += len(rows)
            raw = {r[0]: r for r in rows}
            for stored in self._table.open_rows(rows):
                entry = stored.entry
                if entry.msg_id == msg_id and entry.sender == author:
                    _, _, hour, sealed = raw[stored.row]
                    return stored.row, hour, sealed, entry
            bound = rows[-1][0]
        return None

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
        terms = [
            history_search.lookup_word(word) for word in history_search.indexed_query_words(qwords)
        ]
        candidates: Iterator[int] = self.index().candidates(terms)
        if conv is not None:
            in_conversation = self._rows_of(conv)
            candidates = filter(in_conversation.__contains__, candidates)
        prefilter = history_search.prefilter(qwords)
        hits: list[StoredEntry] = []
        scanned = 0
        while ids := list(itertools.islice(candidates, _BATCH)):
            batch = self._fetch(ids)
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
        return SearchResult(hits)

    def _rows_of(self, conv: Conversation) -> set[int]:
        found = self._conn.execute("SELECT id FROM messages WHERE conversation = ?", (conv.id,))
        return {row for (row,) in found}

    def _fetch(self, ids: Sequence[int]) -> list[tuple[Any, ...]]:
        """The rows of ``ids`` still in the file, in the order of ``ids`` (stale ids of
        deleted rows find nothing)."""
        # Only placeholders are spliced in; every id goes as a parameter.
        marks = ",".join("?" * len(ids))
        sql = f"SELECT id, conversation, hour, sealed FROM messages WHERE id IN ({marks})"  # noqa: S608
        found = {r[0]: r for r in self._conn.execute(sql, ids)}
        return [found[row] for row in ids if row in found]

    # ------------------------------------------------------------------ the word index

    def index(self) -> WordIndex:
        """The word index, loaded on first use: the sealed snapshot if there is one that
        opens, then every row after it, decrypted and indexed (all rows if there is no
        snapshot: a new or upgraded file, or a snapshot that does not open)."""
        if self._index is not None:
            return self._index
        index = self._load_snapshot()
        self._index_changed = index is None
        if index is None:
            index = WordIndex()
        after = index.covered
        while True:
            rows = self._conn.execute(
                "SELECT id, conversation, hour, sealed FROM messages"
                " WHERE id > ? ORDER BY id LIMIT ?",
                (after, _BATCH),
            ).fetchall()
            if not rows:
                break
            opened = {s.row: s.entry.text for s in self._table.open_rows(rows)}
            for row, *_ in rows:
                # A row that does not open is counted with no terms: it stays a row.
                index.add(row, history_search.index_words(opened.get(row, "")))
            after = rows[-1][0]
            self._index_changed = True
        self._index = index
        self._compact_if_stale(index)
        return index

    def _load_snapshot(self) -> WordIndex | None:
        found = self._conn.execute("SELECT value FROM meta WHERE name = ?", (INDEX_META,))
        sealed = found.fetchone()
        if sealed is None:
            return None
        try:
            return WordIndex.from_bytes(self._rows.open_index(sealed[0]))
        except (DecryptError, ValueError, TypeError):
            self.stats.damaged += 1
            return None

    def _before_delete(self) -> None:
        """Rows are about to be deleted (inside the deleting transaction): the sealed
        index holds their words, so it goes in the same transaction. The index is loaded
        first (from that copy, before it goes) and written again, compacted, at close."""
        self.index()
        self._conn.execute("DELETE FROM meta WHERE name = ?", (INDEX_META,))
        self._index_changed = True

    def _compact_if_stale(self, index: WordIndex) -> None:
        """Drop deleted rows' postings once they could be as many as the live rows'."""
        if index.rows <= 2 * self.stats.messages + _BATCH:
            return
        live = {row for (row,) in self._conn.execute("SELECT id FROM messages")}
        index.compact(live.__contains__, len(live))
        self._index_changed = True

    def _save_index(self, index: WordIndex) -> None:
        """Seal ``index`` (compacted first if any row it holds was deleted) into ``meta``."""
        live = {row for (row,) in self._conn.execute("SELECT id FROM messages")}
        if index.rows != len(live):
            index.compact(live.__contains__, len(live))
        sealed = self._rows.seal_index(index.to_bytes())
        with self._conn:
            self._conn.execute("BEGIN")
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (INDEX_META, sealed)
            )
        self._index_changed = False

    # ------------------------------------------------------------------ retention

    def prune(self, now: float, days: float) -> int:
        """Delete messages that arrived more than ``days`` days before ``now``; returns
        how many (see :meth:`peer.history.retention.Retention.prune`)."""
        removed = self._retention.prune(now, days)
        if removed and self._index is not None:
            self._compact_if_stale(self._index)
        return removed
