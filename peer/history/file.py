"""The history file on disk: its tables, creating, opening and upgrading it, its key
check, its permissions, deleting it.

``HOME/USER/history.sqlite3`` (mode 0600, in the user's 0700 folder) keeps the messages
of every room and private conversation. What is in it (format version 2):

* ``messages``: per message, its conversation (a row of ``conversations``), the hour
  it arrived (whole hours since the epoch: retention needs it; nothing finer is stored
  in the clear) and the entry sealed with AES-256-GCM (:mod:`peer.history.sealing`).
  Nothing else: no search term and no count of them.
* ``conversations``: ``#room`` or ``@user`` sealed (bound to the row's id); with running
  counts so opening the file reads no message it does not show.
* ``meta``: format version, the per-file salt, a sealed check value that tells a wrong
  key (another identity) from a damaged file, and ``index``: the word index
  (:mod:`peer.history.index`) sealed whole and padded, written when a session that
  searched closes the file.

Version 1 kept the word index in a clear ``terms`` table of keyed hashes, one row per
word of each message, and a term count per message: a dictionary for anyone who can
send the user words (issue 20). Opening a version-1 file drops both, rewrites the file
without them (``VACUUM``) and keeps every message; the index is rebuilt in memory from
the messages at the first search.

Keys come from :mod:`crypto.history_seal` (HKDF over the identity private key). Deleted
rows are overwritten (``secure_delete``) and their pages reused.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from commons.errors import ErrorCode, P2PChatError
from crypto.errors import DecryptError
from crypto.history_seal import SALT_SIZE, HistoryKeys, HistorySealer, new_salt
from peer.history.sealing import row_cost

HISTORY_FILE_NAME = "history.sqlite3"
FORMAT = "p2pchat-history"
VERSION = 2
#: Versions this code opens; older ones are upgraded in place (:func:`_upgrade_from_v1`).
_READABLE_VERSIONS = {b"1", b"2"}
_CHECK = b"p2pchat history check"
#: The ``meta`` row holding the sealed word index.
INDEX_META = "index"

_MESSAGES_TABLE = """
CREATE TABLE {name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    sealed BLOB NOT NULL
);
"""
_MESSAGES_INDEXES = """
CREATE INDEX messages_by_conversation ON messages (conversation, id);
CREATE INDEX messages_by_hour ON messages (hour);
"""
SCHEMA = (
    """
CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sealed BLOB NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    last INTEGER NOT NULL DEFAULT 0
);
"""
    + _MESSAGES_TABLE.format(name="messages")
    + _MESSAGES_INDEXES
)


class HistoryError(P2PChatError):
    """The history file cannot be used (damaged, unknown format, unsafe permissions)."""

    code = ErrorCode.KEY_FILE_ERROR


class HistoryKeyError(HistoryError):
    """The file was sealed under another key: another identity key for this user."""

    code = ErrorCode.WRONG_PASSWORD


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


@contextlib.contextmanager
def open_database(
    path: Path, keys: Callable[[bytes], HistoryKeys]
) -> Iterator[tuple[sqlite3.Connection, HistorySealer]]:
    """Open ``path`` (creating it 0600 if missing); ``keys(salt)`` derives the keys.

    Yields the connection and the file's sealer. Raises :class:`HistoryKeyError` if the
    file was sealed under other keys and :class:`HistoryError` if it is damaged, of an
    unknown format or too open. What the caller reads inside the block counts as part of
    opening: an SQLite error there is a damaged file too, and any error closes the
    connection; otherwise it stays open for the caller.
    """
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
        yield conn, _setup(conn, keys, fresh=created)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise HistoryError(f"the history file {path} is damaged ({exc})") from None
    except BaseException:
        conn.close()
        raise


def _setup(
    conn: sqlite3.Connection, keys: Callable[[bytes], HistoryKeys], *, fresh: bool
) -> HistorySealer:
    """Write the tables and ``meta`` of a new file, or check those of an existing one."""
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
    # Not the sealed index: opening never reads it (:mod:`peer.history.store` loads it
    # at the first search).
    stored: dict[str, object] = dict(
        conn.execute("SELECT name, value FROM meta WHERE name != ?", (INDEX_META,)).fetchall()
    )
    if stored.get("format") != FORMAT.encode():
        raise HistoryError("not a p2pchat history file")
    version = stored.get("version")
    if version not in _READABLE_VERSIONS:
        raise HistoryError(f"unsupported history format version {version!r}")
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
    if version == b"1":
        _upgrade_from_v1(conn)
    return sealer


def _upgrade_from_v1(conn: sqlite3.Connection) -> None:
    """Drop version 1's clear word index (the ``terms`` table and the per-message term
    count), keeping every message, its id and the id sequence; then rewrite the file so
    the dropped rows' pages are gone from it, not just unlinked.

    Runs after the key check (a file of another key is set aside unchanged). One
    transaction: a crash leaves version 1 whole, and the next open upgrades it again.
    Conversation byte counts are recomputed from the sealed sizes (:func:`row_cost`),
    which read no message.
    """
    with conn:
        conn.execute("BEGIN")
        found = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
        sequence = int(found[0]) if found is not None else 0
        conn.execute("DROP TABLE IF EXISTS terms")
        conn.execute(_MESSAGES_TABLE.format(name="messages_v2"))
        conn.execute(
            "INSERT INTO messages_v2 (id, conversation, hour, sealed)"
            " SELECT id, conversation, hour, sealed FROM messages"
        )
        conn.execute("DROP TABLE messages")
        conn.execute("ALTER TABLE messages_v2 RENAME TO messages")
        for statement in filter(str.strip, _MESSAGES_INDEXES.split(";")):
            conn.execute(statement)
        conn.execute("DELETE FROM sqlite_sequence WHERE name IN ('messages', 'messages_v2')")
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)", (sequence,))
        costs: dict[int, int] = {}
        for cid, size in conn.execute("SELECT conversation, length(sealed) FROM messages"):
            costs[cid] = costs.get(cid, 0) + row_cost(size)
        conn.execute("UPDATE conversations SET bytes = 0")
        conn.executemany(
            "UPDATE conversations SET bytes = ? WHERE id = ?",
            [(cost, cid) for cid, cost in costs.items()],
        )
        conn.execute("DELETE FROM meta WHERE name = ?", (INDEX_META,))
        conn.execute("UPDATE meta SET value = ? WHERE name = 'version'", (str(VERSION).encode(),))
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def close_database(conn: sqlite3.Connection) -> None:
    """Fold the write-ahead log back into the file, then close."""
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def remove_history_files(path: Path) -> None:
    """Delete the history file and SQLite's companions (``-wal``, ``-shm``)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()
