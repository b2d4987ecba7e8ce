"""Helpers for the abuse suite: untrusted trackers, accounts seeded straight into SQLite."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from crypto.identity import IdentityKey
from tests.tracker_client import password_digest
from tracker.server.server import TrackerServer
from tracker.storage.sqlite_file import Database
from tracker.storage.sqlite_users import insert_user

UntrustedFactory = Callable[..., Awaitable[TrackerServer]]


@pytest.fixture
def untrusted_tracker(tracker_factory: Callable[..., Awaitable[TrackerServer]]) -> UntrustedFactory:
    """``tracker_factory`` with no trusted network: every source is a stranger."""

    async def make(**changes: Any) -> TrackerServer:
        changes.setdefault("trusted_networks", ())
        return await tracker_factory(**changes)

    return make


def seed_users(
    data_dir: Path, names: list[str], keys: dict[str, IdentityKey], password: str
) -> None:
    """Create accounts directly in the database (one real argon2id hash, reused), in the
    legacy scheme: their first login upgrades them, proving the identity key in ``keys``.

    Registering 1,000 accounts through the protocol would only measure argon2 and the
    registration limit; the attack under test is what they do once logged in.
    """
    password_hash = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(
        password_digest(password)
    )
    db = Database(data_dir)
    db.open_blocking()

    def insert_all(conn: Any) -> None:
        conn.execute("BEGIN")
        for name in names:
            insert_user(conn, name, password_hash, keys[name].public_b64)
        conn.execute("COMMIT")

    try:
        db.run_blocking(insert_all)
    finally:
        db.close_blocking()
