"""Accounts in SQLite: username, argon2id verifier, login salt and cost, bound key.

The SQL of :class:`tracker.storage.sqlite.SqliteStorage` for the ``users`` table; the
bench and the tests seed users with :func:`insert_user` directly.
"""

from __future__ import annotations

import sqlite3
import time

from crypto.login_secret import LoginKdf
from tracker.storage.base import AddResult, UserRecord, user_from_row
from tracker.storage.invites import spend_sync


def get_user(conn: sqlite3.Connection, username: str) -> UserRecord | None:
    row = conn.execute(
        "SELECT username, password, identity_key, created, salt, login_kdf FROM users"
        " WHERE username = ?",
        (username,),
    ).fetchone()
    if row is None:
        return None
    return user_from_row(row)


def insert_user(
    conn: sqlite3.Connection,
    username: str,
    password_hash: str,
    identity_key: str,
    invite: str | None = None,
    salt: bytes | None = None,
    login_kdf: LoginKdf | None = None,
) -> AddResult:
    """Insert one user (and spend ``invite``) atomically.

    The name is checked first, so a taken name never spends the invite. A savepoint
    rather than ``BEGIN`` lets a caller seed many users in one transaction of its own.
    """
    now = time.time()
    conn.execute("SAVEPOINT add_user")
    try:
        try:
            conn.execute(
                "INSERT INTO users (username, password, identity_key, created, salt, login_kdf)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    username,
                    password_hash,
                    identity_key,
                    now,
                    salt,
                    None if login_kdf is None else login_kdf.encode(),
                ),
            )
        except sqlite3.IntegrityError:
            result = AddResult.TAKEN
        else:
            spent = invite is None or spend_sync(conn, invite, username, now)
            result = AddResult.ADDED if spent else AddResult.INVITE_INVALID
        if result is not AddResult.ADDED:
            conn.execute("ROLLBACK TO add_user")
    except BaseException:
        conn.execute("ROLLBACK TO add_user")
        conn.execute("RELEASE add_user")
        raise
    conn.execute("RELEASE add_user")
    return result
