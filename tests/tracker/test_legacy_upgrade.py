"""The legacy upgrade needs the registered identity key, not only the old digest.

An account made before the salted login (its verifier: argon2id of SHA-256 of the
password) is upgraded by the login that carries the old digest. On ce030e7 that login
also chose the new secret with nothing more than the digest, so whoever held the digest
(another site's leak, a hostile tracker the user once allowed it to) upgraded the account
to a secret of their own and locked the owner out for good. Each test runs a real
tracker (TLS on loopback) over a database file in the old schema; the owner's side is the
real client where it says so.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest

from commons.errors import ErrorCode, P2PChatError
from crypto.identity import IdentityKey
from crypto.keystore import TEST_KDF_PARAMS, key_file_path, load_or_create_identity
from crypto.legacy_upgrade import upgrade_proof
from crypto.login_secret import legacy_digest, login_secret
from peer.client.chat_client import ChatClient
from tests.peer.test_login_downgrade import CHEAP, schema_2_with
from tests.peers import peer_config
from tests.tracker.test_login_secret import stored
from tests.tracker_client import TrackerTestClient
from tracker.server.server import TrackerServer
from tracker.storage.sqlite_file import DB_FILE_NAME

PASSWORD = "an old password"
#: What a holder of the digest would like the account to open with from now on.
ATTACKER_PASSWORD = "the attacker's password"


def _secret(tracker: TrackerServer, salt: dict[str, object], password: str) -> str:
    raw = salt["salt"]
    realm = salt["realm"]
    assert isinstance(raw, str) and isinstance(realm, str)
    return login_secret(password, realm, bytes.fromhex(raw), tracker.config.login_kdf)


def _upgrade_key(salt: dict[str, object]) -> bytes:
    key = salt["upgrade_key"]
    assert isinstance(key, str)
    return base64.b64decode(key)


async def _upgrade_login(
    client: TrackerTestClient, name: str, secret: str, proof: str | None, **extra: object
) -> dict[str, object]:
    return await client.request(
        "LOGIN",
        username=name,
        password=secret,
        legacy_password=legacy_digest(PASSWORD),
        upgrade_proof=proof,
        identity_key=client.identity_key,
        port=40000,
        **extra,
    )


def _still_legacy(tracker: TrackerServer, name: str, key: str) -> None:
    """The account is as the old tracker left it: old verifier, registered key."""
    _verifier, salt, kdf = stored(tracker.config.data_dir, name)
    assert salt is None and kdf is None
    with sqlite3.connect(tracker.config.data_dir / DB_FILE_NAME) as conn:
        row = conn.execute("SELECT identity_key FROM users WHERE username = ?", (name,)).fetchone()
    assert row[0] == key


async def test_a_holder_of_the_old_digest_cannot_upgrade_the_account(
    tracker_factory, tmp_path: Path, connect
) -> None:
    home = tmp_path / "home-olduser"
    owner, _ = load_or_create_identity(home, "olduser", PASSWORD, kdf_params=TEST_KDF_PARAMS)
    data_dir = tmp_path / "schema2"
    schema_2_with(data_dir, "olduser", owner.public_b64, PASSWORD)
    tracker = await tracker_factory(data_dir=data_dir)

    # The attacker holds the old digest and the public key (the tracker publishes it),
    # not the private key.
    thief = await connect(tracker, "127.0.0.2")
    thief.identity_key = owner.public_b64  # presents the registered key it cannot use
    salt = await thief.request("SALT", username="olduser")
    assert salt["legacy"] is True and "upgrade_key" in salt
    chosen = _secret(tracker, salt, ATTACKER_PASSWORD)

    # 1. The upgrade as ce030e7 took it: digest and a secret of the attacker's choosing.
    #    There it answered OK and the owner's password never worked again.
    refused = await _upgrade_login(thief, "olduser", chosen, None)
    assert refused["code"] == ErrorCode.UPGRADE_REFUSED, refused
    _still_legacy(tracker, "olduser", owner.public_b64)

    # 2. With a proof made by the attacker's own key over the challenge.
    await thief.request("SALT", username="olduser")
    forged = thief.upgrade_proof("olduser", chosen)  # thief.identity is not the owner's
    refused = await _upgrade_login(thief, "olduser", chosen, forged)
    assert refused["code"] == ErrorCode.UPGRADE_REFUSED, refused

    # 3. The same, presenting its own key and asking to replace the registered one.
    await thief.request("SALT", username="olduser")
    thief.identity_key = thief.identity.public_b64
    own = thief.upgrade_proof("olduser", chosen)
    refused = await _upgrade_login(thief, "olduser", chosen, own, replace_key=True)
    assert refused["code"] == ErrorCode.KEY_REPLACE_REFUSED, refused

    # 4. An old client's login (the digest as the password) replacing the key.
    refused = await thief.request(
        "LOGIN",
        username="olduser",
        password=legacy_digest(PASSWORD),
        identity_key=thief.identity_key,
        replace_key=True,
        port=40000,
    )
    assert refused["code"] == ErrorCode.KEY_REPLACE_REFUSED, refused
    _still_legacy(tracker, "olduser", owner.public_b64)

    # The owner, with the real client, its key file and the password, upgrades.
    client = ChatClient(peer_config(tracker, home, allow_legacy_login=True))
    await client.connect()
    try:
        await client.login("olduser", PASSWORD)
    finally:
        await client.close()
    _verifier, salt_bytes, _kdf = stored(data_dir, "olduser")
    assert salt_bytes is not None  # upgraded, to the owner's secret
    late = await connect(tracker, "127.0.0.2")
    late.identity_key = owner.public_b64
    salt = await late.request("SALT", username="olduser")
    assert salt["legacy"] is False and "upgrade_key" not in salt
    for password in (_secret(tracker, salt, ATTACKER_PASSWORD), legacy_digest(PASSWORD)):
        reply = await late.request(
            "LOGIN", username="olduser", password=password, identity_key=late.identity_key
        )
        assert reply["code"] == ErrorCode.AUTH_FAILED, reply
    again = ChatClient(peer_config(tracker, home))
    await again.connect()
    try:
        await again.login("olduser", PASSWORD)  # the salted secret, no legacy flag needed
    finally:
        await again.close()


async def test_an_upgrade_proof_for_another_challenge_name_realm_or_secret_is_refused(
    tracker_factory, tmp_path: Path, connect
) -> None:
    owner = IdentityKey.generate()
    data_dir = tmp_path / "schema2"
    schema_2_with(data_dir, "olduser", owner.public_b64, PASSWORD)
    # A second old account with the same key and password: only the name tells them apart.
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        conn.execute(
            "INSERT INTO users VALUES (?, ?, ?, 0)",
            ("twin", CHEAP.hash(legacy_digest(PASSWORD)), owner.public_b64),
        )
    tracker = await tracker_factory(data_dir=data_dir)

    # What a man in the middle (or a log) could have kept: a valid proof, with its salt.
    seen = await connect(tracker)
    seen.identity, seen.identity_key = owner, owner.public_b64
    first = await seen.request("SALT", username="olduser")
    secret = _secret(tracker, first, PASSWORD)
    proof = upgrade_proof(owner, _upgrade_key(first), "olduser", first["realm"], secret)

    client = await connect(tracker)
    client.identity, client.identity_key = owner, owner.public_b64

    # Replayed on another connection: no challenge there at all, then another one.
    refused = await _upgrade_login(client, "olduser", secret, proof)
    assert refused["code"] == ErrorCode.UPGRADE_REFUSED, refused
    salt = await client.request("SALT", username="olduser")
    refused = await _upgrade_login(client, "olduser", secret, proof)
    assert refused["code"] == ErrorCode.UPGRADE_REFUSED, refused

    # Bound to the secret: a valid proof carrying another new secret (a tamperer's).
    salt = await client.request("SALT", username="olduser")
    good = upgrade_proof(owner, _upgrade_key(salt), "olduser", salt["realm"], secret)
    other_secret = _secret(tracker, salt, ATTACKER_PASSWORD)
    refused = await _upgrade_login(client, "olduser", other_secret, good)
    assert refused["code"] == ErrorCode.UPGRADE_REFUSED, refused

    # Single use: the refusal above spent it, so the good proof is now worth nothing.
    refused = await _upgrade_login(client, "olduser", secret, good)
    assert refused["code"] == ErrorCode.UPGRADE_REFUSED, refused

    # A failed password check spends it too.
    salt = await client.request("SALT", username="olduser")
    good = upgrade_proof(owner, _upgrade_key(salt), "olduser", salt["realm"], secret)
    wrong = await client.request(
        "LOGIN",
        username="olduser",
        password=secret,
        legacy_password=legacy_digest("not the password"),
        upgrade_proof=good,
        identity_key=owner.public_b64,
        port=40000,
    )
    assert wrong["code"] == ErrorCode.AUTH_FAILED, wrong
    refused = await _upgrade_login(client, "olduser", secret, good)
    assert refused["code"] == ErrorCode.UPGRADE_REFUSED, refused

    # Bound to the name: the twin's challenge answered for "olduser", and the other way.
    salt = await client.request("SALT", username="twin")
    for_olduser = upgrade_proof(owner, _upgrade_key(salt), "olduser", salt["realm"], secret)
    refused = await _upgrade_login(client, "twin", secret, for_olduser)
    assert refused["code"] == ErrorCode.UPGRADE_REFUSED, refused
    salt = await client.request("SALT", username="twin")
    for_twin = upgrade_proof(owner, _upgrade_key(salt), "twin", salt["realm"], secret)
    refused = await _upgrade_login(client, "olduser", secret, for_twin)
    assert refused["code"] == ErrorCode.UPGRADE_REFUSED, refused

    # Bound to the realm the tracker serves.
    salt = await client.request("SALT", username="olduser")
    elsewhere = upgrade_proof(owner, _upgrade_key(salt), "olduser", "another group", secret)
    refused = await _upgrade_login(client, "olduser", secret, elsewhere)
    assert refused["code"] == ErrorCode.UPGRADE_REFUSED, refused
    _still_legacy(tracker, "olduser", owner.public_b64)
    _still_legacy(tracker, "twin", owner.public_b64)

    # Malformed proofs are refused field by field, before anything is checked.
    for bad in ("00" * 31, "zz" * 32, 12, "00" * 33):
        reply = await _upgrade_login(client, "olduser", secret, bad)  # type: ignore[arg-type]
        assert reply["code"] == ErrorCode.INVALID_FIELD, reply
    alone = await client.request(
        "LOGIN",
        username="olduser",
        password=secret,
        upgrade_proof="00" * 32,
        identity_key=owner.public_b64,
    )
    assert alone["code"] == ErrorCode.INVALID_FIELD, alone

    # The owner's own proof over a fresh challenge, sent at once: upgraded.
    salt = await client.request("SALT", username="olduser")
    good = upgrade_proof(owner, _upgrade_key(salt), "olduser", salt["realm"], secret)
    reply = await _upgrade_login(client, "olduser", secret, good)
    assert reply["status"] == "OK", reply
    assert stored(data_dir, "olduser")[1] is not None
    _still_legacy(tracker, "twin", owner.public_b64)


async def test_an_owner_who_lost_the_key_gets_the_name_back_through_the_operator(
    tracker_factory, tmp_path: Path, connect
) -> None:
    """The way out the README gives: the key file is gone, so neither the upgrade nor a
    key replacement is possible; the operator removes the account and the owner
    registers the name again, with a new key, in the new scheme."""
    lost = IdentityKey.generate()
    data_dir = tmp_path / "schema2"
    schema_2_with(data_dir, "olduser", lost.public_b64, PASSWORD)
    tracker = await tracker_factory(data_dir=data_dir)
    home = tmp_path / "fresh-home"  # no key file: the client makes a new key
    client = ChatClient(peer_config(tracker, home, allow_legacy_login=True))
    await client.connect()
    try:
        for replace_key, code in (
            (False, ErrorCode.UPGRADE_REFUSED),
            (True, ErrorCode.KEY_REPLACE_REFUSED),
        ):
            with pytest.raises(P2PChatError) as refused:
                await client.login("olduser", PASSWORD, replace_key=replace_key)
            assert refused.value.code is code, refused.value
            assert "Accounts of older versions" in refused.value.message
    finally:
        await client.close()
    assert not key_file_path(home, "olduser").exists()  # nothing was saved either
    _still_legacy(tracker, "olduser", lost.public_b64)
    await tracker.stop()

    # What the README tells the operator to run, with the tracker stopped.
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        conn.executescript(
            "DELETE FROM tickets WHERE username = 'olduser';"
            " DELETE FROM users WHERE username = 'olduser';"
        )
    tracker = await tracker_factory(data_dir=data_dir)
    again = ChatClient(peer_config(tracker, home))
    await again.connect()
    try:
        await again.register("olduser", PASSWORD)
        await again.login("olduser", PASSWORD)
    finally:
        await again.close()
    assert stored(data_dir, "olduser")[1] is not None
