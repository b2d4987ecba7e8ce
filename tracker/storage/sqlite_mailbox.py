"""The mailbox on SQLite (issue 22): token hashes, deposits, their limits and expiry.

Why a module of its own: the mailbox is a family of statements like the rooms'
(:mod:`tracker.storage.sqlite_rooms`); these functions run on the database's one thread
inside the caller's transaction (:meth:`tracker.storage.sqlite_file.Database.run_batched`,
so a deposit is acknowledged only after its commit, with ``synchronous=FULL``, and a
burst of deposits shares one fsync). The rules are :mod:`tracker.state.mailbox`'s; this
module reads the counts they need and writes what they allow in the same transaction.

Tables (schema 6): ``mailbox_tokens (token_hash PRIMARY KEY, username, created)`` and
``deposits (id, recipient, token_hash, body, size, stored_at)``; ``id`` is an
``AUTOINCREMENT`` key, so ids only grow and an acknowledged id is never reused.
"""

from __future__ import annotations

import sqlite3

from tracker.state.mailbox import (
    FullLimit,
    MailboxLimits,
    TokensVerdict,
    Usage,
    judge_deposit,
    judge_tokens,
    may_deposit,
)
from tracker.storage.mailbox_records import Deposited, DepositRow, FetchedPage

SCHEMA = """
CREATE TABLE IF NOT EXISTS mailbox_tokens (
    token_hash BLOB PRIMARY KEY,
    username   TEXT NOT NULL,
    created    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_tokens_by_user ON mailbox_tokens (username);
CREATE TABLE IF NOT EXISTS deposits (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient  TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    body       BLOB NOT NULL,
    size       INTEGER NOT NULL,
    stored_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS deposits_by_recipient ON deposits (recipient, id, size);
CREATE INDEX IF NOT EXISTS deposits_by_token ON deposits (token_hash, size);
CREATE INDEX IF NOT EXISTS deposits_by_age ON deposits (stored_at);
"""


def set_tokens(
    conn: sqlite3.Connection,
    username: str,
    add: tuple[bytes, ...],
    remove: tuple[bytes, ...],
    now: float,
) -> TokensVerdict:
    """Own ``add`` and give up ``remove``, all or nothing; the verdict says why not."""
    owned = {
        bytes(row[0])
        for row in conn.execute(
            "SELECT token_hash FROM mailbox_tokens WHERE username = ?", (username,)
        )
    }
    owners: dict[bytes, str] = {}
    for digest in add:
        row = conn.execute(
            "SELECT username FROM mailbox_tokens WHERE token_hash = ?", (digest,)
        ).fetchone()
        if row is not None:
            owners[digest] = str(row[0])
    verdict = judge_tokens(username, owned, add, remove, owners)
    if verdict.taken or verdict.over_quota:
        return verdict
    conn.executemany(
        "DELETE FROM mailbox_tokens WHERE token_hash = ? AND username = ?",
        [(digest, username) for digest in remove],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO mailbox_tokens (token_hash, username, created) VALUES (?, ?, ?)",
        [(digest, username, now) for digest in add],
    )
    return verdict


def _usage(conn: sqlite3.Connection, column: str, value: object) -> Usage:
    count, size = conn.execute(
        f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM deposits WHERE {column} = ?",  # noqa: S608
        (value,),
    ).fetchone()
    return Usage(int(count), int(size))


def deposit(
    conn: sqlite3.Connection,
    recipient: str,
    token_hash: bytes,
    body: bytes,
    now: float,
    limits: MailboxLimits,
) -> Deposited:
    """Store ``body`` for ``recipient`` if ``token_hash`` is theirs and it fits."""
    row = conn.execute(
        "SELECT username FROM mailbox_tokens WHERE token_hash = ?", (token_hash,)
    ).fetchone()
    if not may_deposit(None if row is None else str(row[0]), recipient):
        return Deposited(refused=True)
    mine = _usage(conn, "recipient", recipient)
    full = judge_deposit(limits, mine, _usage(conn, "token_hash", token_hash), len(body))
    if full is not None:
        return Deposited(full=full)
    cursor = conn.execute(
        "INSERT INTO deposits (recipient, token_hash, body, size, stored_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (recipient, token_hash, body, len(body), now),
    )
    assert cursor.lastrowid is not None
    return Deposited(deposit_id=cursor.lastrowid, count=mine.count + 1)


def fetch(
    conn: sqlite3.Connection, recipient: str, after: int, limit: int, budget: int
) -> FetchedPage:
    """Deposits after ``after`` in order, at most ``limit`` and ``budget`` wire bytes
    (at least one, whatever its size: a body always fits a frame on its own)."""
    rows: list[DepositRow] = []
    spent = 0
    more = False
    for deposit_id, token_hash, body, stored_at in conn.execute(
        "SELECT id, token_hash, body, stored_at FROM deposits"
        " WHERE recipient = ? AND id > ? ORDER BY id LIMIT ?",
        (recipient, after, limit + 1),
    ):
        item = DepositRow(int(deposit_id), bytes(token_hash), bytes(body), float(stored_at))
        if len(rows) == limit or (rows and spent + item.wire_size > budget):
            more = True
            break
        rows.append(item)
        spent += item.wire_size
    return FetchedPage(tuple(rows), more)


def ack(conn: sqlite3.Connection, recipient: str, up_to: int) -> int:
    cursor = conn.execute(
        "DELETE FROM deposits WHERE recipient = ? AND id <= ?", (recipient, up_to)
    )
    return cursor.rowcount


def count(conn: sqlite3.Connection, recipient: str) -> int:
    return _usage(conn, "recipient", recipient).count


def expire(conn: sqlite3.Connection, cutoff: float) -> int:
    return conn.execute("DELETE FROM deposits WHERE stored_at < ?", (cutoff,)).rowcount


__all__ = ["SCHEMA", "FullLimit", "ack", "count", "deposit", "expire", "fetch", "set_tokens"]
