"""A tracker cannot make a client send the old, unsalted login digest once the client has
seen the account use the salted secret there (real trackers on loopback, a hostile one
built here with the real tracker's own certificate and key, real clients)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from commons.errors import ErrorCode, P2PChatError
from crypto.keystore import TEST_KDF_PARAMS, load_or_create_identity
from crypto.login_secret import legacy_digest
from peer.client.chat_client import ChatClient
from peer.session.login_memory import MEMORY_FILE
from tests.peer.salt_forger import SaltForger
from tests.peers import DEFAULT_PASSWORD, peer_config
from tests.tracker.test_login_secret import OLD_PASSWORD, stored
from tracker.server.server import TrackerServer
from tracker.storage.sqlite_file import DB_FILE_NAME

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
async def hostile(tracker: TrackerServer, connect: Any) -> AsyncIterator[SaltForger]:
    salt = await (await connect(tracker)).request("SALT", username="alice")
    server = SaltForger(tracker, {**salt, "legacy": True})
    await server.start()
    yield server
    await server.stop()


async def _log_in(
    tracker: TrackerServer,
    home: Path,
    name: str,
    password: str,
    *,
    port: int | None = None,
    allow_legacy_login: bool = False,
) -> P2PChatError | None:
    """A fresh client (a restarted one, if ``home`` was used before) logging in to
    ``tracker`` (or whatever listens at ``port`` with its certificate); returns the error
    it raised, or None."""
    config = replace(
        peer_config(tracker, home, allow_legacy_login=allow_legacy_login),
        tracker=("127.0.0.1", tracker.port if port is None else port),
    )
    client = ChatClient(config, kdf_params=TEST_KDF_PARAMS)
    try:
        await client.connect()
        await client.login(name, password)
    except P2PChatError as exc:
        return exc
    finally:
        await client.close()
    return None


async def _roll_back_to_legacy(tracker: TrackerServer, name: str, password: str) -> None:
    """What a database restored from before the upgrade holds: the old verifier."""
    await tracker.storage.set_password(name, CHEAP.hash(legacy_digest(password)), None, None)


def _assert_no_password_material(path: Path, password: str) -> None:
    text = path.read_text()
    assert password not in text and legacy_digest(password) not in text
    assert set(json.loads(text)) == {"version", "accounts"}


async def test_a_hostile_tracker_claiming_legacy_gets_nothing_after_registration(
    tracker, hostile, peer_factory, tmp_path
):
    alice = await peer_factory(tracker, "alice", login=False)
    await alice.client.register("alice", DEFAULT_PASSWORD)  # remembered from REGISTER on
    await alice.close()
    home = tmp_path / "home-alice"
    _assert_no_password_material(home / MEMORY_FILE, DEFAULT_PASSWORD)

    # The same certificate at another address, and the user even allows legacy logins.
    refused = await _log_in(
        tracker, home, "alice", DEFAULT_PASSWORD, port=hostile.port, allow_legacy_login=True
    )
    assert refused is not None and refused.code is ErrorCode.LOGIN_DOWNGRADE, refused
    assert "downgrade" in refused.message
    assert [frame["cmd"] for frame in hostile.received] == ["SALT"]  # no LOGIN at all
    assert legacy_digest(DEFAULT_PASSWORD).encode() not in bytes(hostile.raw)


async def test_without_consent_a_client_sends_no_legacy_digest_to_a_tracker_it_never_saw(
    tracker, hostile, tmp_path
):
    home = tmp_path / "new-home"
    refused = await _log_in(tracker, home, "alice", DEFAULT_PASSWORD, port=hostile.port)
    assert refused is not None and refused.code is ErrorCode.LEGACY_LOGIN_REFUSED, refused
    assert "--allow-legacy-login" in refused.message
    assert [frame["cmd"] for frame in hostile.received] == ["SALT"]


async def test_a_tracker_rolled_back_to_legacy_gets_no_digest_after_a_restart(
    tracker, peer_factory, tmp_path
):
    alice = await peer_factory(tracker, "alice")
    await alice.close()
    await _roll_back_to_legacy(tracker, "alice", DEFAULT_PASSWORD)

    home = tmp_path / "home-alice"
    refused = await _log_in(tracker, home, "alice", DEFAULT_PASSWORD, allow_legacy_login=True)
    assert refused is not None and refused.code is ErrorCode.LOGIN_DOWNGRADE, refused
    verifier, salt, _ = stored(tracker.config.data_dir, "alice")
    assert salt is None and CHEAP.verify(verifier, legacy_digest(DEFAULT_PASSWORD))


def schema_2_with(
    data_dir: Path, username: str, identity_key: str, password: str = OLD_PASSWORD
) -> None:
    """A tracker database from before the salted scheme, holding one account."""
    data_dir.mkdir(mode=0o700)
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        conn.executescript(
            """
            CREATE TABLE users (username TEXT PRIMARY KEY, password TEXT NOT NULL,
                                identity_key TEXT NOT NULL, created REAL NOT NULL);
            CREATE UNIQUE INDEX users_username_nocase ON users (username COLLATE NOCASE);
            CREATE TABLE rooms (name TEXT PRIMARY KEY, owner TEXT NOT NULL,
                                created REAL NOT NULL, invite_only INTEGER NOT NULL DEFAULT 0);
            PRAGMA user_version=2;
            """
        )
        conn.execute(
            "INSERT INTO users VALUES (?, ?, ?, 0)",
            (username, CHEAP.hash(legacy_digest(password)), identity_key),
        )


async def test_a_genuinely_old_account_migrates_once_the_user_allows_it(tracker_factory, tmp_path):
    home = tmp_path / "home-olduser"
    identity, _ = load_or_create_identity(home, "olduser", OLD_PASSWORD, kdf_params=TEST_KDF_PARAMS)
    data_dir = tmp_path / "schema2"
    schema_2_with(data_dir, "olduser", identity.public_b64)
    tracker = await tracker_factory(data_dir=data_dir)

    refused = await _log_in(tracker, home, "olduser", OLD_PASSWORD)
    assert refused is not None and refused.code is ErrorCode.LEGACY_LOGIN_REFUSED, refused
    assert stored(data_dir, "olduser")[1] is None  # nothing reached the tracker's check

    assert await _log_in(tracker, home, "olduser", OLD_PASSWORD, allow_legacy_login=True) is None
    assert stored(data_dir, "olduser")[1] is not None  # upgraded
    _assert_no_password_material(home / MEMORY_FILE, OLD_PASSWORD)
    assert await _log_in(tracker, home, "olduser", OLD_PASSWORD) is None  # the salted secret

    # Once migrated, the account is never downgraded again from this home.
    await _roll_back_to_legacy(tracker, "olduser", OLD_PASSWORD)
    refused = await _log_in(tracker, home, "olduser", OLD_PASSWORD, allow_legacy_login=True)
    assert refused is not None and refused.code is ErrorCode.LOGIN_DOWNGRADE, refused
    assert stored(data_dir, "olduser")[1] is None
