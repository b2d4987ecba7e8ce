"""Batch mode as a real subprocess against hostile text: it never crashes, and each
event stays exactly one line for any line splitter, with nothing unsafe raw."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from commons.untrusted_text import is_unsafe_for_display
from crypto.channel import SecureChannel
from crypto.identity import IdentityKey
from peer.channels.link import P2PLink
from tests.e2e.batch_process import BatchProcess
from tests.peers import PeerFactory
from tests.tracker_client import TrackerTestClient
from tracker.server.server import TrackerServer

#: One of each kind of character that must never reach a terminal or a splitter raw.
HOSTILE = (
    "a\x1b[2J\x07\r\x0b\x0c\x1c\x1d\x1e\x7f"  # C0, DEL, and the C0 codes splitlines() honours
    "\x85\x9b"  # C1: NEL and CSI
    "\u2028\u2029"  # line and paragraph separators
    "\u061c\u200e\u202e\u2066"  # bidi controls
    "\u00ad\u200b\u200d\u2060\ufeff\U000e0041"  # invisible format characters, a tag character
    "z\u00e9\U0001f600"  # ordinary text around them
)


@pytest.fixture
async def batch(tracker: TrackerServer, tmp_path: Path) -> AsyncIterator[BatchProcess]:
    proc = await BatchProcess.start(tracker, tmp_path / "carol")
    try:
        await proc.expect("ready")
        proc.send("/register carol hunter2hunter2")
        await proc.expect("registered", user="carol")
        proc.send("/login carol hunter2hunter2")
        await proc.expect("logged_in", user="carol")
        yield proc
    finally:
        if proc.proc.returncode is None:
            proc.proc.kill()
        await proc.proc.wait()


def assert_clean_lines(raw: list[bytes]) -> None:
    for line in raw:
        text = line.decode("utf-8")  # raises if the process wrote something that is not text
        assert text.endswith("\n") and len(text.splitlines()) == 1, text
        assert not any(is_unsafe_for_display(c) for c in text[:-1]), text


async def test_hostile_message_text_stays_one_inert_line(
    tracker: TrackerServer, peer_factory: PeerFactory, batch: BatchProcess
) -> None:
    alice = await peer_factory(tracker, "alice")
    await alice.client.send_private("carol", HOSTILE)
    got = await batch.expect("message", **{"from": "alice"})
    assert got["text"] == HOSTILE
    assert_clean_lines(batch.raw)


async def test_bytes_that_are_not_utf8_on_stdin_are_an_error_not_the_end(
    batch: BatchProcess,
) -> None:
    batch.send_bytes(b"/msg \xff\xfe bob\n")
    error = await batch.expect("error", code="bad_request")
    assert "UTF-8" in error["message"]
    batch.send_bytes(b"/\xc3\x28join x\n")
    await batch.expect("error")
    batch.send("/users")
    await batch.expect("users")
    assert_clean_lines(batch.raw)


async def test_a_message_of_only_spaces_is_a_usage_error(batch: BatchProcess) -> None:
    batch.send("/msg bob     ")
    error = await batch.expect("error", code="bad_request")
    assert error["message"].startswith("usage: /msg")


async def _hostile_responder(
    identity: IdentityKey, reject_body: bytes
) -> tuple[asyncio.Server, Callable[[], int]]:
    """A P2P listener that completes the handshake as mallory, then sends ``reject_body``
    as the channel's first plaintext (raw bytes, so it can hold anything)."""
    served = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        channel = SecureChannel(
            initiator=False,
            identity=identity,
            username="mallory",
            authorize=lambda _name, _key: None,
        )
        link = P2PLink.over_tcp(reader, writer, channel)
        try:
            await asyncio.wait_for(link.handshake(False), 10)
            await link.send(reject_body)
            served += 1
        finally:
            link.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, lambda: served


@pytest.mark.parametrize(
    "reject",
    [
        {"type": "reject", "code": "\ud800", "reason": "\udfff"},
        {"type": "reject", "code": "key_mismatch", "reason": HOSTILE},
    ],
    ids=["lone_surrogates", "controls_and_bidi"],
)
async def test_a_hostile_reject_cannot_crash_batch_mode(
    tracker: TrackerServer, connect, batch: BatchProcess, reject: dict[str, str]
) -> None:
    """A peer's ``reject`` once carried lone surrogates into the batch writer, which
    raised outside the error handler and ended the process."""
    identity = IdentityKey.generate()
    server, served = await _hostile_responder(identity, json.dumps(reject).encode("ascii"))
    try:
        mallory: TrackerTestClient = await connect(tracker)
        mallory.identity_key = identity.public_b64
        assert (await mallory.register("mallory"))["status"] == "OK"
        port = server.sockets[0].getsockname()[1]
        assert (await mallory.login("mallory", port=port))["status"] == "OK"
        # Only room-mates learn an address: carol dials mallory's (and leads, as "carol"
        # sorts first), and so does her /msg.
        assert (await mallory.request("CREATE_ROOM", room="den"))["status"] == "OK"
        batch.send("/join den")
        await batch.expect("joined", room="den")

        batch.send("/msg mallory hello")
        error = await batch.expect("error", command="msg")
        assert served() >= 1
        if reject["code"] == "key_mismatch":
            assert HOSTILE in error["message"]
        batch.send("/peers")
        peers = await batch.expect("peers")
        assert {p["user"] for p in peers["peers"]} == {"carol", "mallory"}
        assert_clean_lines(batch.raw)
    finally:
        server.close()
        await server.wait_closed()
