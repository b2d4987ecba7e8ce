"""The shared back end: :class:`~tracker.storage.base.Storage` on PostgreSQL (psycopg 3).

``--database postgresql://...`` puts a tracker on a PostgreSQL database that other
trackers may share. Every call takes a connection from a pool
(:class:`psycopg_pool.AsyncConnectionPool`) and commits before it returns (PostgreSQL
commits are durable with its default ``synchronous_commit=on``), so an acknowledged
REGISTER survives ``kill -9`` of the tracker. The schema is created by the first
tracker to start, under an advisory lock so that two starting at once do not race.

Besides the tables of the SQLite back end it holds what a group of trackers shares
live (:mod:`tracker.group.coordinator`): ``trackers`` (one row per running tracker and its lease),
``presence`` (who is logged in, on which tracker), ``rooms.members`` (each room's
durable members in join order; ``rooms.member_relay_only`` those of them who entered
relay-only; ``rooms.member_joined`` when each joined, ordering a user's rooms),
``group_log`` (the ordered list of changes that the trackers' ``NOTIFY`` points to) and
``relay`` (relayed frames on their way to a session of another tracker,
:mod:`tracker.group.relay`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

import tracker.storage.pg_mailbox as pg_mailbox
import tracker.storage.pg_throttles as pg_throttles
from crypto.login_secret import LoginKdf
from tracker.state.mailbox import MailboxLimits, TokensVerdict
from tracker.state.room_changes import (
    BanAdded,
    BanRemoved,
    InviteAdded,
    InviteRemoved,
    MemberAdded,
    MemberModeChanged,
    MemberRemoved,
    RoomCreated,
    RoomDeleted,
    RoomModeChanged,
    RoomUsed,
    StoreAction,
)
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
    user_from_row,
)
from tracker.storage.invites import code_hash, new_code
from tracker.storage.mailbox_records import Deposited, FetchedPage
from tracker.storage.sqlite_file import DatabaseOpenError

#: Advisory lock keys (arbitrary 64-bit constants).
SCHEMA_LOCK = 0x70327063_68617401
GROUP_LOCK = 0x70327063_68617402

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username     TEXT PRIMARY KEY,
    password     TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    created      DOUBLE PRECISION NOT NULL,
    salt         BYTEA,
    login_kdf    TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS users_username_folded ON users (lower(username));
CREATE TABLE IF NOT EXISTS rooms (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    created     DOUBLE PRECISION NOT NULL,
    invite_only BOOLEAN NOT NULL DEFAULT FALSE,
    members     TEXT[] NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS room_bans (
    room     TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    folded   TEXT NOT NULL,
    username TEXT NOT NULL,
    created  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (room, folded)
);
CREATE TABLE IF NOT EXISTS room_invites (
    room     TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    folded   TEXT NOT NULL,
    username TEXT NOT NULL,
    created  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (room, folded)
);
CREATE TABLE IF NOT EXISTS invites (
    code_hash TEXT PRIMARY KEY,
    created   DOUBLE PRECISION NOT NULL,
    expires   DOUBLE PRECISION,
    used_by   TEXT,
    used_at   DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS throttle (
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    stamp DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS throttle_by_stamp ON throttle (stamp);
CREATE TABLE IF NOT EXISTS tickets (
    hash         TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    expires      DOUBLE PRECISION NOT NULL,
    used         DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS tickets_by_user ON tickets (username);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trackers (
    id          TEXT PRIMARY KEY,
    started     DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS presence (
    username     TEXT PRIMARY KEY,
    tracker      TEXT NOT NULL,
    session      BIGINT NOT NULL,
    host         TEXT NOT NULL,
    port         INTEGER,
    identity_key TEXT NOT NULL,
    since        DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS presence_by_tracker ON presence (tracker);
CREATE TABLE IF NOT EXISTS group_log (
    seq   BIGSERIAL PRIMARY KEY,
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    extra TEXT,
    at    DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS relay (
    id             BIGSERIAL PRIMARY KEY,
    tracker        TEXT NOT NULL,
    session        BIGINT NOT NULL,
    username       TEXT NOT NULL,
    origin         TEXT NOT NULL,
    origin_session BIGINT NOT NULL,
    size           INTEGER NOT NULL,
    body           TEXT NOT NULL,
    at             DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS relay_by_tracker ON relay (tracker, id);
CREATE INDEX IF NOT EXISTS relay_by_origin ON relay (origin);
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS newcomer BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS last_active DOUBLE PRECISION;
ALTER TABLE presence ADD COLUMN IF NOT EXISTS relay_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS member_joined DOUBLE PRECISION[] NOT NULL DEFAULT '{}';
DO $$ BEGIN
    -- Durable members (issue 21): before, rooms.members held who was in the room live.
    -- A database from then starts with its rooms as they were and no members.
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'rooms'
                   AND column_name = 'member_relay_only') THEN
        ALTER TABLE rooms ADD COLUMN member_relay_only TEXT[] NOT NULL DEFAULT '{}';
        UPDATE rooms SET members = '{}', member_joined = '{}';
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS room_removals (
    name      TEXT PRIMARY KEY,
    requested DOUBLE PRECISION NOT NULL
);
"""

_ACCESS_TABLES = {BanAdded: "room_bans", InviteAdded: "room_invites"}
_REMOVE_TABLES = {BanRemoved: "room_bans", InviteRemoved: "room_invites"}


async def apply_room_change(conn: AsyncConnection[Any], action: StoreAction, now: float) -> None:
    """One durable room fact, inside the caller's transaction."""
    if isinstance(action, RoomCreated):
        await conn.execute(
            "INSERT INTO rooms (name, owner, created, invite_only, newcomer, last_active)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (action.name, action.owner, now, action.invite_only, action.newcomer, now),
        )
    elif isinstance(action, RoomDeleted):
        await conn.execute("DELETE FROM rooms WHERE name = %s", (action.name,))
        await conn.execute("DELETE FROM room_removals WHERE name = %s", (action.name,))
    elif isinstance(action, RoomUsed):
        await conn.execute(
            "UPDATE rooms SET last_active = GREATEST(COALESCE(last_active, 0), %s) WHERE name = %s",
            (action.at, action.room),
        )
    elif isinstance(action, RoomModeChanged):
        await conn.execute(
            "UPDATE rooms SET invite_only = %s WHERE name = %s", (action.invite_only, action.room)
        )
    elif isinstance(action, BanAdded | InviteAdded):
        table = _ACCESS_TABLES[type(action)]
        await conn.execute(
            f"INSERT INTO {table} (room, folded, username, created)"  # noqa: S608
            " VALUES (%s, lower(%s), %s, %s) ON CONFLICT DO NOTHING",
            (action.room, action.username, action.username, now),
        )
    elif isinstance(action, MemberAdded):
        await conn.execute(
            "UPDATE rooms SET members = array_append(members, %s),"
            " member_joined = array_append(member_joined, %s),"
            " member_relay_only = CASE WHEN %s THEN array_append(member_relay_only, %s)"
            " ELSE member_relay_only END WHERE name = %s AND NOT (%s = ANY(members))",
            (
                action.username,
                action.joined,
                action.relay_only,
                action.username,
                action.room,
                action.username,
            ),
        )
    elif isinstance(action, MemberRemoved):
        await conn.execute(
            "UPDATE rooms SET member_joined = COALESCE((SELECT array_agg(j ORDER BY i)"
            " FROM unnest(members, member_joined) WITH ORDINALITY AS t(m, j, i)"
            " WHERE m <> %s AND j IS NOT NULL), '{}'),"
            " members = array_remove(members, %s),"
            " member_relay_only = array_remove(member_relay_only, %s) WHERE name = %s",
            (action.username, action.username, action.username, action.room),
        )
    elif isinstance(action, MemberModeChanged):
        await conn.execute(
            "UPDATE rooms SET member_relay_only = CASE WHEN %s"
            " THEN array_append(array_remove(member_relay_only, %s), %s)"
            " ELSE array_remove(member_relay_only, %s) END WHERE name = %s",
            (action.relay_only, action.username, action.username, action.username, action.room),
        )
    elif isinstance(action, BanRemoved | InviteRemoved):
        table = _REMOVE_TABLES[type(action)]
        await conn.execute(
            f"DELETE FROM {table} WHERE room = %s AND folded = lower(%s)",  # noqa: S608
            (action.room, action.username),
        )


class PgStorage:
    """A pool of connections to ``url``; see the module docstring."""

    kind = "postgresql"

    def __init__(self, url: str, pool_size: int = 8) -> None:
        self.url = url
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, kwargs={"autocommit": True}
        )

    async def open(self) -> None:
        """Connect and create the schema; :class:`DatabaseOpenError` if that fails."""
        try:
            await self.pool.open(wait=True, timeout=30)
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                await conn.execute(SCHEMA)
                await conn.execute(pg_mailbox.SCHEMA)
        except (psycopg.Error, PoolTimeout) as exc:
            await self.pool.close()
            raise DatabaseOpenError(
                f"cannot use the PostgreSQL database: {type(exc).__name__}: {exc}"
            ) from None

    async def close(self) -> None:
        await self.pool.close()

    async def settings(self, default_realm: str) -> GroupSettings:
        async with self.pool.connection() as conn, conn.transaction():
            values = {}
            for key, default in (
                ("salt_secret", secrets.token_hex(32)),
                ("realm", default_realm),
            ):
                await conn.execute(
                    "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (key, default),
                )
                cur = await conn.execute("SELECT value FROM meta WHERE key = %s", (key,))
                row = await cur.fetchone()
                assert row is not None
                values[key] = str(row[0])
        return GroupSettings(bytes.fromhex(values["salt_secret"]), values["realm"])

    # accounts

    async def get_user(self, username: str) -> UserRecord | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT username, password, identity_key, created, salt, login_kdf FROM users"
                " WHERE username = %s",
                (username,),
            )
            row = await cur.fetchone()
        return None if row is None else user_from_row(row)

    async def add_user(
        self,
        username: str,
        password_hash: str,
        identity_key: str,
        salt: bytes | None,
        login_kdf: LoginKdf | None,
        invite: str | None = None,
    ) -> AddResult:
        now = time.time()
        kdf = None if login_kdf is None else login_kdf.encode()
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO users (username, password, identity_key, created, salt, login_kdf)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (username, password_hash, identity_key, now, salt, kdf),
            )
            if cur.rowcount != 1:
                return AddResult.TAKEN
            if invite is not None:
                spent = await conn.execute(
                    "UPDATE invites SET used_by = %s, used_at = %s WHERE code_hash = %s"
                    " AND used_by IS NULL AND (expires IS NULL OR expires > %s)",
                    (username, now, code_hash(invite), now),
                )
                if spent.rowcount != 1:
                    await conn.execute("DELETE FROM users WHERE username = %s", (username,))
                    return AddResult.INVITE_INVALID
        return AddResult.ADDED

    async def set_password(
        self, username: str, password_hash: str, salt: bytes | None, login_kdf: LoginKdf | None
    ) -> None:
        kdf = None if login_kdf is None else login_kdf.encode()
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE users SET password = %s, salt = %s, login_kdf = %s WHERE username = %s",
                (password_hash, salt, kdf, username),
            )

    async def set_identity_key(self, username: str, identity_key: str) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE users SET identity_key = %s WHERE username = %s", (identity_key, username)
            )
            await conn.execute("DELETE FROM tickets WHERE username = %s", (username,))

    async def count_users(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM users")
            row = await cur.fetchone()
        return 0 if row is None else int(row[0])

    # rooms

    async def all_rooms(self) -> list[RoomRecord]:
        async with self.pool.connection() as conn:
            return await all_rooms(conn)

    async def apply_room_changes(self, actions: Sequence[StoreAction]) -> None:
        now = time.time()
        async with self.pool.connection() as conn, conn.transaction():
            for action in actions:
                await apply_room_change(conn, action, now)

    async def request_room_removal(self, name: str) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO room_removals (name, requested) SELECT name, %s FROM rooms"
                " WHERE name = %s ON CONFLICT (name) DO UPDATE SET requested = EXCLUDED.requested",
                (time.time(), name),
            )
        return cur.rowcount == 1

    async def room_removals(self) -> list[str]:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT name FROM room_removals ORDER BY requested")
            return [str(row[0]) for row in await cur.fetchall()]

    async def clear_room_removals(self, names: Sequence[str]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM room_removals WHERE name = ANY(%s)", (list(names),))

    # registration invites

    async def invite_usable(self, code: str, now: float) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT code_hash, created, expires, used_by, used_at FROM invites"
                " WHERE code_hash = %s",
                (code_hash(code),),
            )
            row = await cur.fetchone()
        return row is not None and InviteRecord(*row).usable(now)

    async def create_invites(self, count: int, expires: float | None) -> list[str]:
        now = time.time()
        codes = [new_code() for _ in range(count)]
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor()
            await cur.executemany(
                "INSERT INTO invites (code_hash, created, expires) VALUES (%s, %s, %s)",
                [(code_hash(code), now, expires) for code in codes],
            )
        return codes

    async def list_invites(self) -> list[InviteRecord]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT code_hash, created, expires, used_by, used_at FROM invites ORDER BY created"
            )
            return [InviteRecord(*row) for row in await cur.fetchall()]

    async def revoke_invite(self, code: str) -> bool:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM invites WHERE code_hash = %s AND used_by IS NULL", (code_hash(code),)
            )
        return cur.rowcount == 1

    # throttles

    async def load_throttles(self) -> list[ThrottleRow]:
        async with self.pool.connection() as conn:
            return await pg_throttles.load(conn)

    async def save_throttles(
        self, changes: Sequence[ThrottleChange], since: float
    ) -> SavedThrottles:
        async with self.pool.connection() as conn:
            return await pg_throttles.save(conn, changes, since)

    # resumption tickets

    async def issue_ticket(
        self, ticket_hash: str, username: str, identity_key: str, expires: float
    ) -> None:
        """The user's only live ticket: the live ones issued before are revoked with it."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM tickets WHERE username = %s AND used IS NULL", (username,)
            )
            await conn.execute(
                "INSERT INTO tickets (hash, username, identity_key, expires)"
                " VALUES (%s, %s, %s, %s)",
                (ticket_hash, username, identity_key, expires),
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
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT username, identity_key, expires, used FROM tickets WHERE hash = %s"
                " FOR UPDATE",
                (ticket_hash,),
            )
            verdict, cleanup = judge_ticket(await cur.fetchone(), username, identity_key, now)
            if cleanup is TicketCleanup.THIS_TICKET:
                await conn.execute("DELETE FROM tickets WHERE hash = %s", (ticket_hash,))
            elif cleanup is TicketCleanup.ALL_OF_USER:
                await conn.execute("DELETE FROM tickets WHERE username = %s", (username,))
            if verdict is not Redeemed.OK:
                return verdict
            await conn.execute("UPDATE tickets SET used = %s WHERE hash = %s", (now, ticket_hash))
            await conn.execute(
                "INSERT INTO tickets (hash, username, identity_key, expires)"
                " VALUES (%s, %s, %s, %s)",
                (next_hash, username, identity_key, next_expires),
            )
            await conn.execute(  # one live ticket per user: the one just issued
                "DELETE FROM tickets WHERE username = %s AND used IS NULL AND hash <> %s",
                (username, next_hash),
            )
            await conn.execute(
                "DELETE FROM tickets WHERE username = %s AND (expires <= %s OR hash IN ("
                " SELECT hash FROM tickets WHERE username = %s AND used IS NOT NULL"
                " ORDER BY used DESC OFFSET %s))",
                (username, now, username, USED_TICKETS_KEPT),
            )
        return Redeemed.OK

    async def revoke_tickets(self, username: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM tickets WHERE username = %s", (username,))

    # the mailbox (:mod:`tracker.storage.pg_mailbox`)

    async def mailbox_tokens(
        self, username: str, add: tuple[bytes, ...], remove: tuple[bytes, ...], now: float
    ) -> TokensVerdict:
        async with self.pool.connection() as conn, conn.transaction():
            return await pg_mailbox.set_tokens(conn, username, add, remove, now)

    async def mailbox_deposit(
        self, recipient: str, token_hash: bytes, body: bytes, now: float, limits: MailboxLimits
    ) -> Deposited:
        async with self.pool.connection() as conn, conn.transaction():
            return await pg_mailbox.deposit(conn, recipient, token_hash, body, now, limits)

    async def mailbox_fetch(
        self, recipient: str, after: int, limit: int, budget: int
    ) -> FetchedPage:
        async with self.pool.connection() as conn:
            return await pg_mailbox.fetch(conn, recipient, after, limit, budget)

    async def mailbox_ack(self, recipient: str, up_to: int) -> int:
        async with self.pool.connection() as conn, conn.transaction():
            return await pg_mailbox.ack(conn, recipient, up_to)

    async def mailbox_count(self, recipient: str) -> int:
        async with self.pool.connection() as conn:
            return await pg_mailbox.count(conn, recipient)

    async def mailbox_expire(self, cutoff: float) -> int:
        async with self.pool.connection() as conn, conn.transaction():
            return await pg_mailbox.expire(conn, cutoff)


async def all_rooms(conn: AsyncConnection[Any]) -> list[RoomRecord]:
    """Every room with its access lists and members in join order (the group keeps them
    in step: :mod:`tracker.group.rows`)."""
    names: dict[str, dict[str, list[str]]] = {"room_bans": {}, "room_invites": {}}
    for table, found in names.items():
        cur = await conn.execute(f"SELECT room, username FROM {table} ORDER BY created")  # noqa: S608
        for room, username in await cur.fetchall():
            found.setdefault(room, []).append(username)
    cur = await conn.execute(
        "SELECT name, owner, created, invite_only, newcomer, COALESCE(last_active, created),"
        " members, member_relay_only, member_joined FROM rooms ORDER BY name"
    )
    return [
        RoomRecord(
            name,
            owner,
            created,
            bool(invite_only),
            tuple(names["room_bans"].get(name, ())),
            tuple(names["room_invites"].get(name, ())),
            bool(newcomer),
            float(last_active),
            tuple(
                (m, m in relay_only, float(joined[i]) if i < len(joined) else 0.0)
                for i, m in enumerate(members)
            ),
        )
        for (
            name,
            owner,
            created,
            invite_only,
            newcomer,
            last_active,
            members,
            relay_only,
            joined,
        ) in await cur.fetchall()
    ]
