"""Registration invite codes on disk: single use, optionally expiring, stored hashed.

In ``--registration invite`` mode a REGISTER must carry a code made by the operator
(``p2pchat-tracker invite new``). A code is 120 random bits (20 URL-safe characters),
shown once when made; the database keeps only its SHA-256, so a copy of the database
does not hand out unused codes. Looking a code up by its hash is constant-time with
respect to the code's value. A code is spent in the same transaction that creates the
account (:func:`tracker.storage.sqlite_users.insert_user`), so two REGISTERs racing with one code
create one account, and a REGISTER that fails (name taken) does not spend it.

Who may make invites: whoever can write the data directory, which is the operator
(the directory is 0700). There is deliberately no wire command for it.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time

from tracker.storage.base import InviteRecord

#: 15 random bytes: 120 bits, 20 characters of URL-safe base64.
CODE_BYTES = 15


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def new_code() -> str:
    """A fresh code; never one starting with ``-`` (a command line would take it for an option)."""
    while True:
        code = secrets.token_urlsafe(CODE_BYTES)
        if not code.startswith("-"):
            return code


def spend_sync(conn: sqlite3.Connection, code: str, username: str, now: float) -> bool:
    """Mark ``code`` used by ``username``; False if unknown, used or expired.

    Runs inside the caller's transaction (the one that inserts the account).
    """
    cursor = conn.execute(
        "UPDATE invites SET used_by = ?, used_at = ?"
        " WHERE code_hash = ? AND used_by IS NULL AND (expires IS NULL OR expires > ?)",
        (username, now, code_hash(code), now),
    )
    return cursor.rowcount == 1


def create_sync(conn: sqlite3.Connection, count: int, expires: float | None) -> list[str]:
    """Make ``count`` new codes durably and return them (the only time they are seen)."""
    now = time.time()
    codes = [new_code() for _ in range(count)]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT INTO invites (code_hash, created, expires) VALUES (?, ?, ?)",
            [(code_hash(code), now, expires) for code in codes],
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return codes


def list_sync(conn: sqlite3.Connection) -> list[InviteRecord]:
    rows = conn.execute(
        "SELECT code_hash, created, expires, used_by, used_at FROM invites ORDER BY created"
    ).fetchall()
    return [InviteRecord(*row) for row in rows]


def revoke_sync(conn: sqlite3.Connection, code: str) -> bool:
    """Forget an unused code; False if it is unknown or already used."""
    cursor = conn.execute(
        "DELETE FROM invites WHERE code_hash = ? AND used_by IS NULL", (code_hash(code),)
    )
    return cursor.rowcount == 1


def usable_sync(conn: sqlite3.Connection, code: str, now: float) -> bool:
    """Whether ``code`` would be accepted now (REGISTER checks before hashing)."""
    row = conn.execute(
        "SELECT code_hash, created, expires, used_by, used_at FROM invites WHERE code_hash = ?",
        (code_hash(code),),
    ).fetchone()
    return row is not None and InviteRecord(*row).usable(now)
