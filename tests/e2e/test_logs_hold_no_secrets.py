"""Nothing logged, at any level and by any component, holds a password, its digest, a
private key or message text — including on the error paths a hostile peer triggers."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path

import pytest

from crypto.errors import WrongPasswordError
from crypto.keystore import load_or_create_identity
from crypto.login_secret import legacy_digest, login_secret
from peer.channels.link import LinkClosedError
from peer.events import ErrorEvent, MessageReceived
from tests.peers import PeerFactory, hand_dial
from tracker.server.server import TrackerServer

ALICE_PASSWORD = "alice-Secret-passw0rd"
BOB_PASSWORD = "bob-Secret-passw0rd"
TEXTS = ["room text 5e1c7 never logged", "private text 9b2d4 never logged"]


async def test_logs_hold_no_secrets(
    tracker: TrackerServer,
    peer_factory: PeerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = await peer_factory(tracker, "alice", ALICE_PASSWORD, home=tmp_path / "a")
    bob = await peer_factory(tracker, "bob", BOB_PASSWORD, home=tmp_path / "b")
    await alice.client.create_room("lobby")
    await bob.client.join_room("lobby")
    await asyncio.wait_for(bob.client.wait_channels(), 10)
    await bob.client.send_room("lobby", TEXTS[0])
    await bob.client.send_private("alice", TEXTS[1])
    await alice.wait_for(MessageReceived, count=2)

    # Error paths: an impersonator sending text, wrong passwords on the key file.
    link = await hand_dial(alice, "bob")
    link.send_nowait(b'{"type":"private","text":"' + TEXTS[0].encode() + b'"}')
    await alice.wait_for(ErrorEvent)
    with pytest.raises(LinkClosedError):
        while True:
            await asyncio.wait_for(link.receive(), 10)
    with pytest.raises(WrongPasswordError):
        load_or_create_identity(tmp_path / "a", "alice", BOB_PASSWORD)
    carol = await peer_factory(tracker, "carol", login=False, home=tmp_path / "c")
    await carol.client.register("carol", "carol-password")
    with pytest.raises(WrongPasswordError):
        await carol.client.login("carol", "carol-wrong-password")
    await bob.client.close()

    identities = [
        load_or_create_identity(tmp_path / "a", "alice", ALICE_PASSWORD)[0],
        load_or_create_identity(tmp_path / "b", "bob", BOB_PASSWORD)[0],
    ]
    secrets = [*TEXTS, ALICE_PASSWORD, BOB_PASSWORD, "carol-password", "carol-wrong-password"]
    for name, password in (
        ("alice", ALICE_PASSWORD),
        ("bob", BOB_PASSWORD),
        ("carol", "carol-password"),
    ):
        salt = await tracker.accounts.salt(name)
        secrets += [
            legacy_digest(password),
            login_secret(password, salt.realm, salt.salt, salt.kdf),
        ]
    secrets += [ticket for ticket in (alice.client._session._ticket,) if ticket]
    for identity in identities:
        raw = identity.private_bytes()
        secrets += [raw.hex(), base64.b64encode(raw).decode(), repr(raw)[2:-1]]
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert len(caplog.records) > 0  # logging was on and captured something
    for secret in secrets:
        assert secret not in logged
