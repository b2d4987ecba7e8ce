"""The encrypted local message history: one SQLite file per user, nothing readable at rest.

``HOME/USER/history.sqlite3`` (mode 0600, in the user's 0700 folder) keeps the messages
of every room and private conversation. What is in it:

* ``messages``: per message, its conversation (a row of ``conversations``), the hour
  it arrived (whole hours since the epoch: retention needs it; nothing finer is stored
  in the clear), the entry sealed with AES-256-GCM (sender, text, the sender's and the
  arrival time, the message id; padded to a multiple of :data:`PAD` bytes) and its
  blind search terms. The associated data binds an entry to its conversation and hour.
* ``conversations``: ``#room`` or ``@user`` sealed (bound to the row's id); with running
  counts so opening the file reads no message it does not show.
* ``terms``: ``(term, message)`` pairs, the word index (:mod:`peer.history_search`).
* ``meta``: format version, the per-file salt, and a sealed check value that tells a
  wrong key (another identity) from a damaged file.

Keys come from :mod:`crypto.history_seal` (HKDF over the identity private key).

Bounds, because a hostile peer can send as many messages as it likes: at most
:attr:`HistoryLimits.max_per_conversation` messages per conversation (its oldest go
first), :attr:`HistoryLimits.max_messages` in all and :attr:`HistoryLimits.max_bytes`
of sealed entries and index rows (over either, the oldest messages of the *largest*
conversation go first, so a flood in one conversation cannot push out another's
history), at most :data:`peer.history_search.MAX_WORDS_PER_MESSAGE` indexed words per
message, and searches that decrypt at most :attr:`HistoryLimits.max_scan` candidates.
Deleted rows are overwritten (``secure_delete``) and their pages reused.

This class blocks (SQLite, fsync): :mod:`peer.history_archive` runs it on one thread.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commons.errors import ErrorCode, P2PChatError, ValidationError
from commons.models import validate_room_name, validate_username
from crypto.errors import DecryptError
from crypto.history_seal import SALT_SIZE, HistoryKeys, HistorySealer, new_salt
from peer import history_search

HISTORY_FILE_NAME = "history.sqlite3"
FORMAT = "p2pchat-history"
VERSION = 1
PAD = 32
#: What one index row costs on disk, roughly, for the byte quota.
TERM_ROW_BYTES = 16
_CHECK = b"p2pchat history check"
_AD_PREFIX = b"p2pchat-history/1|"

SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sealed BLOB NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    last INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    terms INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation, id);
CREATE INDEX messages_by_hour ON messages (hour);
CREATE TABLE terms (
    term INTEGER NOT NULL,
    message INTEGER NOT NULL,
    PRIMARY KEY (term, message)
) WITHOUT ROWID;
"""


class HistoryError(P2PChatError):
    """The history file cannot be used (damaged, unknown format, unsafe permissions)."""

    code = ErrorCode.KEY_FILE_ERROR


class HistoryKeyError(HistoryError):
    """The file was sealed under another key: another identity key for this user."""

    code = ErrorCode.WRONG_PASSWORD


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    """Quotas and bounds (tests shrink them)."""

    max_messages: int = 200_000
    max_per_conversation: int = 50_000
    max_bytes: int = 256 * 1024 * 1024
    max_conversations: int = 10_000
    max_scan: int = 10_000


def conversation_label(kind: str, name: str) -> str:
    """``#room`` or ``@user``: how a conversation is named in the file and in results."""
    if kind == "room":
        return "#" + validate_room_name(name)
    if kind == "private":
        return "@" + validate_username(name)
    raise ValidationError(f"unknown conversation kind {kind!r}")


def _validate_label(label: str) -> str:
    if label[:1] == "#":
        return conversation_label("room", label[1:])
    if label[:1] == "@":
        return conversation_label("private", label[1:])
    raise ValidationError(f"not a conversation: {label!r}")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One message to keep. ``sent_at`` is the sender's time, ``received_at`` ours."""

    conversation: str
    sender: str
    text: str
    sent_at: float
    received_at: float
    msg_id: str = ""
    own: bool = False


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A message read back; ``row`` identifies it in the file (for :meth:`around`)."""

    row: int
    entry: HistoryEntry


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Hits newest first; ``complete`` is False when the scan limit cut the search."""

    hits: list[StoredEntry]
    complete: bool = True


@dataclass(slots=True)
class _Conversation:
    id: int
    label: str
    messages: int
    bytes: int
    last: int


@dataclass(slots=True)
class HistoryStats:
    messages: int = 0
    bytes: int = 0
    conversations: int = 0
    evicted: int = 0
    damaged: int = 0
    by_conversation: dict[str, int] = field(default_factory=dict)


def _encode(entry: HistoryEntry) -> bytes:
    raw = json.dumps(
        [entry.sender, entry.text, entry.sent_at, entry.received_at, entry.msg_id, entry.own],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    return raw + b" " * (-len(raw) % PAD)  # JSON ignores trailing blanks


def _decode(conversation: str, plaintext: bytes) -> HistoryEntry:
    value = json.loads(plaintext)
    if not isinstance(value, list) or len(value) != 6:
        raise ValueError("history entry has the wrong shape")
    sender, text, sent_at, received_at, msg_id, own = value
    if not (isinstance(sender, str) and isinstance(text, str) and isinstance(msg_id, str)):
        raise ValueError("history entry has the wrong types")
    if not (isinstance(sent_at, int | float) and isinstance(received_at, int | float)):
        raise ValueError("history entry has the wrong types")
    return HistoryEntry(
        conversation, sender, text, float(sent_at), float(received_at), msg_id, own is True
    )


def check_private_file(path: Path) -> None:
    """Refuse a history file that group or others may access (POSIX), as for key files."""
    if sys.platform == "win32":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise HistoryError(
            f"Permissions {mode:04o} for '{path}' are too open: the history is private. "
            f"Fix it with: chmod 600 '{path}'"
        )


class HistoryStore:
    """An open history file; every method blocks. Not thread-safe: one thread at a time."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        sealer: HistorySealer,
        limits: HistoryLimits,
    ) -> None:
        self._conn = conn
        self._sealer = sealer
        self.limits = limits
        self.stats = HistoryStats()
        self._by_label: dict[str, _Conversation] = {}
        self._by_id: dict[int, _Conversation] = {}
        self._dirty: set[int] = set()
        self._load_conversations()
        row = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
        #: Rows up to this one were written before this session opened the file.
        self.session_start_row: int = int(row[0])

    # ------------------------------------------------------------------ open / create

    @classmethod
    def open(
        cls,
        path: Path,
        keys: Callable[[bytes], HistoryKeys],
        limits: HistoryLimits | None = None,
    ) -> HistoryStore:
        """Open ``path`` (creating it 0600 if missing); ``keys(salt)`` derives the keys.

        Raises :class:`HistoryKeyError` if the file was sealed under other keys and
        :class:`HistoryError` if it is damaged, of an unknown format or too open.
        """
        limits = limits or HistoryLimits()
        created = False
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                created = True
        check_private_file(path)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA secure_delete = ON")
            if created:
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = OFF")
            sealer = cls._setup(conn, keys, fresh=created)
            return cls(conn, sealer, limits)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise HistoryError(f"the history file {path} is damaged ({exc})") from None
        except BaseException:
            conn.close()
            raise

    @staticmethod
    def _setup(
        conn: sqlite3.Connection, keys: Callable[[bytes], HistoryKeys], *, fresh: bool
    ) -> HistorySealer:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if fresh or not tables:
            salt = new_salt()
            sealer = HistorySealer(keys(salt))
            meta = {
                "format": FORMAT.encode(),
                "version": str(VERSION).encode(),
                "salt": salt,
                "check": sealer.seal(_CHECK, b"check"),
            }
            values = ", ".join(f"('{name}', X'{value.hex()}')" for name, value in meta.items())
            # Hex literals of our own bytes; one script, one transaction.
            script = f"BEGIN; {SCHEMA} INSERT INTO meta (name, value) VALUES {values}; COMMIT;"  # noqa: S608
            conn.executescript(script)
            return sealer
        stored: dict[str, object] = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        if stored.get("format") != FORMAT.encode():
            raise HistoryError("not a p2pchat history file")
        if stored.get("version") != str(VERSION).encode():
            raise HistoryError(f"unsupported history format version {stored.get('version')!r}")
        stored_salt = stored.get("salt")
        if not isinstance(stored_salt, bytes) or len(stored_salt) != SALT_SIZE:
            raise HistoryError("the history file has no valid salt")
        sealer = HistorySealer(keys(stored_salt))
        check = stored.get("check")
        try:
            if not isinstance(check, bytes) or sealer.open(check, b"check") != _CHECK:
                raise DecryptError("check value differs")
        except DecryptError:
            raise HistoryKeyError(
                "the history was sealed under another identity key of this user"
            ) from None
        return sealer

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    # ------------------------------------------------------------------ conversations

    @staticmethod
    def _conversation_ad(cid: int) -> bytes:
        return _AD_PREFIX + b"conversation|" + cid.to_bytes(8, "big")

    def _load_conversations(self) -> None:
        rows = self._conn.execute(
            "SELECT id, sealed, messages, bytes, last FROM conversations"
        ).fetchall()
        for cid, sealed, messages, size, last in rows:
            try:
                label = self._sealer.open(sealed, self._conversation_ad(cid)).decode("utf-8")
                label = _validate_label(label)
            except (DecryptError, UnicodeDecodeError, P2PChatError):
                self.stats.damaged += 1
                continue
            conv = _Conversation(cid, label, messages, size, last)
            self._by_label[label] = conv
            self._by_id[cid] = conv
        self._refresh_totals()

    def _refresh_totals(self) -> None:
        self.stats.messages = sum(c.messages for c in self._by_id.values())
        self.stats.bytes = sum(c.bytes for c in self._by_id.values())
        self.stats.conversations = len(self._by_id)

    def _conversation(self, label: str) -> _Conversation:
        conv = self._by_label.get(label)
        if conv is not None:
            return conv
        if len(self._by_id) >= self.limits.max_conversations:
            self._drop_emptiest_conversation()
        # Ids are never reused (AUTOINCREMENT) and the sealed label is bound to its id.
        cursor = self._conn.execute("INSERT INTO conversations (sealed) VALUES (x'')")
        assert cursor.lastrowid is not None
        cid = cursor.lastrowid
        sealed = self._sealer.seal(label.encode("utf-8"), self._conversation_ad(cid))
        self._conn.execute("UPDATE conversations SET sealed = ? WHERE id = ?", (sealed, cid))
        conv = _Conversation(cid, label, 0, 0, 0)
        self._by_label[label] = conv
        self._by_id[conv.id] = conv
        return conv

    def _drop_emptiest_conversation(self) -> None:
        """Room for one more conversation: forget the one with the fewest messages (the
        oldest among equals), so a thousand one-line strangers cannot lock out a friend."""
        victim = min(self._by_id.values(), key=lambda c: (c.messages, c.last))
        self._evict(victim, victim.messages)
        self._conn.execute("DELETE FROM conversations WHERE id = ?", (victim.id,))
        del self._by_id[victim.id]
        del self._by_label[victim.label]

    def conversations(self, limit: int) -> list[str]:
        """Labels of the conversations with the most recent messages, newest first."""
        active = [c for c in self._by_id.values() if c.messages]
        active.sort(key=lambda c: c.last, reverse=True)
        return [c.label for c in active[:limit]]

    # ------------------------------------------------------------------ writing

    @staticmethod
    def _associated(conv: _Conversation, hour: int) -> bytes:
        return (
            _AD_PREFIX
            + b"message|"
            + conv.id.to_bytes(8, "big")
            + hour.to_bytes(8, "big", signed=True)
        )

    def append(self, entries: Sequence[HistoryEntry]) -> None:
        """Write ``entries`` in one transaction, then apply the quotas."""
        if not entries:
            return
        sealer, conn = self._sealer, self._conn
        with conn:
            conn.execute("BEGIN")
            touched: set[int] = set()
            for entry in entries:
                label = _validate_label(entry.conversation)
                conv = self._conversation(label)
                hour = _hour(entry.received_at)
                sealed = sealer.seal(_encode(entry), self._associated(conv, hour))
                terms = self._terms(entry.text)
                cursor = conn.execute(
                    "INSERT INTO messages (conversation, hour, sealed, terms) VALUES (?, ?, ?, ?)",
                    (conv.id, hour, sealed, len(terms)),
                )
                row = cursor.lastrowid
                conn.executemany(
                    "INSERT OR IGNORE INTO terms (term, message) VALUES (?, ?)",
                    [(term, row) for term in terms],
                )
                conv.messages += 1
                conv.bytes += len(sealed) + TERM_ROW_BYTES * len(terms)
                conv.last = int(row or 0)
                touched.add(conv.id)
                self._dirty.add(conv.id)
            self._refresh_totals()
            self._apply_quotas(touched)
            self._save_counts()

    def _terms(self, text: str) -> list[int]:
        return [self._sealer.term(word) for word in history_search.index_words(text)]

    def _apply_quotas(self, touched: set[int]) -> None:
        limits = self.limits
        for cid in touched:
            conv = self._by_id.get(cid)
            if conv is not None and conv.messages > limits.max_per_conversation:
                self._evict(conv, conv.messages - _low_water(limits.max_per_conversation))
        self._refresh_totals()
        while self.stats.messages > limits.max_messages or self.stats.bytes > limits.max_bytes:
            if self.stats.messages > limits.max_messages:
                largest = max(self._by_id.values(), key=lambda c: (c.messages, c.bytes))
                excess = self.stats.messages - _low_water(limits.max_messages)
            else:
                largest = max(self._by_id.values(), key=lambda c: (c.bytes, c.messages))
                excess = 1
            count = max(excess, math.ceil(largest.messages / 20))
            self._evict(largest, min(count, largest.messages))
            self._refresh_totals()

    def _evict(self, conv: _Conversation, count: int) -> None:
        """Delete the oldest ``count`` messages of ``conv`` (and their index rows)."""
        if count <= 0:
            return
        rows = self._conn.execute(
            "SELECT id, conversation, hour, sealed, terms FROM messages"
            " WHERE conversation = ? ORDER BY id LIMIT ?",
            (conv.id, count),
        ).fetchall()
        self._delete_rows(rows)
        self.stats.evicted += len(rows)

    def _delete_rows(self, rows: Sequence[tuple[int, int, int, bytes, int]]) -> None:
        """Delete ``(id, conversation, hour, sealed, term count)`` rows, their index rows
        (found again from the decrypted text: the index is never stored twice) and keep
        the counts. A row that no longer opens leaves index rows that point nowhere,
        which search ignores; ids are never reused."""
        pairs: list[tuple[int, int]] = []
        for stored in self._open_rows([r[:4] for r in rows]):
            pairs.extend((term, stored.row) for term in self._terms(stored.entry.text))
        for _, cid, _, sealed, nterms in rows:
            conv = self._by_id.get(cid)
            if conv is not None:
                conv.messages -= 1
                conv.bytes -= len(sealed) + TERM_ROW_BYTES * nterms
                self._dirty.add(cid)
        self._conn.executemany("DELETE FROM terms WHERE term = ? AND message = ?", pairs)
        self._conn.executemany("DELETE FROM messages WHERE id = ?", [(r[0],) for r in rows])

    def _save_counts(self) -> None:
        dirty = [self._by_id[cid] for cid in self._dirty if cid in self._by_id]
        self._conn.executemany(
            "UPDATE conversations SET messages = ?, bytes = ?, last = ? WHERE id = ?",
            [(c.messages, c.bytes, c.last, c.id) for c in dirty],
        )
        self._dirty.clear()

    # ------------------------------------------------------------------ reading

    def _open_rows(
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
                self.stats.damaged += 1
                continue
            try:
                plaintext = self._sealer.open(sealed, self._associated(conv, hour))
                if may_match is not None and not may_match(plaintext.decode("utf-8")):
                    continue
                out.append(StoredEntry(row, _decode(conv.label, plaintext)))
            except (DecryptError, ValueError):
                self.stats.damaged += 1
        return out

    def recent(
        self, conversation: str, limit: int, before_row: int | None = None
    ) -> list[StoredEntry]:
        """The last ``limit`` messages of ``conversation`` (before ``before_row``), oldest
        first."""
        conv = self._by_label.get(_validate_label(conversation))
        if conv is None or limit <= 0:
            return []
        bound = before_row if before_row is not None else 2**62
        rows = self._conn.execute(
            "SELECT id, conversation, hour, sealed FROM messages"
            " WHERE conversation = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (conv.id, bound, limit),
        ).fetchall()
        return self._open_rows(rows[::-1])

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
        return self._open_rows(older[::-1] + newer)

    def search(self, query: str, conversation: str | None = None, limit: int = 50) -> SearchResult:
        """Messages matching ``query`` (see :mod:`peer.history_search`), newest first."""
        qwords = history_search.query_words(query)
        if not qwords or limit <= 0:
            return SearchResult([])
        conv: _Conversation | None = None
        if conversation is not None:
            conv = self._by_label.get(_validate_label(conversation))
            if conv is None:
                return SearchResult([])
        parts: list[str] = []
        params: list[Any] = []
        for word in history_search.indexed_query_words(qwords):
            parts.append("SELECT message FROM terms WHERE term = ?")
            params.append(self._sealer.term(history_search.lookup_word(word)))
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
                for stored in self._open_rows(batch, prefilter):
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
        how many. Works by whole hours: a message may outlive the limit by under an hour."""
        cutoff = _hour(now - days * 86400.0)
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
                self._save_counts()
            total += len(rows)
        if total:
            self._refresh_totals()
            self._conn.execute("PRAGMA incremental_vacuum")
        return total


def _hour(timestamp: float) -> int:
    return int(timestamp // 3600) if math.isfinite(timestamp) else 0


def _low_water(limit: int) -> int:
    """Evict down to 95% of a limit, so a full history does not delete on every message."""
    return max(0, limit - max(1, limit // 20))


def remove_history_files(path: Path) -> None:
    """Delete the history file and SQLite's companions (``-wal``, ``-shm``)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()
