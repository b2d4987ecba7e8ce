"""Tracker at scale: a restart under N sessions, memory at 50,000 sessions, a tracker pair.

Run through ``bench/tracker_load.py`` (``--restart``, ``--scale``, ``--group``):

* ``--restart N``: N sessions log in (and sit in rooms of three), the tracker is killed
  with ``kill -9`` and started again on the same port and data; every client comes back
  as a real one does (first attempt 0.5 s after the loss, +-20%, doubling to 30 s on
  failure), with ``RESUME`` and its ticket, then rejoins its room. One bench process
  plays every client, so at most ``--inflight`` (default 500) connect-and-RESUME
  attempts are in progress at once (beyond that the bench's own event loop, not the
  tracker, is what limits: its TLS handshakes time out). Reports the time from
  the new tracker's start until every session is back and every room restored, the
  RESUME throughput, and how many RESUMEs failed (a failure would have cost argon2).
* ``--scale N``: N concurrent sessions (default 50,000) from several loopback source
  addresses (about 28,000 ports each), every one logged in by RESUME; reports the
  tracker's RSS per session.
* ``--group``: two trackers on one PostgreSQL (the bench starts its own server),
  ``--group-sessions`` sessions spread over both; reports ``LIST_ROOMS`` latency on
  each, and the latency of a ``ROOM_UPDATE`` from a JOIN on one tracker to a member on
  the other, against the same push within one tracker, side by side.

Setting up thousands of accounts would only measure argon2, so the setup uses cheap
server-side argon2 (``--allow-weak-argon2``, m=8 KiB, t=1) and seeds accounts with one
hash; nothing measured runs argon2 (every session in a measured phase is a RESUME).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import random
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
from argon2 import PasswordHasher
from tracker_load import (  # type: ignore[import-not-found]
    KEY,
    PASSWORD,
    Session,
    percentile,
    seed_users,
)

from commons.codec import decode_object
from commons.framing import FrameDecoder
from commons.tracker_protocol import is_push

REPO = Path(__file__).resolve().parents[1]
WEAK_ARGON2 = ["--allow-weak-argon2", "--argon2-memory-kib", "8", "--argon2-time-cost", "1"]
PORTS_PER_SOURCE = 25_000


def seed_weak(data_dir: Path, names: list[str]) -> None:
    """Legacy-scheme accounts sharing one cheap hash (the setup logs them in with it)."""
    seed_users(data_dir, names, PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def raise_own_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, max(hard, needed)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        print(f"warning: open-file limit {hard} < {needed} needed", file=sys.stderr)


async def start_tracker(
    data_dir: Path, *extra: str, port: int = 0, open_files: int = 0
) -> tuple[asyncio.subprocess.Process, int]:
    def limit() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: die with us
        if open_files:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tracker",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--trusted-network",
        "127.0.0.0/8",
        "--log-level",
        "WARNING",
        *WEAK_ARGON2,
        *extra,
        cwd=REPO,
        stdout=subprocess.PIPE,
        preexec_fn=limit,
    )
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise RuntimeError("tracker exited")
        if "listening on" in line:
            return proc, int(line.rsplit(":", 1)[1])


def client_context(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    return context


def source_of(i: int) -> str:
    return f"127.0.0.{1 + i // PORTS_PER_SOURCE}"


async def connect(port: int, context: ssl.SSLContext, source: str) -> Session:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, local_addr=(source, 0)
    )
    return Session(reader, writer)


async def login(port: int, context: ssl.SSLContext, name: str, source: str) -> tuple[Session, str]:
    """Setup: LOGIN with the seeded password; the session and its ticket."""
    while True:
        session = await connect(port, context, source)
        reply = await session.request(
            "LOGIN", username=name, password=PASSWORD, identity_key=KEY, port=40000
        )
        if reply["status"] == "OK":
            return session, str(reply["ticket"])
        await session.close()
        if reply.get("code") not in ("busy", "too_many_connections"):
            raise RuntimeError(f"login of {name}: {reply}")
        await asyncio.sleep(0.2)


class Comeback:
    """One client after the loss of the tracker: backoff, RESUME, rejoin."""

    def __init__(self, name: str, ticket: str, room: str, source: str) -> None:
        self.name = name
        self.ticket = ticket
        self.room = room
        self.source = source
        self.attempts = 0
        self.session: Session | None = None
        self.resumed_at = 0.0
        self.back_at = 0.0

    async def run(
        self,
        port: int,
        context: ssl.SSLContext,
        stats: Counter[str],
        inflight: asyncio.Semaphore,
    ) -> None:
        """Like ``peer/session/session.py``: a ticket is sent once; a RESUME that got no answer
        is followed by a LOGIN (argon2), as is a refused ticket (counted as fallbacks)."""
        delay = 0.5
        while True:
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            self.attempts += 1
            ticket, self.ticket = self.ticket, ""
            sent = False
            try:
                async with inflight:  # one process plays thousands of machines
                    session = await asyncio.wait_for(connect(port, context, self.source), 30)
                    if ticket:
                        fields = {"ticket": ticket}
                        cmd = "RESUME"
                    else:
                        stats["fallback_login"] += 1
                        fields = {"password": PASSWORD}
                        cmd = "LOGIN"
                    sent = True
                    reply = await session.request(
                        cmd, username=self.name, identity_key=KEY, port=40000, **fields
                    )
            except (OSError, ConnectionError, TimeoutError, ssl.SSLError) as exc:
                stats[type(exc).__name__] += 1
                if not sent:
                    self.ticket = ticket  # refused before a byte of ours: still unused
                delay = min(delay * 2, 30.0)
                continue
            if reply["status"] != "OK":
                stats[str(reply.get("code"))] += 1
                await session.close()
                delay = min(delay * 2, 30.0)
                continue
            self.resumed_at = time.monotonic()
            self.ticket = str(reply["ticket"])
            joined = await session.request("JOIN_ROOM", room=self.room)
            if joined["status"] != "OK":
                stats["rejoin_" + str(joined.get("code"))] += 1
            self.back_at = time.monotonic()
            self.session = session
            return


async def run_restart(args: argparse.Namespace) -> None:
    count = args.restart
    raise_own_fd_limit(count + 1000)
    names = [f"user{i}" for i in range(count)]
    sources = [source_of(i) for i in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        seed_weak(data_dir, names)
        limits = ["--max-connections", str(count + 500)]
        proc, port = await start_tracker(data_dir, *limits, open_files=count + 2000)
        context = client_context(data_dir / "tracker-cert.pem")
        gate = asyncio.Semaphore(256)
        sessions: list[Session] = []
        tickets: list[str] = [""] * count

        async def setup(i: int) -> None:
            async with gate:
                session, tickets[i] = await login(port, context, names[i], sources[i])
                sessions.append(session)

        t0 = time.perf_counter()
        await asyncio.gather(*(setup(i) for i in range(count)))
        rooms = [f"room{i // 3}" for i in range(count)]
        setup_time = time.perf_counter() - t0
        print(f"setup: {count} sessions logged in (cheap argon2) in {setup_time:.1f} s")
        # Rooms of three: the first of each three makes it now (on a fresh RESUME); after
        # the restart every client rejoins its room.
        for session in sessions:
            await session.close()

        async def create(i: int) -> Session:
            async with gate:
                return await connect_resume_create(
                    port, context, names[i], tickets, i, rooms[i], sources[i]
                )

        creators = await asyncio.gather(*(create(i) for i in range(0, count, 3)))
        for session in creators:
            await session.close()
        ps = psutil.Process(proc.pid)
        rss = ps.memory_info().rss

        rows = [(names[i], tickets[i], rooms[i], sources[i]) for i in range(count)]
        spawn = multiprocessing.get_context("spawn")
        workers = []
        for k in range(args.client_processes):
            go_recv, go_send = spawn.Pipe(duplex=False)
            out_recv, out_send = spawn.Pipe(duplex=False)
            share = rows[k :: args.client_processes]
            worker = spawn.Process(
                target=comeback_worker,
                args=(
                    port,
                    str(data_dir / "tracker-cert.pem"),
                    share,
                    args.inflight,
                    go_recv,
                    out_send,
                ),
            )
            worker.start()
            workers.append((worker, go_send, out_recv))
        for _, _, out_recv in workers:
            assert await asyncio.get_running_loop().run_in_executor(None, out_recv.recv) == "ready"

        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        for _, go_send, _ in workers:
            go_send.send("go")
        proc, _ = await start_tracker(data_dir, *limits, port=port, open_files=count + 2000)
        started = time.monotonic()
        tracker = psutil.Process(proc.pid)
        cpu_start = sum(tracker.cpu_times()[:2])
        results = []
        for worker, _, out_recv in workers:
            results.append(await asyncio.get_running_loop().run_in_executor(None, out_recv.recv))
            worker.join()
        cpu_used = sum(tracker.cpu_times()[:2]) - cpu_start
        clients = [c for part, _ in results for c in part]
        stats: Counter[str] = Counter()
        for _, part_stats in results:
            stats.update(part_stats)
        back = [(resumed, done) for resumed, done, _ in clients if done]
        done_at = max(done for _, done in back)
        print(
            f"restart under {count} sessions (kill -9, start again; tracker RSS before: "
            f"{rss / 2**20:.0f} MiB; the clients in {args.client_processes} processes, each"
            f" with at most {args.inflight} connects+RESUMEs in flight):"
        )
        print(f"  tracker up {started - killed:.2f} s after the kill")
        print(
            f"  all {len(back)} back (RESUME + JOIN_ROOM) {done_at - started:.2f} s after the"
            f" new tracker started ({done_at - killed:.2f} s after the kill)"
        )
        marks = sorted(done - started for _, done in back)
        print(
            "  back after (s): "
            + ", ".join(f"{q}% {percentile(marks, q / 100):.2f}" for q in (10, 50, 90, 99))
        )
        resumed = sorted(r for r, _ in back)
        first, last = resumed[int(0.05 * len(resumed))], resumed[int(0.95 * len(resumed)) - 1]
        middle = int(0.95 * len(resumed)) - int(0.05 * len(resumed))
        print(f"  RESUME throughput (middle 90%): {middle / max(last - first, 1e-9):.0f}/s")
        print(
            f"  tracker CPU from its start until all were back: {cpu_used:.1f} s"
            f" ({len(back) / max(cpu_used, 1e-9):.0f} sessions back per tracker CPU-second;"
            f" machine load average {os.getloadavg()[0]:.1f})"
        )
        attempts = [a for _, _, a in clients]
        print(
            f"  attempts per client: median {statistics.median(attempts):.0f},"
            f" max {max(attempts)}; refusals and fallbacks: {dict(stats)}"
        )
        proc.terminate()
        await proc.wait()


def comeback_worker(
    port: int,
    cert: str,
    rows: list[tuple[str, str, str, str]],
    inflight: int,
    go: Any,
    out: Any,
) -> None:
    """A client process: waits for "go" (the tracker was just killed), then every client
    of ``rows`` comes back; sends ``([(resumed, back, attempts)], stats)``."""

    async def main() -> tuple[list[tuple[float, float, int]], Counter[str]]:
        raise_own_fd_limit(len(rows) + 500)
        context = client_context(Path(cert))
        clients = [Comeback(*row) for row in rows]
        stats: Counter[str] = Counter()
        gate = asyncio.Semaphore(inflight)
        out.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, go.recv)
        await asyncio.gather(*(c.run(port, context, stats, gate) for c in clients))
        for client in clients:
            if client.session is not None:
                await client.session.close()
        return [(c.resumed_at, c.back_at, c.attempts) for c in clients], stats

    out.send(asyncio.run(main()))


async def connect_resume_create(
    port: int,
    context: ssl.SSLContext,
    name: str,
    tickets: list[str],
    i: int,
    room: str,
    source: str,
) -> Session:
    session = await connect(port, context, source)
    reply = await session.request(
        "RESUME", username=name, ticket=tickets[i], identity_key=KEY, port=40000
    )
    tickets[i] = str(reply["ticket"])
    created = await session.request("CREATE_ROOM", room=room)
    assert created["status"] == "OK", created
    return session


async def run_scale(args: argparse.Namespace) -> None:
    """N concurrent sessions; tracker RSS per session."""
    count = args.scale
    raise_own_fd_limit(count + 2000)
    names = [f"user{i}" for i in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        seed_weak(data_dir, names)
        proc, port = await start_tracker(
            data_dir,
            "--max-connections",
            str(count + 500),
            "--heartbeat-interval",
            "600",
            open_files=count + 2000,
        )
        context = client_context(data_dir / "tracker-cert.pem")
        ps = psutil.Process(proc.pid)
        gate = asyncio.Semaphore(256)
        sessions: list[Session] = []

        async def one(i: int) -> None:
            async with gate:
                session, _ = await login(port, context, names[i], source_of(i))
                sessions.append(session)

        warm = 200
        await asyncio.gather(*(one(i) for i in range(warm)))
        before = ps.memory_info().rss
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(warm, count)))
        elapsed = time.perf_counter() - t0
        after = ps.memory_info().rss
        measured = count - warm
        sources = len({source_of(i) for i in range(count)})
        print(
            f"{count} concurrent sessions from {sources} loopback addresses"
            f" ({measured} measured after {warm} warm-up, in {elapsed:.0f} s):"
        )
        print(
            f"  tracker RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB:"
            f" {(after - before) / measured / 1024:.2f} kB per session"
        )
        for session in sessions:
            await session.close()
        proc.terminate()
        await proc.wait()


class PushSession(Session):  # type: ignore[misc]
    """A bench session that also timestamps the ROOM_UPDATE pushes it gets."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.updates: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        super().__init__(reader, writer)

    async def _read(self) -> None:
        decoder = FrameDecoder()
        with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
            while data := await self.reader.read(65536):
                for body in decoder.feed(data):
                    obj = decode_object(body)
                    if is_push(obj):
                        if obj.get("event") == "ROOM_UPDATE":
                            self.updates.put_nowait((time.perf_counter(), obj))
                        continue
                    future = self.pending.pop(obj["id"], None)
                    if future is not None and not future.done():
                        future.set_result(obj)
        self.closed = True

    async def update_with(self, member: str) -> float:
        """When the next ROOM_UPDATE listing ``member`` arrived."""
        while True:
            stamp, update = await asyncio.wait_for(self.updates.get(), 30)
            if any(m["username"] == member for m in update["members"]):
                return stamp


async def push_login(port: int, context: ssl.SSLContext, name: str) -> PushSession:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    session = PushSession(reader, writer)
    reply = await session.request(
        "LOGIN", username=name, password=PASSWORD, identity_key=KEY, port=40000
    )
    assert reply["status"] == "OK", reply
    return session


def seed_pg(url: str, names: list[str]) -> None:
    import psycopg

    from tracker.storage.postgres import SCHEMA

    password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO users (username, password, identity_key, created)"
                " VALUES (%s, %s, %s, 0)",
                [(name, password_hash, KEY) for name in names],
            )


async def run_group(args: argparse.Namespace) -> None:
    """Two trackers on one PostgreSQL: LIST_ROOMS on each, ROOM_UPDATE across and within."""
    sys.path.insert(0, str(REPO))
    from tests.pg_server import PgServer, find_postgres

    bindir = find_postgres()
    if bindir is None:
        print("no PostgreSQL server binaries (apt-get install postgresql)")
        return
    server = PgServer(bindir, durable=True).start()
    count = args.group_sessions
    samples = 200
    names = [f"user{i}" for i in range(count)]
    probes = [f"probe{i}" for i in range(2 * samples + 4)]
    try:
        url = server.create_database()
        await asyncio.get_running_loop().run_in_executor(None, seed_pg, url, names + probes)
        with tempfile.TemporaryDirectory() as tmp:
            group = ["--database", url, "--max-connections", str(count + 1000)]
            proc_a, port_a = await start_tracker(Path(tmp) / "a", *group)
            proc_b, port_b = await start_tracker(Path(tmp) / "b", *group)
            ctx_a = client_context(Path(tmp) / "a" / "tracker-cert.pem")
            ctx_b = client_context(Path(tmp) / "b" / "tracker-cert.pem")
            try:
                await measure_group(args, names, probes, (port_a, ctx_a), (port_b, ctx_b))
            finally:
                for proc in (proc_a, proc_b):
                    proc.terminate()
                    await proc.wait()
    finally:
        server.stop()


async def measure_group(
    args: argparse.Namespace,
    names: list[str],
    probes: list[str],
    a: tuple[int, ssl.SSLContext],
    b: tuple[int, ssl.SSLContext],
) -> None:
    gate = asyncio.Semaphore(128)
    sessions: list[Session] = []

    async def one(i: int) -> None:
        port, context = a if i % 2 == 0 else b
        async with gate:
            session, _ = await login(port, context, names[i], "127.0.0.1")
            sessions.append(session)
            if i % 3 == 0:
                await session.request("CREATE_ROOM", room=f"room{i}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(len(names))))
    print(
        f"two trackers on one PostgreSQL (fsync on): {len(names)} sessions, half on each,"
        f" logged in and {len(names) // 3 + 1} rooms made in {time.perf_counter() - t0:.1f} s"
    )
    for label, (port, context) in (("A", a), ("B", b)):
        probe = await push_login(port, context, probes[-1 if label == "A" else -2])
        latencies = []
        for _ in range(300):
            t1 = time.perf_counter()
            reply = await probe.request("LIST_ROOMS", limit=100)
            latencies.append((time.perf_counter() - t1) * 1000)
            assert reply["status"] == "OK"
        print(
            f"  LIST_ROOMS (first page of 100) on tracker {label}: p50"
            f" {statistics.median(latencies):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms"
        )
        await probe.close()
    across: list[float] = []
    within: list[float] = []
    for k in range(args.group_samples):
        owner = await push_login(*a, probes[2 * k])
        room = f"probe{k}"
        assert (await owner.request("CREATE_ROOM", room=room))["status"] == "OK"
        await owner.update_with(probes[2 * k])
        port, context = b if k % 2 == 0 else a
        joiner = await push_login(port, context, probes[2 * k + 1])
        t1 = time.perf_counter()
        assert (await joiner.request("JOIN_ROOM", room=room))["status"] == "OK"
        arrived = await owner.update_with(probes[2 * k + 1])
        (across if k % 2 == 0 else within).append((arrived - t1) * 1000)
        await owner.close()
        await joiner.close()
    print(
        f"  ROOM_UPDATE from a JOIN_ROOM to the owner ({len(across)} each, alternating):"
        f" owner on the other tracker p50 {statistics.median(across):.1f} ms,"
        f" p99 {percentile(across, 0.99):.1f} ms; on the same tracker p50"
        f" {statistics.median(within):.1f} ms, p99 {percentile(within, 0.99):.1f} ms"
    )
    for session in sessions:
        await session.close()


def main_for(args: argparse.Namespace) -> None:
    if args.restart:
        asyncio.run(run_restart(args))
    elif args.scale:
        asyncio.run(run_scale(args))
    elif args.group:
        asyncio.run(run_group(args))


if __name__ == "__main__":
    print("run bench/tracker_load.py --restart N or --scale N", file=sys.stderr)
    os._exit(2)
