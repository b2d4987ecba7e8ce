"""The embedded back end: :class:`~tracker.storage.base.Storage` on one SQLite file.

Every call runs on the database's one thread (:class:`tracker.storage.sqlite_file.Database`);
ticket writes share transactions through group commit, so a reconnect storm costs one
disk sync per batch, not one per session.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import tracker.storage.invites as invite_store
import tracker.storage.sqlite_mailbox as mailbox_store
import tracker.storage.sqlite_rooms as room_store
import tracker.storage.sqlite_users as user_store
from crypto.login_secret import LoginKdf
from tracker.state.mailbox import MailboxLimits, TokensVerdict
from tracker.state.room_changes import StoreAction
from tracker.storage.base import (
    USED_TICKETS_KEPT,
    AddResult,
    GroupSettings,
    InviteRecord,
    Redeemed,
    RoomRecord,
    SavedThrottles,
    ThrottleChange,
    ThrottleRow,
    TicketCleanup,
    UserRecord,
    judge_ticket,
)
from tracker.storage.mailbox_records import Deposited, FetchedPage
from tracker.storage.sqlite_file import Database

SALT_SECRET_BYTES = 32


def _setting(conn: sqlite3.Connection, key: str, default: str) -> str:
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, default))
    return str(conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])


def settings_sync(conn: sqlite3.Connection, default_realm: str) -> GroupSettings:
    conn.execute("BEGIN IMMEDIATE")
    try:
        secret = _setting(conn, "salt_secret", secrets.token_hex(SALT_SECRET_BYTES))
        realm = _setting(conn, "realm", default_realm)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return GroupSettings(bytes.fromhex(secret), realm)


def _save_throttles_sync(conn: sqlite3.Connection, changes: Sequence[ThrottleChange]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for change in changes:
            kind, key, record = change.kind, change.key, change.record
            if record is None:
                conn.execute("DELETE FROM throttle WHERE kind = ? AND key = ?", (kind, key))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO throttle (kind, key, value, stamp) VALUES (?, ?, ?, ?)",
                    (kind, key, record.value, record.stamp),
                )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def revoke_tickets_sync(conn: sqlite3.Connection, username: str) -> None:
    conn.execute("DELETE FROM tickets WHERE username = ?", (username,))


def issue_ticket_sync(
    conn: sqlite3.Connection, ticket_hash: str, username: str, identity_key: str, expires: float
) -> None:
    """A password login's ticket: it becomes the user's only live one (the live tickets
    issued before it, a stolen one included, are revoked in the same transaction)."""
    conn.execute("DELETE FROM tickets WHERE username = ? AND used IS NULL", (username,))
    conn.execute(
        "INSERT INTO tickets (hash, username, identity_key, expires) VALUES (?, ?, ?, ?)",
        (ticket_hash, username, identity_key, expires),
    )


def redeem_ticket_sync(
    conn: sqlite3.Connection,
    ticket_hash: str,
    username: str,
    identity_key: str,
    next_hash: str,
    next_expires: float,
    now: float,
) -> Redeemed:
    """Spend a ticket and issue the next (inside the caller's transaction)."""
    row = conn.execute(
        "SELECT username, identity_key, expires, used FROM tickets WHERE hash = ?",
        (ticket_hash,),
    ).fetchone()
    verdict, cleanup = judge_ticket(row, username, identity_key, now)
    if cleanup is TicketCleanup.THIS_TICKET:
        conn.execute("DELETE FROM tickets WHERE hash = ?", (ticket_hash,))
    elif cleanup is TicketCleanup.ALL_OF_USER:
        revoke_tickets_sync(conn, username)
    if verdict is not Redeemed.OK:
        return verdict
    conn.execute("UPDATE tickets SET used = ? WHERE hash = ?", (now, ticket_hash))
    conn.execute(
        "INSERT INTO tickets (hash, username, identity_key, expires) VALUES (?, ?, ?, ?)",
        (next_hash, username, identity_key, next_expires),
    )
    conn.execute(  # one live ticket per user: the one just issued
        "DELETE FROM tickets WHERE username = ? AND used IS NULL AND hash != ?",
        (username, next_hash),
    )
    conn.execute(
        "DELETE FROM tickets WHERE username = ? AND (expires <= ? OR hash IN ("
        " SELECT hash FROM tickets WHERE username = ? AND used IS NOT NULL"
        " ORDER BY used DESC LIMIT -1 OFFSET ?))",
        (username, now, username, USED_TICKETS_KEPT),
    )
    return Redeemed.OK


class SqliteStorage:
    """``tracker.sqlite3`` in the data directory."""

    kind = "sqlite"

    def __init__(self, data_dir: Path) -> None:
        self.db = Database(data_dir)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def settings(self, default_realm: str) -> GroupSettings:
        return await self.db.run(lambda conn: settings_sync(conn, default_realm))

    # accounts

    async def get_user(self, username: str) -> UserRecord | None:
        return await self.db.run(lambda conn: user_store.get_user(conn, username))

    async def add_user(
        self,
        username: str,
        password_hash: str,
        identity_key: str,
        salt: bytes | None,
        login_kdf: LoginKdf | None,
        invite: str | None = None,
    ) -> AddResult:
        return await self.db.run(
            lambda conn: user_store.insert_user(
                conn, username, password_hash, identity_key, invite, salt, login_kdf
            )
        )

    async def set_password(
        self, username: str, password_hash: str, salt: bytes | None, login_kdf: LoginKdf | None
    ) -> None:
        kdf = None if login_kdf is None else login_kdf.encode()
        await self.db.run(
            lambda conn: conn.execute(
                "UPDATE users SET password = ?, salt = ?, login_kdf = ? WHERE username = ?",
                (password_hash, salt, kdf, username),
            )
        )

    async def set_identity_key(self, username: str, identity_key: str) -> None:
        def update(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE users SET identity_key = ? WHERE username = ?", (identity_key, username)
            )
            revoke_tickets_sync(conn, username)

        await self.db.run_batched(update)

    async def count_users(self) -> int:
        return await self.db.run(
            lambda conn: int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])
        )

    # rooms

    async def all_rooms(self) -> list[RoomRecord]:
        return await self.db.run(room_store.all_rooms)

    async def apply_room_changes(self, actions: Sequence[StoreAction]) -> None:
        changes = tuple(actions)
        await self.db.run(lambda conn: room_store.apply_changes(conn, changes))

    async def request_room_removal(self, name: str) -> bool:
        return await self.db.run(lambda conn: room_store.request_removal(conn, name))

    async def room_removals(self) -> list[str]:
        return await self.db.run(room_store.removals)

    async def clear_room_removals(self, names: Sequence[str]) -> None:
        done = tuple(names)
        await self.db.run(lambda conn: room_store.clear_removals(conn, done))

    # registration invites

    async def invite_usable(self, code: str, now: float) -> bool:
        return await self.db.run(lambda conn: invite_store.usable_sync(conn, code, now))

    async def create_invites(self, count: int, expires: float | None) -> list[str]:
        return await self.db.run(lambda conn: invite_store.create_sync(conn, count, expires))

    async def list_invites(self) -> list[InviteRecord]:
        return await self.db.run(invite_store.list_sync)

    async def revoke_invite(self, code: str) -> bool:
        return await self.db.run(lambda conn: invite_store.revoke_sync(conn, code))

    # throttles

    async def load_throttles(self) -> list[ThrottleRow]:
        def query(conn: sqlite3.Connection) -> list[ThrottleRow]:
            return conn.execute("SELECT kind, key, value, stamp FROM throttle").fetchall()

        return await self.db.run(query)

    async def save_throttles(
        self, changes: Sequence[ThrottleChange], since: float
    ) -> SavedThrottles:
        if changes:
            rows = list(changes)
            await self.db.run(lambda conn: _save_throttles_sync(conn, rows))
        return SavedThrottles([], time.time())  # one tracker per file: nobody else writes

    # resumption tickets

    async def issue_ticket(
        self, ticket_hash: str, username: str, identity_key: str, expires: float
    ) -> None:
        await self.db.run_batched(
            lambda conn: issue_ticket_sync(conn, ticket_hash, username, identity_key, expires)
        )

    async def redeem_ticket(
        self,
        ticket_hash: str,
        username: str,
        identity_key: str,
        next_hash: str,
        next_expires: float,
        now: float,
    ) -> Redeemed:
        return await self.db.run_batched(
            lambda conn: redeem_ticket_sync(
                conn, ticket_hash, username, identity_key, next_hash, next_expires, now
            )
        )

    async def revoke_tickets(self, username: str) -> None:
        await self.db.run_batched(lambda conn: revoke_tickets_sync(conn, username))

    # the mailbox: writes through group commit (one fsync for a burst), reads plain

    async def mailbox_tokens(
        self, username: str, add: tuple[bytes, ...], remove: tuple[bytes, ...], now: float
    ) -> TokensVerdict:
        return await self.db.run_batched(
            lambda conn: mailbox_store.set_tokens(conn, username, add, remove, now)
        )

    async def mailbox_deposit(
        self, recipient: str, token_hash: bytes, body: bytes, now: float, limits: MailboxLimits
    ) -> Deposited:
        return await self.db.run_batched(
            lambda conn: mailbox_store.deposit(conn, recipient, token_hash, body, now, limits)
        )

    async def mailbox_fetch(
        self, recipient: str, after: int, limit: int, budget: int
    ) -> FetchedPage:
        return await self.db.run(
            lambda conn: mailbox_store.fetch(conn, recipient, after, limit, budget)
        )

    async def mailbox_ack(self, recipient: str, up_to: int) -> int:
        return await self.db.run_batched(lambda conn: mailbox_store.ack(conn, recipient, up_to))

    async def mailbox_count(self, recipient: str) -> int:
        return await self.db.run(lambda conn: mailbox_store.count(conn, recipient))

    async def mailbox_expire(self, cutoff: float) -> int:
        return await self.db.run_batched(lambda conn: mailbox_store.expire(conn, cutoff))
