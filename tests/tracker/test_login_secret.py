"""SALT and the salted login secret on a real tracker; accounts of the old scheme migrate."""

from __future__ import annotations

import sqlite3

from argon2 import PasswordHasher

from commons.errors import ErrorCode, P2PChatError
from crypto.identity import IdentityKey
from crypto.login_secret import MIN_LOGIN_KDF, legacy_digest, login_secret
from peer.client.chat_client import ChatClient
from tests.peers import peer_config
from tests.tracker_client import TrackerTestClient
from tracker.storage.sqlite_file import DB_FILE_NAME

OLD_PASSWORD = "an old password"
OWASP = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def stored(data_dir, username: str) -> tuple[str, bytes | None, str | None]:
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        row = conn.execute(
            "SELECT password, salt, login_kdf FROM users WHERE username = ?", (username,)
        ).fetchone()
    return row[0], row[1], row[2]


async def test_salt_enumerates_nothing(tracker, connect, user):
    probe = await connect(tracker)
    before = await probe.request("SALT", username="alice")
    other = await probe.request("SALT", username="bob")
    await user(tracker, "alice")
    after = await probe.request("SALT", username="alice")
    assert before == {**after, "id": before["id"]}  # same salt, cost, realm, legacy flag
    assert before["legacy"] is False and len(before["salt"]) == 32
    assert other["salt"] != before["salt"]
    assert (await probe.request("SALT", username="ALICE"))["salt"] == before["salt"]


async def test_two_groups_give_one_name_unrelated_salts_and_realms(tracker_factory, connect):
    first, second = await tracker_factory(), await tracker_factory()
    one = await (await connect(first)).request("SALT", username="alice")
    two = await (await connect(second)).request("SALT", username="alice")
    assert one["salt"] != two["salt"] and one["realm"] != two["realm"]


async def test_the_stored_verifier_is_argon2_of_the_salted_secret(tracker, user):
    alice = await user(tracker, "alice")
    salt = await alice.request("SALT", username="alice")
    secret, _ = await alice.secrets("alice", "correct horse")
    verifier, stored_salt, kdf = stored(tracker.config.data_dir, "alice")
    assert stored_salt == bytes.fromhex(salt["salt"]) and kdf == "8,1,1"
    assert PasswordHasher().verify(verifier, secret)
    # The unsalted digest of the old scheme opens nothing any more.
    old_style = await TrackerTestClient.connect("127.0.0.1", tracker.port, tracker.cert_path)
    try:
        old_style.identity_key = alice.identity_key
        reply = await old_style.request(
            "LOGIN",
            username="alice",
            password=legacy_digest("correct horse"),
            identity_key=alice.identity_key,
            port=40000,
        )
        assert reply["code"] == "auth_failed"
    finally:
        await old_style.close()


def _schema_2_with_a_legacy_account(data_dir, owner: IdentityKey | None = None) -> str:
    """A database as the tracker before this change left it: one old-scheme account,
    registered with ``owner``'s key (a fixed key nobody holds if none)."""
    data_dir.mkdir(mode=0o700)
    identity_key = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
    if owner is not None:
        identity_key = owner.public_b64
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
            ("olduser", OWASP.hash(legacy_digest(OLD_PASSWORD)), identity_key),
        )
    return identity_key


async def test_an_old_scheme_account_migrates_at_its_next_login(tracker_factory, tmp_path, connect):
    data_dir = tmp_path / "schema2"
    owner = IdentityKey.generate()
    identity_key = _schema_2_with_a_legacy_account(data_dir, owner)
    tracker = await tracker_factory(data_dir=data_dir)
    client = await connect(tracker)
    client.identity, client.identity_key = owner, identity_key

    salt = await client.request("SALT", username="olduser")
    assert salt["legacy"] is True
    new_secret = login_secret(
        OLD_PASSWORD, salt["realm"], bytes.fromhex(salt["salt"]), tracker.config.login_kdf
    )
    wrong = await client.request(
        "LOGIN",
        username="olduser",
        password=new_secret,
        legacy_password=legacy_digest("not the password"),
        identity_key=identity_key,
        port=40000,
    )
    assert wrong["code"] == "auth_failed"
    assert stored(data_dir, "olduser")[1] is None  # a failed login upgrades nothing

    # Sends the old digest, the new secret and the proof of the registered key.
    reply = await client.login("olduser", OLD_PASSWORD)
    assert reply["status"] == "OK", reply
    verifier, salt_bytes, kdf = stored(data_dir, "olduser")
    assert salt_bytes == bytes.fromhex(salt["salt"]) and kdf is not None
    secret, legacy = await client.secrets("olduser", OLD_PASSWORD)
    assert legacy is None  # SALT no longer says legacy
    assert PasswordHasher().verify(verifier, secret)

    assert "upgrade_key" not in await client.request("SALT", username="olduser")
    again = await connect(tracker)
    again.identity_key = identity_key
    assert (await again.login("olduser", OLD_PASSWORD))["status"] == "OK"
    old_client = await connect(tracker)
    reply = await old_client.request(
        "LOGIN",
        username="olduser",
        password=legacy_digest(OLD_PASSWORD),
        identity_key=identity_key,
        port=40000,
    )
    assert reply["code"] == "auth_failed"  # the old digest alone no longer logs in


async def test_an_old_client_still_logs_in_to_an_old_account(tracker_factory, tmp_path, connect):
    data_dir = tmp_path / "schema2"
    identity_key = _schema_2_with_a_legacy_account(data_dir)
    tracker = await tracker_factory(data_dir=data_dir)
    old_client = await connect(tracker)
    reply = await old_client.request(
        "LOGIN",
        username="olduser",
        password=legacy_digest(OLD_PASSWORD),
        identity_key=identity_key,
        port=40000,
    )
    assert reply["status"] == "OK"
    assert stored(data_dir, "olduser")[1] is None  # nothing to upgrade it with


async def test_a_real_client_refuses_a_cheap_login_derivation(tracker, tmp_path):
    client = ChatClient(peer_config(tracker, tmp_path / "home", min_login_kdf=MIN_LOGIN_KDF))
    await client.connect()
    try:
        try:
            await client.register("alice", "pw-xxxxxxxx")
        except P2PChatError as exc:
            assert "weaker than this client accepts" in str(exc)
            assert exc.code is ErrorCode.LOGIN_KDF_TOO_WEAK  # not "wrong password"
        else:
            raise AssertionError("a cheap login derivation was accepted")
        assert await tracker.storage.get_user("alice") is None
    finally:
        await client.close()


async def test_salt_requests_are_rate_limited_per_source(tracker_factory, connect):
    tracker = await tracker_factory(trusted_networks=())
    client = await connect(tracker, "127.0.0.2")
    codes = [(await client.request("SALT", username=f"n{i}")).get("code") for i in range(60)]
    assert codes[:50] == [None] * 50
    assert "rate_limited" in codes[50:]
    elsewhere = await connect(tracker, "127.0.0.3")
    assert (await elsewhere.request("SALT", username="n1"))["status"] == "OK"
