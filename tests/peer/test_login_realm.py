"""A tracker cannot make a client compute another tracker group's login secret: the
client pins the realm and salt it logged in with, per tracker (real trackers on
loopback, a hostile one built here with the real tracker's certificate and key, real
clients). What a first contact still takes on trust is in docs/SECURITY.md."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from commons.errors import ErrorCode, P2PChatError
from crypto.keystore import TEST_KDF_PARAMS
from crypto.login_secret import LoginKdf, login_secret
from peer.client.chat_client import ChatClient
from peer.session.login_memory import MEMORY_FILE
from tests.peer.salt_forger import SaltForger
from tests.peers import DEFAULT_PASSWORD, peer_config
from tracker.server.server import TrackerServer


@pytest.fixture
async def other_group(tracker_factory: Any, tmp_path: Path) -> TrackerServer:
    """Another community, where alice has an account with the same password."""
    other: TrackerServer = await tracker_factory(realm="other-group")
    client = ChatClient(
        peer_config(other, tmp_path / "alice-elsewhere"), kdf_params=TEST_KDF_PARAMS
    )
    try:
        await client.connect()
        await client.register("alice", DEFAULT_PASSWORD)
    finally:
        await client.close()
    return other


def _their_secret(salt_reply: dict[str, Any]) -> str:
    """The secret that logs alice in at the other group (what the thief is after)."""
    kdf = LoginKdf.from_wire(salt_reply["kdf"])
    return login_secret(
        DEFAULT_PASSWORD, salt_reply["realm"], bytes.fromhex(salt_reply["salt"]), kdf
    )


async def _log_in(
    tracker: TrackerServer, home: Path, *, port: int | None = None
) -> P2PChatError | None:
    config = replace(
        peer_config(tracker, home),
        tracker=("127.0.0.1", tracker.port if port is None else port),
    )
    client = ChatClient(config, kdf_params=TEST_KDF_PARAMS)
    try:
        await client.connect()
        await client.login("alice", DEFAULT_PASSWORD)
    except P2PChatError as exc:
        return exc
    finally:
        await client.close()
    return None


@pytest.fixture
async def thief(
    tracker: TrackerServer, other_group: TrackerServer, connect: Any
) -> AsyncIterator[SaltForger]:
    salt = await (await connect(other_group)).request("SALT", username="alice")
    assert salt["realm"] == "other-group"
    server = SaltForger(tracker, salt)
    await server.start()
    yield server
    await server.stop()


async def test_a_hostile_salt_cannot_obtain_another_realms_secret(
    tracker, other_group, thief, peer_factory, tmp_path, connect
):
    alice = await peer_factory(tracker, "alice")  # logs in: realm and salt remembered
    await alice.close()
    home = tmp_path / "home-alice"
    wanted = _their_secret(thief._salt)
    real_salt = await (await connect(tracker)).request("SALT", username="alice")
    assert real_salt["realm"] != "other-group"

    # The same certificate at another address (or the tracker itself turned hostile).
    refused = await _log_in(tracker, home, port=thief.port)
    assert refused is not None and refused.code is ErrorCode.LOGIN_REALM_CHANGED, refused
    assert "other-group" in refused.message and str(home / MEMORY_FILE) in refused.message
    assert [frame["cmd"] for frame in thief.received] == ["SALT"]  # no LOGIN at all
    assert wanted.encode() not in bytes(thief.raw)
    # The real tracker, with its own realm, still logs her in.
    assert await _log_in(tracker, home) is None


async def test_a_tampered_salt_reply_at_the_real_tracker_is_refused(
    tracker, other_group, peer_factory, tmp_path, connect, monkeypatch
):
    """The tracker itself (or a man in the middle holding its key) answers SALT with the
    other group's realm and salt: the client sends no LOGIN."""
    alice = await peer_factory(tracker, "alice")
    await alice.close()
    their = await (await connect(other_group)).request("SALT", username="alice")
    real_salt = tracker.accounts.salt
    logins = []

    async def tampered(username: str) -> Any:
        reply = await real_salt(username)
        return replace(reply, realm=their["realm"], salt=bytes.fromhex(their["salt"]))

    real_login = tracker.accounts.login

    async def counted(*args: Any, **kwargs: Any) -> Any:
        logins.append(args[0])
        return await real_login(*args, **kwargs)

    monkeypatch.setattr(tracker.accounts, "salt", tampered)
    monkeypatch.setattr(tracker.accounts, "login", counted)
    refused = await _log_in(tracker, tmp_path / "home-alice")
    assert refused is not None and refused.code is ErrorCode.LOGIN_REALM_CHANGED, refused
    assert logins == []


async def test_a_memory_written_before_realms_were_pinned_is_read_and_pinned(
    tracker, other_group, thief, peer_factory, tmp_path
):
    alice = await peer_factory(tracker, "alice")
    await alice.close()
    path = tmp_path / "home-alice" / MEMORY_FILE
    body = json.loads(path.read_text())
    old = {
        "version": 1,
        "accounts": [
            {k: v for k, v in entry.items() if k in ("tracker", "fingerprint", "account")}
            for entry in body["accounts"]
        ],
    }
    path.write_text(json.dumps(old))
    assert await _log_in(tracker, tmp_path / "home-alice") is None  # pins the realm now
    assert json.loads(path.read_text())["version"] == 2
    refused = await _log_in(tracker, tmp_path / "home-alice", port=thief.port)
    assert refused is not None and refused.code is ErrorCode.LOGIN_REALM_CHANGED, refused
