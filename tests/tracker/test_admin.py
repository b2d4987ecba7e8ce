"""``p2pchat-tracker invite``: make, list, revoke and expire registration invites."""

from __future__ import annotations

import sqlite3

from tests.tracker_process import run_admin
from tracker.storage.invites import new_code
from tracker.storage.sqlite_file import DB_FILE_NAME


async def register_with(client, name: str, code: str) -> str:
    reply = await client.request(
        "REGISTER", username=name, password="0" * 64, identity_key=client.identity_key, invite=code
    )
    return str(reply.get("code", reply["status"]))


async def test_list_revoke_and_expiry(tracker_factory, connect, tmp_path):
    data_dir = tmp_path / "admin"
    status, out, _ = await run_admin(data_dir, "new", "--count", "3", "--expires-in", "0")
    assert status == 0
    used, revoked, expired = out.split()
    assert len(used) == 20
    tracker = await tracker_factory(data_dir=data_dir, registration="invite")
    client = await connect(tracker)
    assert await register_with(client, "alice", used) == "OK"

    status, _, _ = await run_admin(data_dir, "revoke", revoked)
    assert status == 0
    assert await register_with(client, "bob", revoked) == "invite_invalid"
    status, _, err = await run_admin(data_dir, "revoke", used)
    assert status == 1 and "no unused invite" in err

    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        conn.execute("UPDATE invites SET expires = 1 WHERE used_by IS NULL")
    assert await register_with(client, "bob", expired) == "invite_invalid"

    status, out, _ = await run_admin(data_dir, "list")
    lines = out.splitlines()
    assert len(lines) == 2
    assert sum("used by alice" in line for line in lines) == 1
    assert sum("expired" in line for line in lines) == 1
    assert used not in out and expired not in out


def test_codes_never_look_like_options():
    assert not any(new_code().startswith("-") for _ in range(2000))


async def test_bad_arguments_are_refused(tmp_path):
    status, _, err = await run_admin(tmp_path / "x", "new", "--count", "0")
    assert status == 2 and "--count" in err
