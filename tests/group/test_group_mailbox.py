"""The mailbox on PostgreSQL and across a group of trackers (issue 22): a deposit made
at one tracker is fetched at another, the push crosses trackers, limits hold for the
group, and an acknowledged deposit survives kill -9 of the tracker process."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal

import psycopg

from tests.tracker_client import TrackerTestClient
from tests.tracker_process import read_banner, start_tracker_process


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def token_hash(token: bytes) -> str:
    return b64(hashlib.sha256(token).digest())


async def test_a_deposit_at_one_tracker_is_fetched_at_another(
    tracker_factory, pg_database, user, connect
):
    a = await tracker_factory(database=pg_database)
    b = await tracker_factory(database=pg_database)
    bob = await user(b, "bob")
    token = os.urandom(32)
    assert (await bob.request("MAILBOX_TOKENS", add=[token_hash(token)]))["tokens"] == 1
    await bob.request("LOGOUT")
    sender = await connect(a)  # not logged in, at the other tracker
    bodies = [os.urandom(298), os.urandom(1500)]
    ids = []
    for body in bodies:
        reply = await sender.request("DEPOSIT", to="bob", token=b64(token), body=b64(body))
        assert reply["status"] == "OK", reply
        ids.append(reply["deposit"])
    stranger = await sender.request("DEPOSIT", to="bob", token=b64(os.urandom(32)), body="AA==")
    assert stranger["code"] == "mailbox_refused"

    again = await connect(b)
    again.identity_key = bob.identity_key
    assert (await again.login("bob"))["mailbox"]["count"] == 2
    page = await again.request("MAILBOX_FETCH")
    assert [d["id"] for d in page["deposits"]] == ids
    assert [base64.b64decode(d["body"]) for d in page["deposits"]] == bodies
    assert (await again.request("MAILBOX_ACK", up_to=ids[-1]))["deleted"] == 2
    elsewhere = await connect(a)
    elsewhere.identity_key = bob.identity_key
    assert (await elsewhere.login("bob"))["mailbox"]["count"] == 0  # gone for the group


async def test_the_push_crosses_trackers_and_shares_hold_for_the_group(
    tracker_factory, pg_database, user, connect
):
    a = await tracker_factory(database=pg_database, mailbox_messages=8)
    b = await tracker_factory(database=pg_database, mailbox_messages=8)
    bob = await user(b, "bob")
    carol = await user(a, "carol")
    token = os.urandom(32)
    await bob.request("MAILBOX_TOKENS", add=[token_hash(token)])
    taken = await carol.request("MAILBOX_TOKENS", add=[token_hash(token)])
    assert taken["code"] == "mailbox_refused" and "bob" not in taken["msg"]

    async def bob_is_seen_at_a() -> None:
        while "bob" not in a.state.online:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(bob_is_seen_at_a(), 10)
    senders = [await connect(a), await connect(b)]
    first = await senders[0].request("DEPOSIT", to="bob", token=b64(token), body="AA==")
    assert first["status"] == "OK"
    assert await bob.push("MAILBOX") == {"event": "MAILBOX", "count": 1}  # from tracker a
    replies = await asyncio.gather(
        *(
            s.request("DEPOSIT", to="bob", token=b64(token), body=b64(b"x" * 10))
            for s in senders * 2
        )
    )
    codes = sorted(r.get("code", "OK") for r in replies)
    assert codes == ["OK", "mailbox_full", "mailbox_full", "mailbox_full"]  # a share is 2


async def test_a_deposit_on_postgresql_survives_kill_9(tmp_path, pg_database):
    data_dir = tmp_path / "pg-mailbox"
    cert = data_dir / "tracker-cert.pem"
    args = ("--database", pg_database, "--trusted-network", "127.0.0.1/32")
    token = os.urandom(32)
    envelope = os.urandom(298)
    proc = await start_tracker_process(data_dir, *args)
    try:
        port, _ = await read_banner(proc)
        bob = await TrackerTestClient.connect("127.0.0.1", port, cert)
        assert (await bob.register("bob"))["status"] == "OK"
        assert (await bob.login("bob"))["status"] == "OK"
        await bob.request("MAILBOX_TOKENS", add=[token_hash(token)])
        await bob.request("LOGOUT")
        await bob.close()
        sender = await TrackerTestClient.connect("127.0.0.1", port, cert)
        reply = await sender.request("DEPOSIT", to="bob", token=b64(token), body=b64(envelope))
        assert reply["status"] == "OK", reply
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await sender.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute("SELECT recipient, token_hash, body FROM deposits").fetchall()
    assert rows == [("bob", hashlib.sha256(token).digest(), envelope)]

    proc = await start_tracker_process(data_dir, *args)
    try:
        port, _ = await read_banner(proc)
        again = await TrackerTestClient.connect("127.0.0.1", port, cert)
        again.identity_key = bob.identity_key
        assert (await again.login("bob"))["mailbox"]["count"] == 1
        page = await again.request("MAILBOX_FETCH")
        assert [base64.b64decode(d["body"]) for d in page["deposits"]] == [envelope]
        assert (await again.request("MAILBOX_ACK", up_to=reply["deposit"]))["deleted"] == 1
        await again.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
