"""The first run on a fresh home: the identity key is written only once the tracker
accepted the password, so a mistyped password leaves nothing the right one cannot open
(real tracker on loopback, real clients; a batch process in
``tests/e2e/test_batch_process.py``)."""

from __future__ import annotations

from pathlib import Path

from commons.errors import ErrorCode, P2PChatError
from crypto.keystore import TEST_KDF_PARAMS, key_file_path, load_or_create_identity
from peer.client.chat_client import ChatClient
from tests.peers import DEFAULT_PASSWORD, peer_config
from tracker.server.server import TrackerServer


async def _log_in(
    tracker: TrackerServer, home: Path, password: str, *, replace_key: bool = True
) -> P2PChatError | None:
    client = ChatClient(peer_config(tracker, home), kdf_params=TEST_KDF_PARAMS)
    try:
        await client.connect()
        await client.login("alice", password, replace_key=replace_key)
    except P2PChatError as exc:
        return exc
    finally:
        await client.close()
    return None


async def test_one_mistyped_password_on_a_fresh_home_then_the_right_one_logs_in(
    tracker, peer_factory, tmp_path
):
    alice = await peer_factory(tracker, "alice")  # her account, made on another machine
    await alice.close()
    fresh = tmp_path / "new-laptop"

    refused = await _log_in(tracker, fresh, "a typo")
    assert refused is not None and refused.code is ErrorCode.AUTH_FAILED, refused
    assert not key_file_path(fresh, "alice").exists()  # nothing sealed with the typo

    assert await _log_in(tracker, fresh, DEFAULT_PASSWORD) is None
    assert key_file_path(fresh, "alice").exists()
    assert await _log_in(tracker, fresh, DEFAULT_PASSWORD, replace_key=False) is None


async def test_a_refused_registration_writes_no_key(tracker, peer_factory, tmp_path):
    taken = await peer_factory(tracker, "alice")
    await taken.close()
    home = tmp_path / "someone-else"
    client = ChatClient(peer_config(tracker, home), kdf_params=TEST_KDF_PARAMS)
    try:
        await client.connect()
        try:
            await client.register("alice", "another password")
        except P2PChatError as exc:
            assert exc.code is ErrorCode.USER_EXISTS
        else:
            raise AssertionError("registered a taken name")
    finally:
        await client.close()
    assert not key_file_path(home, "alice").exists()


async def test_a_key_file_the_password_cannot_open_says_which_file_and_the_way_out(
    tracker, peer_factory, tmp_path
):
    """A home left by an older version: a key sealed with a mistyped password."""
    alice = await peer_factory(tracker, "alice")
    await alice.close()
    home = tmp_path / "old-home"
    load_or_create_identity(home, "alice", "a typo", kdf_params=TEST_KDF_PARAMS)
    refused = await _log_in(tracker, home, DEFAULT_PASSWORD)
    assert refused is not None and refused.code is ErrorCode.WRONG_PASSWORD, refused
    path = str(key_file_path(home, "alice"))
    assert path in refused.message and "move it aside" in refused.message
    # The way out it names: move the file aside, log in, replace the key.
    Path(path).rename(path + ".old")
    assert await _log_in(tracker, home, DEFAULT_PASSWORD) is None
