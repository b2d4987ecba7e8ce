"""The history file on disk: its tables, creating and opening it, its key check, its
permissions, deleting it.

``HOME/USER/history.sqlite3`` (mode 0600, in the user's 0700 folder) keeps the messages
of every room and private conversation. What is in it:

* ``messages``: per message, its conversation (a row of ``conversations``), the hour
  it arrived (whole hours since the epoch: retention needs it; nothing finer is stored
  in the clear), the entry sealed with AES-256-GCM (:mod:`peer.history.sealing`) and
  its blind search terms.
* ``conversations``: ``#room`` or ``@user`` sealed (bound to the row's id); with running
  counts so opening the file reads no message it does not show.
* ``terms``: ``(term, message)`` pairs, the word index (:mod:`peer.history.search`).
* ``meta``: format version, the per-file salt, and a sealed check value that tells a
  wrong key (another identity) from a damaged file.

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

HISTORY_FILE_NAME = "history.sqlite3"
FORMAT = "p2pchat-history"
VERSION = 1
_CHECK = b"p2pchat history check"

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
