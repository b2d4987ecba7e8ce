"""Durability: users and rooms survive restarts and kill -9; the stored hash is argon2id."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from tests.tracker_client import TrackerTestClient, password_digest
from tests.tracker_process import read_banner, start_tracker_process
from tracker.network.certificate import fingerprint_of_pem
from tracker.storage.sqlite_file import DB_FILE_NAME, _run_batch

REPO = Path(__file__).resolve().parents[2]


def stored_hash(data_dir: Path, username: str) -> str:
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        return str(
            conn.execute("SELECT password FROM users WHERE username = ?", (username,)).fetchone()[0]
        )


async def test_stored_hash_is_argon2id_with_owasp_parameters(tracker, user):
    alice = await user(tracker, "alice")
    secret, _ = await alice.secrets("alice", "correct horse")
    value = stored_hash(tracker.config.data_dir, "alice")
    assert value.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in value
    assert secret not in value and password_digest("correct horse") not in value
    assert PasswordHasher().verify(value, secret)


async def test_users_and_rooms_survive_a_restart(tracker_factory, tmp_path, user, connect):
    data_dir = tmp_path / "persist"
    first = await tracker_factory(data_dir=data_dir)
    alice = await user(first, "alice")
    await alice.request("CREATE_ROOM", room="lobby")
    fingerprint = first.cert_fingerprint
    key = alice.identity_key
    await first.stop()
    await alice.wait_closed()

    second = await tracker_factory(data_dir=data_dir)
    assert second.cert_fingerprint == fingerprint
    again = await connect(second)
    again.identity_key = key
    login = await again.login("alice")
    assert login["status"] == "OK"
    room = {
        "room": "lobby",
        "owner": "alice",
        "members": ["alice"],
        "online": ["alice"],
        "capacity": 16,
        "invite_only": False,
    }
    assert [r["room"] for r in login["rooms"]] == [room]
    rooms = (await again.request("LIST_ROOMS"))["rooms"]
    assert rooms == [room]
    assert [p["username"] for p in (await again.request("LIST_PEERS"))["peers"]] == ["alice"]
    assert (await again.request("DELETE_ROOM", room="lobby"))["status"] == "OK"


async def test_login_rehashes_when_parameters_change(tracker_factory, tmp_path, user, connect):
    data_dir = tmp_path / "rehash"
    first = await tracker_factory(data_dir=data_dir)
    alice = await user(first, "alice")
    key = alice.identity_key
    await first.stop()
    second = await tracker_factory(data_dir=data_dir, argon2_time_cost=3)
    client = await connect(second)
    client.identity_key = key
    assert (await client.login("alice"))["status"] == "OK"
    assert "t=3" in stored_hash(data_dir, "alice")


async def test_generated_key_is_private_and_cert_matches_fingerprint(tracker):
    key_path = tracker.config.data_dir / "tracker-key.pem"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert fingerprint_of_pem(tracker.cert_path) == tracker.cert_fingerprint


async def _start_cli(data_dir: Path, stderr: int | None = None) -> asyncio.subprocess.Process:
    return await start_tracker_process(data_dir, stderr=stderr)


async def test_acknowledged_registration_survives_kill_9(tmp_path):
    data_dir = tmp_path / "killed"
    proc = await _start_cli(data_dir)
    try:
        port, fingerprint = await read_banner(proc)
        assert len(fingerprint) == 95
        client = await TrackerTestClient.connect("127.0.0.1", port, data_dir / "tracker-cert.pem")
        assert (await client.register("alice"))["status"] == "OK"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await client.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    proc = await _start_cli(data_dir)
    try:
        port, again = await read_banner(proc)
        assert again == fingerprint
        client2 = await TrackerTestClient.connect("127.0.0.1", port, data_dir / "tracker-cert.pem")
        client2.identity_key = client.identity_key
        assert (await client2.login("alice"))["status"] == "OK"
        await client2.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
async def test_damaged_database_is_refused_clearly_and_left_alone(tmp_path, damage):
    """The original silently started over with no users; this tracker refuses to start."""
    data_dir = tmp_path / "damaged"
    proc = await _start_cli(data_dir)
    port, _ = await read_banner(proc)
    client = await TrackerTestClient.connect("127.0.0.1", port, data_dir / "tracker-cert.pem")
    for name in ("alice", "bob", "carol"):
        assert (await client.register(name))["status"] == "OK"
    await client.close()
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0

    db = data_dir / DB_FILE_NAME
    whole = db.read_bytes()
    content = os.urandom(len(whole)) if damage == "garbage" else whole[: len(whole) // 2]
    db.write_bytes(content)

    result = await _start_cli(data_dir, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(result.communicate(), 30)
    assert result.returncode == 1
    message = err.decode()
    assert "Traceback" not in message
    assert str(db) in message and "restore it from a backup" in message
    assert b"listening" not in out
    assert db.read_bytes() == content


def test_a_failed_commit_ends_the_batch_transaction(tmp_path: Path) -> None:
    """A COMMIT that fails must not leave the transaction open: every later batch would
    then fail at BEGIN IMMEDIATE, stopping every write until a restart."""
    conn = sqlite3.connect(tmp_path / "t.sqlite3", isolation_level=None)
    conn.execute("CREATE TABLE t (x INTEGER)")

    class CommitFails:
        """The connection, whose first COMMIT fails the way a busy database's would."""

        failed = False

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if sql == "COMMIT" and not self.failed:
                self.failed = True
                raise sqlite3.OperationalError("database is locked")
            return conn.execute(sql, *args)

        @property
        def in_transaction(self) -> bool:
            return conn.in_transaction

    flaky = CommitFails()
    with pytest.raises(sqlite3.OperationalError):
        _run_batch(flaky, [lambda c: c.execute("INSERT INTO t VALUES (1)")])  # type: ignore[arg-type]
    assert not conn.in_transaction
    assert _run_batch(conn, [lambda c: c.execute("INSERT INTO t VALUES (2)").rowcount]) == [
        (True, 1)
    ]
    assert conn.execute("SELECT x FROM t").fetchall() == [(2,)]
