"""An acknowledged deposit survives kill -9 of the tracker process (issue 22, SQLite)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal

from tests.tracker_client import TrackerTestClient
from tests.tracker_process import read_banner, start_tracker_process


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


async def test_a_deposit_survives_kill_9_and_is_fetched_then_acknowledged(tmp_path):
    data_dir = tmp_path / "mailbox"
    cert = data_dir / "tracker-cert.pem"
    token = os.urandom(32)
    envelope = os.urandom(298)
    proc = await start_tracker_process(data_dir, "--trusted-network", "127.0.0.1/32")
    try:
        port, _ = await read_banner(proc)
        bob = await TrackerTestClient.connect("127.0.0.1", port, cert)
        assert (await bob.register("bob"))["status"] == "OK"
        assert (await bob.login("bob"))["status"] == "OK"
        added = await bob.request("MAILBOX_TOKENS", add=[b64(hashlib.sha256(token).digest())])
        assert added["tokens"] == 1
        await bob.request("LOGOUT")
        await bob.close()
        sender = await TrackerTestClient.connect("127.0.0.1", port, cert)
        reply = await sender.request("DEPOSIT", to="bob", token=b64(token), body=b64(envelope))
        assert reply["status"] == "OK", reply
        proc.send_signal(signal.SIGKILL)  # at once after the acknowledgement
        await proc.wait()
        await sender.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    proc = await start_tracker_process(data_dir, "--trusted-network", "127.0.0.1/32")
    try:
        port, _ = await read_banner(proc)
        again = await TrackerTestClient.connect("127.0.0.1", port, cert)
        again.identity_key = bob.identity_key
        login = await again.login("bob")
        assert login["mailbox"]["count"] == 1
        page = await again.request("MAILBOX_FETCH")
        assert [base64.b64decode(d["body"]) for d in page["deposits"]] == [envelope]
        assert page["deposits"][0]["id"] == reply["deposit"]
        assert (await again.request("MAILBOX_ACK", up_to=reply["deposit"]))["deleted"] == 1
        assert (await again.request("MAILBOX_FETCH"))["deposits"] == []
        await again.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
