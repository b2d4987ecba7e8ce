"""Durable membership on disk (issue 21): members survive kill -9 of a real tracker process
in join order, and a database from before durable members is migrated in place."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

from tests.tracker_client import TrackerTestClient
from tests.tracker_process import read_banner, start_tracker_process
from tracker.storage.sqlite_file import DB_FILE_NAME, SCHEMA_VERSION

#: The tables of schema 4 that the rooms lived in, as the tracker before issue 21 made them.
_SCHEMA_4 = """
CREATE TABLE users (
    username TEXT PRIMARY KEY, password TEXT NOT NULL, identity_key TEXT NOT NULL,
    created REAL NOT NULL, salt BLOB, login_kdf TEXT
);
CREATE UNIQUE INDEX users_username_nocase ON users (username COLLATE NOCASE);
CREATE TABLE rooms (
    name TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL,
    invite_only INTEGER NOT NULL DEFAULT 0, newcomer INTEGER NOT NULL DEFAULT 0,
    last_active REAL
);
CREATE TABLE room_removals (name TEXT PRIMARY KEY, requested REAL NOT NULL);
CREATE TABLE room_bans (
    room TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    username TEXT NOT NULL COLLATE NOCASE, created REAL NOT NULL, PRIMARY KEY (room, username)
);
CREATE TABLE room_invites (
    room TEXT NOT NULL REFERENCES rooms (name) ON DELETE CASCADE,
    username TEXT NOT NULL COLLATE NOCASE, created REAL NOT NULL, PRIMARY KEY (room, username)
);
INSERT INTO rooms (name, owner, created, invite_only) VALUES ('lobby', 'alice', 0, 0);
INSERT INTO room_bans VALUES ('lobby', 'mallory', 0);
PRAGMA user_version=4;
"""


async def test_a_schema_4_database_migrates_rooms_kept_owners_not_added(
    tracker_factory, tmp_path, user, connect
):
    data_dir = tmp_path / "v4"
    data_dir.mkdir(mode=0o700)
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        conn.executescript(_SCHEMA_4)
    first = await tracker_factory(data_dir=data_dir)
    alice = await user(first, "alice")
    bob = await user(first, "bob")
    listed = (await alice.request("LIST_ROOMS"))["rooms"]
    assert [(r["room"], r["owner"], r["members"]) for r in listed] == [("lobby", "alice", [])]
    assert (await bob.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    assert (await alice.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    assert (await alice.request("JOIN_ROOM", room="mallory"))["status"] == "ERROR"
    key = bob.identity_key
    await first.stop()

    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        stored = conn.execute("SELECT username FROM room_members ORDER BY seq").fetchall()
        assert stored == [("bob",), ("alice",)]
        assert conn.execute("SELECT username FROM room_bans").fetchall() == [("mallory",)]
    second = await tracker_factory(data_dir=data_dir)
    again = await connect(second)
    again.identity_key = key
    reply = await again.login("bob")
    assert [item["room"]["members"] for item in reply["rooms"]] == [["bob", "alice"]]


async def _client(port: int, data_dir: Path) -> TrackerTestClient:
    return await TrackerTestClient.connect("127.0.0.1", port, data_dir / "tracker-cert.pem")


async def test_memberships_survive_kill_9_in_join_order(tmp_path):
    """Create and join, kill -9 the tracker, start it on the same file: every user is
    back in every room with nothing typed, rooms and members in the order they joined."""
    data_dir = tmp_path / "killed"
    proc = await start_tracker_process(data_dir)
    clients: list[TrackerTestClient] = []
    try:
        port, _ = await read_banner(proc)
        for name in ("alice", "bob", "carol"):
            client = await _client(port, data_dir)
            clients.append(client)
            assert (await client.register(name))["status"] == "OK"
            assert (await client.login(name))["status"] == "OK"
        alice, bob, carol = clients
        for room in ("zeta", "alpha"):
            assert (await alice.request("CREATE_ROOM", room=room))["status"] == "OK"
        assert (await carol.request("JOIN_ROOM", room="alpha"))["status"] == "OK"
        for room in ("zeta", "alpha"):  # not in name order: the order bob joined is kept
            assert (await bob.request("JOIN_ROOM", room=room, relay_only=True))["status"] == "OK"
        assert (await carol.request("LEAVE_ROOM", room="alpha"))["status"] == "OK"
        assert (await carol.request("JOIN_ROOM", room="alpha"))["status"] == "OK"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    finally:
        for client in clients:
            await client.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    proc = await start_tracker_process(data_dir)
    try:
        port, _ = await read_banner(proc)
        again = await _client(port, data_dir)
        again.identity_key = bob.identity_key
        reply = await again.login("bob", port=40001)
        rooms = [
            (item["room"]["room"], item["room"]["members"], item["room"]["online"])
            for item in reply["rooms"]
        ]
        assert rooms == [
            ("zeta", ["alice", "bob"], ["bob"]),
            ("alpha", ["alice", "bob", "carol"], ["bob"]),
        ]
        mine = [m for item in reply["rooms"] for m in item["members"] if m["username"] == "bob"]
        assert all("port" not in entry for entry in mine)  # relay-only, as stored
        await again.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
