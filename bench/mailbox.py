"""Mailbox benchmark (issue 22, tracker side), three figures side by side in one run.

1. **Deposits per second** at one tracker on SQLite with durable acknowledgement (each
   ``DEPOSIT`` answered after its commit, ``synchronous=FULL``, group commit):
   ``--senders`` connections that never log in deposit ``--deposits`` envelopes of 298 B
   (a sealed 200-byte message, see the crypto core's sizes) for one recipient, one in
   flight per connection (a connection's requests are answered in order). The
   recipient's limits and the deposit rates are raised out of the way: this measures
   what the tracker can store, not the policy. Aim: at least 2,000/s.
2. **Drain at login**: 1,000 waiting deposits; the time from sending ``LOGIN`` to the last
   ``MAILBOX_ACK`` answered (pages of up to 1,000, as many as fit a frame). Aim: at most
   1 s (the login's Argon2id is the test's cheap one, so this is the mailbox's time).
3. **Bytes on disk per stored 200-byte message**: the growth of the database file, after
   a WAL checkpoint, per deposit stored in (1). Aim: at most 1 KiB.

The tracker runs in this process (on the same core as the clients), so (1) is a floor.
Each figure is the median of ``--repeat`` runs. Usage: ``python bench/mailbox.py
[--deposits N] [--senders N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto.login_secret import TEST_LOGIN_KDF
from tests.tracker_client import TrackerTestClient
from tracker.config import TrackerConfig
from tracker.server.server import TrackerServer
from tracker.state.mailbox import MailboxRate, MailboxRateLimits
from tracker.storage.sqlite_file import DB_FILE_NAME

ENVELOPE_BYTES = 298
UNLIMITED = MailboxRate(10**9, 10**9)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


async def _tracker(data_dir: Path) -> TrackerServer:
    config = TrackerConfig(host="127.0.0.1", port=0).with_changes(
        data_dir=data_dir,
        trusted_networks=("127.0.0.1/32",),
        login_kdf=TEST_LOGIN_KDF,
        mailbox_messages=10**6,
        mailbox_bytes=2**40,
        mailbox_rates=MailboxRateLimits(UNLIMITED, UNLIMITED, UNLIMITED),
        max_unauthenticated_per_source=10_000,
        max_unauthenticated=10_000,
        connection_burst_per_source=10_000,
    )
    server = TrackerServer(config)
    await server.start()
    return server


def _db_bytes(data_dir: Path) -> int:
    db = data_dir / DB_FILE_NAME
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in data_dir.glob(DB_FILE_NAME + "*"))


async def run_once(deposits: int, senders: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "tracker"
        server = await _tracker(data_dir)
        try:
            cert = server.cert_path
            bob = await TrackerTestClient.connect("127.0.0.1", server.port, cert)
            assert (await bob.register("bob"))["status"] == "OK"
            assert (await bob.login("bob"))["status"] == "OK"
            token = os.urandom(32)
            digest = b64(hashlib.sha256(token).digest())
            assert (await bob.request("MAILBOX_TOKENS", add=[digest]))["status"] == "OK"
            await bob.request("LOGOUT")
            await bob.close()
            before = _db_bytes(data_dir)
            clients = [
                await TrackerTestClient.connect("127.0.0.1", server.port, cert)
                for _ in range(senders)
            ]
            body = b64(os.urandom(ENVELOPE_BYTES))

            async def send(client: TrackerTestClient, count: int) -> None:
                for _ in range(count):
                    reply = await client.request("DEPOSIT", to="bob", token=b64(token), body=body)
                    assert reply["status"] == "OK", reply

            share = [deposits // senders + (i < deposits % senders) for i in range(senders)]
            started = time.perf_counter()
            await asyncio.gather(*(send(c, n) for c, n in zip(clients, share, strict=True)))
            rate = deposits / (time.perf_counter() - started)
            for client in clients:
                await client.close()
            per_message = (_db_bytes(data_dir) - before) / deposits

            # the drain: 1,000 waiting (ack the rest first)
            again = await TrackerTestClient.connect("127.0.0.1", server.port, cert)
            again.identity_key = bob.identity_key
            await again.login("bob")
            page = await again.request("MAILBOX_FETCH", limit=1)
            last = page["deposits"][0]["id"] + deposits - 1001
            await again.request("MAILBOX_ACK", up_to=last)
            await again.request("LOGOUT")
            await again.close()
            drainer = await TrackerTestClient.connect("127.0.0.1", server.port, cert)
            drainer.identity_key = bob.identity_key
            started = time.perf_counter()
            login = await drainer.login("bob")
            waiting = login["mailbox"]["count"]
            got, after = 0, 0
            while True:
                page = await drainer.request("MAILBOX_FETCH", after=after, limit=1000)
                got += len(page["deposits"])
                after = page["deposits"][-1]["id"] if page["deposits"] else after
                if page["next"] is None:
                    break
            await drainer.request("MAILBOX_ACK", up_to=after)
            drain = time.perf_counter() - started
            assert got == waiting == 1000, (got, waiting)
            await drainer.close()
            return rate, drain, per_message
        finally:
            await server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deposits", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    assert args.deposits >= 1001
    results = [await run_once(args.deposits, args.senders) for _ in range(args.repeat)]
    rates, drains, sizes = zip(*results, strict=True)
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"deposits/s (SQLite, durable, {args.senders} senders): "
        f"{statistics.median(rates):,.0f}  (aim >= 2,000)"
    )
    print(f"drain of 1,000 at login: {statistics.median(drains) * 1000:,.0f} ms  (aim <= 1,000)")
    print(
        f"bytes on disk per stored {ENVELOPE_BYTES}-byte envelope (200-byte message): "
        f"{statistics.median(sizes):,.0f}  (aim <= 1,024)"
    )


if __name__ == "__main__":
    asyncio.run(main())
