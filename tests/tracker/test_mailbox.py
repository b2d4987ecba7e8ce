"""The mailbox on a real tracker over TLS, SQLite back end (issue 22): tokens, deposits
from connections that never log in, fetch in order, acknowledgement, limits, rates,
the push and LOGIN's summary, expiry, and a database holding only what was sent."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import sqlite3

from tests.tracker_client import TrackerTestClient
from tracker.state.mailbox import MailboxRate, MailboxRateLimits
from tracker.storage.sqlite_file import DB_FILE_NAME


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def token_hash(token: bytes) -> str:
    return b64(hashlib.sha256(token).digest())


async def own_tokens(client: TrackerTestClient, *tokens: bytes) -> dict:
    return await client.request("MAILBOX_TOKENS", add=[token_hash(t) for t in tokens])


async def deposit(client: TrackerTestClient, to: str, token: bytes, body: bytes) -> dict:
    return await client.request("DEPOSIT", to=to, token=b64(token), body=b64(body))


async def test_deposit_offline_fetch_in_order_then_ack(tracker, user, connect):
    bob = await user(tracker, "bob")
    token = os.urandom(32)
    assert (await own_tokens(bob, token))["tokens"] == 1
    await bob.request("LOGOUT")
    stranger = await connect(tracker)  # never logs in
    bodies = [os.urandom(n) for n in (300, 1, 4000)]
    ids = []
    for body in bodies:
        reply = await deposit(stranger, "bob", token, body)
        assert reply["status"] == "OK", reply
        ids.append(reply["deposit"])
    assert ids == sorted(ids)

    again = await connect(tracker)
    again.identity_key = bob.identity_key
    login = await again.login("bob")
    assert login["mailbox"] == {
        "count": 3,
        "limits": {"messages": 1000, "bytes": 16 * 1024 * 1024, "days": 14.0},
    }
    page = await again.request("MAILBOX_FETCH", limit=2)
    assert [d["id"] for d in page["deposits"]] == ids[:2] and page["next"] == ids[1]
    assert [base64.b64decode(d["body"]) for d in page["deposits"]] == bodies[:2]
    assert {d["token_hash"] for d in page["deposits"]} == {token_hash(token)}
    rest = await again.request("MAILBOX_FETCH", after=page["next"])
    assert [base64.b64decode(d["body"]) for d in rest["deposits"]] == bodies[2:]
    assert rest["next"] is None
    assert (await again.request("MAILBOX_ACK", up_to=ids[1]))["deleted"] == 2
    left = await again.request("MAILBOX_FETCH")
    assert [d["id"] for d in left["deposits"]] == ids[2:]
    assert (await again.request("MAILBOX_ACK", up_to=ids[2]))["deleted"] == 1
    assert (await again.request("MAILBOX_FETCH"))["deposits"] == []


async def test_strangers_and_unknown_users_get_the_same_refusal(tracker, user, connect):
    bob = await user(tracker, "bob")
    carol = await user(tracker, "carol")
    token, carols = os.urandom(32), os.urandom(32)
    await own_tokens(bob, token)
    await own_tokens(carol, carols)
    stranger = await connect(tracker)
    replies = [
        await deposit(stranger, "bob", os.urandom(32), b"x"),  # no token
        await deposit(stranger, "nobody", token, b"x"),  # no such user
        await deposit(stranger, "bob", carols, b"x"),  # carol's token
    ]
    assert {(r["code"], r["msg"]) for r in replies} == {
        ("mailbox_refused", "no mailbox for this recipient and token")
    }
    assert all(set(r) == {"status", "id", "code", "msg"} for r in replies)
    assert (await bob.request("MAILBOX_FETCH"))["deposits"] == []


async def test_token_hashes_belong_to_one_user_and_are_bounded(tracker, user):
    bob = await user(tracker, "bob")
    carol = await user(tracker, "carol")
    token = os.urandom(32)
    assert (await own_tokens(bob, token))["tokens"] == 1
    taken = await own_tokens(carol, token)
    assert taken["code"] == "mailbox_refused" and "bob" not in taken["msg"]
    many = [os.urandom(32) for _ in range(255)]
    assert (await own_tokens(bob, *many))["tokens"] == 256
    assert (await own_tokens(bob, os.urandom(32)))["code"] == "quota_exceeded"
    removed = await bob.request("MAILBOX_TOKENS", remove=[token_hash(token)])
    assert removed["tokens"] == 255
    assert (await own_tokens(carol, token))["tokens"] == 1  # given up: free again
    assert (await deposit(bob, "bob", token, b"x"))["code"] == "mailbox_refused"


async def test_one_flooding_token_fills_only_its_share(tracker_factory, user, connect):
    tracker = await tracker_factory(mailbox_messages=8, mailbox_bytes=10_000)
    bob = await user(tracker, "bob")
    flooder, friend = os.urandom(32), os.urandom(32)
    await own_tokens(bob, flooder, friend)
    sender = await connect(tracker)
    codes = [(await deposit(sender, "bob", flooder, b"y" * 10)).get("code") for _ in range(5)]
    assert codes == [None, None, "mailbox_full", "mailbox_full", "mailbox_full"]
    full = await deposit(sender, "bob", flooder, b"y")
    assert full["limit"] == "token_messages"
    big = await deposit(sender, "bob", friend, b"z" * 2501)
    assert big["code"] == "mailbox_full" and big["limit"] == "token_bytes"
    assert (await deposit(sender, "bob", friend, b"z" * 100))["status"] == "OK"
    assert len((await bob.request("MAILBOX_FETCH"))["deposits"]) == 3


async def test_an_online_recipient_is_pushed_the_count(tracker, user, connect):
    bob = await user(tracker, "bob")
    token = os.urandom(32)
    await own_tokens(bob, token)
    sender = await connect(tracker)
    await deposit(sender, "bob", token, b"one")
    assert (await bob.push("MAILBOX"))["count"] == 1
    await deposit(sender, "bob", token, b"two")
    assert (await bob.push("MAILBOX")) == {"event": "MAILBOX", "count": 2}


async def test_commands_on_ones_own_mailbox_need_a_session(tracker, connect):
    stranger = await connect(tracker)
    for cmd, fields in (
        ("MAILBOX_FETCH", {}),
        ("MAILBOX_ACK", {"up_to": 5}),
        ("MAILBOX_TOKENS", {"add": [b64(os.urandom(32))]}),
    ):
        assert (await stranger.request(cmd, **fields))["code"] == "not_authenticated"


async def test_a_burst_is_rate_limited_and_writes_nothing_more(tracker_factory, user, connect):
    """10,000 deposits thrown at once: the buckets answer, storage sees only what passed."""
    rates = MailboxRateLimits(
        per_source=MailboxRate(50, 20.0),
        per_token=MailboxRate(1000, 1000.0),
        in_all=MailboxRate(100, 50.0),
    )
    tracker = await tracker_factory(
        mailbox_rates=rates, mailbox_messages=100_000, mailbox_bytes=2**30, trusted_networks=()
    )
    bob = await user(tracker, "bob", source="127.0.0.2")
    token = os.urandom(32)
    await own_tokens(bob, token)
    db = tracker.config.data_dir / DB_FILE_NAME
    size_before = sum(p.stat().st_size for p in db.parent.glob(DB_FILE_NAME + "*"))
    senders = [await connect(tracker, source=f"127.0.0.{i}") for i in range(10, 20)]
    frame = {"cmd": "DEPOSIT", "to": "bob", "token": b64(token), "body": b64(b"b" * 200)}
    started = asyncio.get_running_loop().time()

    async def flood(client: TrackerTestClient) -> list[dict]:
        for i in range(1000):
            await client.send({**frame, "id": i})
        return [await client.reply(30) for _ in range(1000)]

    results = [r for rs in await asyncio.gather(*(flood(s) for s in senders)) for r in rs]
    elapsed = asyncio.get_running_loop().time() - started
    stored = [r for r in results if r["status"] == "OK"]
    limited = [r for r in results if r.get("code") == "rate_limited"]
    assert len(stored) + len(limited) == 10_000
    assert all(r["retry_after"] > 0 for r in limited)
    assert len(stored) <= 100 + 50 * elapsed + 1
    assert tracker.mailbox.rates.keys_held <= 20
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM deposits").fetchone()[0] == len(stored)
    size_after = sum(p.stat().st_size for p in db.parent.glob(DB_FILE_NAME + "*"))
    assert size_after - size_before < (len(stored) + 50) * 4096
    assert tracker.counters["mailbox_rate_limited"] == len(limited)


async def test_expired_deposits_are_deleted_by_the_upkeep(tracker_factory, user, connect):
    tracker = await tracker_factory(mailbox_days=1.0, room_upkeep_interval=0.2)
    bob = await user(tracker, "bob")
    token = os.urandom(32)
    await own_tokens(bob, token)
    sender = await connect(tracker)
    assert (await deposit(sender, "bob", token, b"old"))["status"] == "OK"
    db = tracker.config.data_dir / DB_FILE_NAME
    with sqlite3.connect(db) as conn:  # age it by two days, as the clock would
        conn.execute("UPDATE deposits SET stored_at = stored_at - 2 * 86400")
    assert (await deposit(sender, "bob", token, b"new"))["status"] == "OK"

    async def expired() -> None:
        while len((await bob.request("MAILBOX_FETCH"))["deposits"]) != 1:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(expired(), 10)
    page = await bob.request("MAILBOX_FETCH")
    assert [base64.b64decode(d["body"]) for d in page["deposits"]] == [b"new"]


async def test_the_database_holds_the_bodies_as_sent_and_no_token(tracker, user, connect):
    """The tracker adds nothing readable: the row is the envelope sent, the token's
    hash (never the token), the recipient and the time; no sender, no source."""
    bob = await user(tracker, "bob")
    alice = await user(tracker, "alice")
    token = os.urandom(32)
    await own_tokens(bob, token)
    envelope = os.urandom(298)  # what a sealed 200-byte message weighs
    assert (await deposit(alice, "bob", token, envelope))["status"] == "OK"
    db = tracker.config.data_dir / DB_FILE_NAME
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT * FROM deposits").fetchall()
        columns = [c[1] for c in conn.execute("PRAGMA table_info(deposits)")]
    assert columns == ["id", "recipient", "token_hash", "body", "size", "stored_at"]
    assert len(rows) == 1 and rows[0][1] == "bob" and rows[0][3] == envelope
    assert rows[0][2] == hashlib.sha256(token).digest()
    assert not any("alice" in str(value) or "127.0.0.1" in str(value) for value in rows[0])
    raw = b"".join(p.read_bytes() for p in db.parent.glob(DB_FILE_NAME + "*"))
    assert token not in raw and b64(token).encode() not in raw


async def test_resume_carries_the_summary_too(tracker, user, connect):
    bob = await user(tracker, "bob")
    token = os.urandom(32)
    await own_tokens(bob, token)
    assert (await deposit(bob, "bob", token, b"to myself"))["status"] == "OK"
    ticket = bob.ticket
    await bob.close()
    again = await connect(tracker)
    again.identity_key = bob.identity_key
    reply = await again.request(
        "RESUME", username="bob", ticket=ticket, identity_key=bob.identity_key
    )
    assert reply["status"] == "OK", reply
    assert reply["mailbox"]["count"] == 1


async def test_a_body_over_the_frame_budget_is_refused(tracker_factory, user):
    tracker = await tracker_factory(max_frame_size=8192)
    bob = await user(tracker, "bob")
    token = os.urandom(32)
    await own_tokens(bob, token)
    limit = (8192 - 1024) * 3 // 4
    assert (await deposit(bob, "bob", token, b"x" * (limit + 1)))["code"] == "message_too_large"
    assert (await deposit(bob, "bob", token, b"x" * limit))["status"] == "OK"
    page = await bob.request("MAILBOX_FETCH")
    assert len(base64.b64decode(page["deposits"][0]["body"])) == limit


async def test_the_log_holds_no_token_body_or_name(tracker, user, connect, caplog):
    """Deposits that pass, are refused, or fail in storage leave nothing of theirs in
    the log: no token or its hash, no body, no recipient."""
    caplog.set_level(logging.DEBUG)
    bob = await user(tracker, "bobthereceiver")
    token = os.urandom(32)
    await own_tokens(bob, token)
    sender = await connect(tracker)
    caplog.clear()  # registration logs the new name, on purpose; deposits must not
    body = b"SECRETBODY" * 10
    assert (await deposit(sender, "bobthereceiver", token, body))["status"] == "OK"
    assert (await deposit(sender, "bobthereceiver", os.urandom(32), body))["status"] == "ERROR"

    async def broken(*args: object) -> None:
        raise OSError("disk gone")

    tracker.storage.mailbox_deposit = broken  # type: ignore[method-assign]
    failed = await deposit(sender, "bobthereceiver", token, body)
    assert failed["code"] == "internal_error"
    text = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert "deposit failed" in text
    for secret in (
        "bobthereceiver",
        "SECRETBODY",
        b64(body),
        b64(token),
        token_hash(token),
        hashlib.sha256(token).hexdigest(),
    ):
        assert secret not in text


async def test_a_schema_5_database_gains_the_mailbox(tracker_factory, tmp_path, connect, user):
    data_dir = tmp_path / "old"
    first = await tracker_factory(data_dir=data_dir)
    alice = await user(first, "alice")
    await first.stop()
    await alice.wait_closed()
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:  # as the previous release left it
        conn.executescript("DROP TABLE deposits; DROP TABLE mailbox_tokens; PRAGMA user_version=5;")
    second = await tracker_factory(data_dir=data_dir)
    again = await connect(second)
    again.identity_key = alice.identity_key
    assert (await again.login("alice"))["mailbox"]["count"] == 0
    token = os.urandom(32)
    assert (await own_tokens(again, token))["tokens"] == 1
    assert (await deposit(again, "alice", token, b"x"))["status"] == "OK"
    with sqlite3.connect(data_dir / DB_FILE_NAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 6
