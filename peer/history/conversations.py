"""The conversations of an open history file, with the running counts the quotas need,
and the reading of their message rows.

Every conversation's label is opened once, when the file opens; after that the table
maps row ids to labels without decrypting anything, and keeps per conversation how many
messages it holds, how many bytes they cost and its newest row, so opening the file and
applying the quotas read no message. Changed counts are written back with the batch
that changed them (:meth:`ConversationTable.save_counts`). Blocks (SQLite).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from commons.errors import P2PChatError
from crypto.errors import DecryptError
from peer.history.entries import HistoryStats, StoredEntry
from peer.history.sealing import RowSealer, decode_entry


@dataclass(slots=True)
class Conversation:
    id: int
    label: str
    messages: int
    bytes: int
    last: int


class ConversationTable:
    """The ``conversations`` table of one file; ``stats`` gets its totals and the rows
    found damaged."""

    def __init__(self, conn: sqlite3.Connection, rows: RowSealer, stats: HistoryStats) -> None:
        self._conn = conn
        self._rows = rows
        self._stats = stats
        self._by_label: dict[str, Conversation] = {}
        self._by_id: dict[int, Conversation] = {}
        self._dirty: set[int] = set()
        self._load()

    def _load(self) -> None:
        rows = self._conn.execute(
            "SELECT id, sealed, messages, bytes, last FROM conversations"
        ).fetchall()
        for cid, sealed, messages, size, last in rows:
            try:
                label = self._rows.open_label(cid, sealed)
            except (DecryptError, UnicodeDecodeError, P2PChatError):
                self._stats.damaged += 1
                continue
            conv = Conversation(cid, label, messages, size, last)
            self._by_label[label] = conv
            self._by_id[cid] = conv
        self.refresh_totals()

    def refresh_totals(self) -> None:
        self._stats.messages = sum(c.messages for c in self._by_id.values())
        self._stats.bytes = sum(c.bytes for c in self._by_id.values())
        self._stats.conversations = len(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def all(self) -> Iterable[Conversation]:
        return self._by_id.values()

    def find(self, label: str) -> Conversation | None:
        return self._by_label.get(label)

    def get(self, cid: int) -> Conversation | None:
        return self._by_id.get(cid)

    def create(self, label: str) -> Conversation:
        """A new, empty conversation named ``label``."""
        # Ids are never reused (AUTOINCREMENT) and the sealed label is bound to its id.
        cursor = self._conn.execute("INSERT INTO conversations (sealed) VALUES (x'')")
        assert cursor.lastrowid is not None
        cid = cursor.lastrowid
        sealed = self._rows.seal_label(cid, label)
        self._conn.execute("UPDATE conversations SET sealed = ? WHERE id = ?", (sealed, cid))
        conv = Conversation(cid, label, 0, 0, 0)
        self._by_label[label] = conv
        self._by_id[conv.id] = conv
        return conv

    def remove(self, conv: Conversation) -> None:
        """Forget ``conv`` (its messages must be gone already)."""
        self._conn.execute("DELETE FROM conversations WHERE id = ?", (conv.id,))
        del self._by_id[conv.id]
        del self._by_label[conv.label]

    def count_added(self, conv: Conversation, row: int, cost: int) -> None:
        conv.messages += 1
        conv.bytes += cost
        conv.last = row
        self._dirty.add(conv.id)

    def count_resized(self, conv: Conversation, delta: int) -> None:
        """A row of ``conv`` was sealed again (amended): it costs ``delta`` more bytes."""
        conv.bytes += delta
        self._dirty.add(conv.id)

    def count_removed(self, cid: int, cost: int) -> None:
        conv = self._by_id.get(cid)
        if conv is not None:
            conv.messages -= 1
            conv.bytes -= cost
            self._dirty.add(cid)

    def save_counts(self) -> None:
        dirty = [self._by_id[cid] for cid in self._dirty if cid in self._by_id]
        self._conn.executemany(
            "UPDATE conversations SET messages = ?, bytes = ?, last = ? WHERE id = ?",
            [(c.messages, c.bytes, c.last, c.id) for c in dirty],
        )
        self._dirty.clear()

    def most_recent(self, limit: int) -> list[str]:
        """Labels of the conversations with the most recent messages, newest first."""
        active = [c for c in self._by_id.values() if c.messages]
        active.sort(key=lambda c: c.last, reverse=True)
        return [c.label for c in active[:limit]]

    def open_rows(
        self, rows: Sequence[tuple[Any, ...]], may_match: Callable[[str], bool] | None = None
    ) -> list[StoredEntry]:
        """Decrypt ``(id, conversation, hour, sealed)`` rows; damaged ones are skipped.

        ``may_match`` sees the decrypted entry as text first; rows it rejects are not
        decoded (search uses it to drop most candidates cheaply).
        """
        out: list[StoredEntry] = []
        for row, cid, hour, sealed in rows:
            conv = self._by_id.get(cid)
            if conv is None:
                self._stats.damaged += 1
                continue
            try:
                plaintext = self._rows.open_entry(cid, hour, sealed)
                if may_match is not None and not may_match(plaintext.decode("utf-8")):
                    continue
                out.append(StoredEntry(row, decode_entry(conv.label, plaintext)))
            except (DecryptError, ValueError):
                self._stats.damaged += 1
        return out
