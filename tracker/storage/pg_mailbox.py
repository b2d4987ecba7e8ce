"""The mailbox on PostgreSQL (issue 22): the SQLite module's statements for a group.

Why a module of its own: like :mod:`tracker.storage.pg_throttles`, it keeps a family of
statements out of :mod:`tracker.storage.postgres`. Every function runs in the caller's
transaction, which commits before the tracker answers (durable with PostgreSQL's default
``synchronous_commit=on``).

Several trackers write the same mailbox, so each check and its write are serialised:
a deposit holds a transaction-level advisory lock on its recipient (two deposits at two
trackers cannot both take the last place), and ``MAILBOX_TOKENS`` one lock for all token
changes (they are rare; two users can then never both be told they own one hash).
A deposit made at one tracker is a row every tracker of the group reads, so it is
fetched wherever its recipient logs in.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from tracker.state.mailbox import (
    MailboxLimits,
    TokensVerdict,
    Usage,
    judge_deposit,
    judge_tokens,
    may_deposit,
)
from tracker.storage.mailbox_records import Deposited, DepositRow, FetchedPage

#: Advisory lock key of token changes (an arbitrary 64-bit constant).
TOKENS_LOCK = 0x70327063_68617403
#: Namespace of the per-recipient deposit locks (``pg_advisory_xact_lock(int, int)``).
DEPOSIT_LOCK_SPACE = 0x7032_7064

SCHEMA = """
CREATE TABLE IF NOT EXISTS mailbox_tokens (
    token_hash BYTEA PRIMARY KEY,
    username   TEXT NOT NULL,
    created    DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS mailbox_tokens_by_user ON mailbox_tokens (username);
CREATE TABLE IF NOT EXISTS deposits (
    id         BIGSERIAL PRIMARY KEY,
    recipient  TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    body       BYTEA NOT NULL,
    size       INTEGER NOT NULL,
    stored_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS deposits_by_recipient ON deposits (recipient, id, size);
CREATE INDEX IF NOT EXISTS deposits_by_token ON deposits (token_hash, size);
CREATE INDEX IF NOT EXISTS deposits_by_age ON deposits (stored_at);
"""

Conn = AsyncConnection[Any]


async def set_tokens(
    conn: Conn, username: str, add: tuple[bytes, ...], remove: tuple[bytes, ...], now: float
) -> TokensVerdict:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (TOKENS_LOCK,))
    cur = await conn.execute(
        "SELECT token_hash FROM mailbox_tokens WHERE username = %s", (username,)
    )
    owned = {bytes(row[0]) for row in await cur.fetchall()}
    cur = await conn.execute(
        "SELECT token_hash, username FROM mailbox_tokens WHERE token_hash = ANY(%s)", (list(add),)
    )
    owners = {bytes(row[0]): str(row[1]) for row in await cur.fetchall()}
    verdict = judge_tokens(username, owned, add, remove, owners)
    if verdict.taken or verdict.over_quota:
        return verdict
    if remove:
        await conn.execute(
            "DELETE FROM mailbox_tokens WHERE username = %s AND token_hash = ANY(%s)",
            (username, list(remove)),
        )
    for digest in add:
        await conn.execute(
            "INSERT INTO mailbox_tokens (token_hash, username, created) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (digest, username, now),
        )
    return verdict


async def _usage(conn: Conn, column: str, value: object) -> Usage:
    cur = await conn.execute(
        f"SELECT count(*), COALESCE(sum(size), 0) FROM deposits WHERE {column} = %s",  # noqa: S608
        (value,),
    )
    row = await cur.fetchone()
    assert row is not None
    return Usage(int(row[0]), int(row[1]))


async def deposit(
    conn: Conn,
    recipient: str,
    token_hash: bytes,
    body: bytes,
    now: float,
    limits: MailboxLimits,
) -> Deposited:
    cur = await conn.execute(
        "SELECT username FROM mailbox_tokens WHERE token_hash = %s", (token_hash,)
    )
    row = await cur.fetchone()
    if not may_deposit(None if row is None else str(row[0]), recipient):
        return Deposited(refused=True)
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (DEPOSIT_LOCK_SPACE, recipient)
    )
    mine = await _usage(conn, "recipient", recipient)
    full = judge_deposit(limits, mine, await _usage(conn, "token_hash", token_hash), len(body))
    if full is not None:
        return Deposited(full=full)
    cur = await conn.execute(
        "INSERT INTO deposits (recipient, token_hash, body, size, stored_at)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (recipient, token_hash, body, len(body), now),
    )
    inserted = await cur.fetchone()
    assert inserted is not None
    return Deposited(deposit_id=int(inserted[0]), count=mine.count + 1)


async def fetch(conn: Conn, recipient: str, after: int, limit: int, budget: int) -> FetchedPage:
    """As :func:`tracker.storage.sqlite_mailbox.fetch`."""
    cur = await conn.execute(
        "SELECT id, token_hash, body, stored_at FROM deposits"
        " WHERE recipient = %s AND id > %s ORDER BY id LIMIT %s",
        (recipient, after, limit + 1),
    )
    rows: list[DepositRow] = []
    spent = 0
    more = False
    for deposit_id, digest, body, stored_at in await cur.fetchall():
        item = DepositRow(int(deposit_id), bytes(digest), bytes(body), float(stored_at))
        if len(rows) == limit or (rows and spent + item.wire_size > budget):
            more = True
            break
        rows.append(item)
        spent += item.wire_size
    return FetchedPage(tuple(rows), more)


async def ack(conn: Conn, recipient: str, up_to: int) -> int:
    cur = await conn.execute(
        "DELETE FROM deposits WHERE recipient = %s AND id <= %s", (recipient, up_to)
    )
    return cur.rowcount


async def count(conn: Conn, recipient: str) -> int:
    return (await _usage(conn, "recipient", recipient)).count


async def expire(conn: Conn, cutoff: float) -> int:
    cur = await conn.execute("DELETE FROM deposits WHERE stored_at < %s", (cutoff,))
    return cur.rowcount
