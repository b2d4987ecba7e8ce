"""Tracker load benchmark: many concurrent TLS sessions, list latency, a login flood.

Runs the tracker as a separate ``python -m tracker`` process (so its RSS can be
measured on its own with psutil) and drives it from this process:

1. seeds the user table directly (one argon2id hash reused for every account, since
   hashing 2,000 passwords would only measure argon2),
2. opens ``--sessions`` TLS sessions and logs each in (``--concurrency`` at a time):
   sessions/s and tracker RSS per session,
3. with every session online and heartbeating, measures ``LIST_ROOMS`` p50/p99,
4. floods ``--flood`` concurrent logins while one session PINGs: PING p50/p99.

The benching client connects from 127.0.0.1, which the tracker is told to trust
(``--trusted-network``): thousands of sessions from one address are the bench's
artefact, not an attack.

``--under-attack`` runs another scenario instead: the tracker limited to
``--open-files`` descriptors (default 1024), honest users log in from 127.0.0.1 (one
fresh TLS connection and LOGIN each, ``--honest-concurrency`` at a time) in rounds
that alternate between quiet and under attack, while a separate attacker process
floods REGISTER from 127.0.0.2 (``--attack-connections`` connections, new names,
reconnecting whenever refused) and plain TCP sockets from 127.0.0.3 (held open, every
fourth sending non-TLS bytes). It prints honest login latency p50/p99 for both
conditions side by side, and what the attackers got.

Usage: ``python bench/tracker_load.py [--sessions 2000] [--flood 200]`` or
``python bench/tracker_load.py --under-attack [--honest 300] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import multiprocessing
import os
import resource
import socket
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from commons.codec import decode_object, encode_message  # noqa: E402
from commons.framing import FrameDecoder  # noqa: E402
from commons.tracker_protocol import is_push  # noqa: E402
from tracker.storage.sqlite_file import Database  # noqa: E402
from tracker.storage.sqlite_users import insert_user  # noqa: E402

PASSWORD = hashlib.sha256(b"bench password").hexdigest()
KEY = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="


class Session:
    """One bench connection with a reader task that resolves replies by id."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.ids = itertools.count(1)
        self.closed = False
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        decoder = FrameDecoder()
        with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
            while data := await self.reader.read(65536):
                for body in decoder.feed(data):
                    obj = decode_object(body)
                    if obj.get("id") is None and obj.get("status") == "ERROR":
                        # A refusal of the connection itself (too_many_connections).
                        for future in self.pending.values():
                            if not future.done():
                                future.set_exception(ConnectionError(obj.get("code")))
                        self.pending.clear()
                    elif not is_push(obj):
                        future = self.pending.pop(obj["id"], None)
                        if future is not None and not future.done():
                            future.set_result(obj)
        self.closed = True
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("closed"))

    async def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        if self.closed:
            raise ConnectionError("closed")
        request_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        self.writer.write(encode_message({"cmd": cmd, "id": request_id, **fields}))
        return await asyncio.wait_for(future, 60)

    async def close(self) -> None:
        self.task.cancel()
        self.writer.transport.abort()  # frees the descriptor now (no TLS close_notify dance)


async def open_session(port: int, context: ssl.SSLContext, name: str) -> tuple[Session, int]:
    """Connect and log in, retrying on ``busy``; returns the session and retry count."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    session = Session(reader, writer)
    retries = 0
    while True:
        reply = await session.request(
            "LOGIN", username=name, password=PASSWORD, identity_key=KEY, port=40000
        )
        if reply["status"] == "OK":
            return session, retries
        if reply.get("code") != "busy":
            raise RuntimeError(f"login of {name} failed: {reply}")
        retries += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seed_users(data_dir: Path, names: list[str], hasher: PasswordHasher | None = None) -> None:
    """Legacy-scheme accounts sharing one hash of PASSWORD (by default at the tracker's
    default cost; the scale bench passes a cheap hasher)."""
    hasher = hasher or PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
    password_hash = hasher.hash(PASSWORD)
    db = Database(data_dir)
    db.open_blocking()

    def insert_all(conn: Any) -> None:
        conn.execute("BEGIN")
        for name in names:
            insert_user(conn, name, password_hash, KEY)
        conn.execute("COMMIT")

    db.run_blocking(insert_all)
    db.close_blocking()


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else needed
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        print(f"warning: fd limit {target} < {needed} needed", file=sys.stderr)


async def start_tracker(
    data_dir: Path, max_connections: int, open_files: int | None = None
) -> tuple[Any, int]:
    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tracker",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--max-connections",
        str(max_connections),
        "--trusted-network",
        "127.0.0.1/32",
        "--log-level",
        "WARNING",
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


async def heartbeat(sessions: list[Session], interval: float, stop: asyncio.Event) -> None:
    """Each session PINGs about once per ``interval``, spread evenly, like real clients.

    ``sessions`` may grow while this runs (sessions heartbeat while others log in).
    """
    while not stop.is_set():
        snapshot = list(sessions)
        if not snapshot:
            await asyncio.sleep(0.1)
            continue
        gap = interval / len(snapshot)
        for session in snapshot:
            if stop.is_set():
                return
            session.writer.write(encode_message({"cmd": "PING", "id": 0}))
            await asyncio.sleep(gap)


async def run(args: argparse.Namespace) -> None:
    raise_fd_limit(args.sessions + args.flood + 200)
    names = [f"user{i}" for i in range(args.sessions)]
    flood_names = [f"flood{i}" for i in range(args.flood)]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        seed_users(data_dir, [*names, *flood_names, "prober"])
        proc, port = await start_tracker(data_dir, args.sessions + args.flood + 100)
        tracker = psutil.Process(proc.pid)
        context = ssl.create_default_context(cafile=str(data_dir / "tracker-cert.pem"))
        context.check_hostname = False
        try:
            await measure(args, port, context, tracker, names, flood_names)
        finally:
            proc.terminate()
            await proc.wait()


async def measure(
    args: argparse.Namespace,
    port: int,
    context: ssl.SSLContext,
    tracker: psutil.Process,
    names: list[str],
    flood_names: list[str],
) -> None:
    gate = asyncio.Semaphore(args.concurrency)
    retries = 0

    sessions: list[Session] = []

    async def one(name: str) -> None:
        nonlocal retries
        async with gate:
            session, tries = await open_session(port, context, name)
            retries += tries
            sessions.append(session)

    stop = asyncio.Event()
    beats = asyncio.create_task(heartbeat(sessions, args.heartbeat, stop))

    # Warm-up: the first logins make every argon2 thread allocate its 19 MiB, a fixed
    # cost that must not be charged to sessions.
    warm = min(len(names) // 10, 100)
    await asyncio.gather(*(one(n) for n in names[:warm]))
    rss_before = tracker.memory_info().rss
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in names[warm:]))
    elapsed = time.perf_counter() - started
    rss_after = tracker.memory_info().rss
    measured = len(names) - warm
    print(f"sessions: {measured} logged in over TLS in {elapsed:.1f} s (after {warm} warm-up)")
    print(f"  sessions/s: {measured / elapsed:.0f}   (busy retries: {retries})")
    print(f"  tracker RSS: {rss_before / 2**20:.1f} MiB warm -> {rss_after / 2**20:.1f} MiB")
    print(f"  tracker RSS per session: {(rss_after - rss_before) / measured / 1024:.1f} kB")

    for i, session in enumerate(sessions[1 : args.rooms + 1]):
        await session.request("CREATE_ROOM", room=f"room{i}")
    for i, session in enumerate(sessions[args.rooms + 1 : 3 * args.rooms + 1]):
        await session.request("JOIN_ROOM", room=f"room{i % args.rooms}")
    probe, _ = await open_session(port, context, "prober")
    latencies = []
    for _ in range(args.samples):
        t0 = time.perf_counter()
        reply = await probe.request("LIST_ROOMS")
        latencies.append((time.perf_counter() - t0) * 1000)
        assert reply["status"] == "OK"
    print(
        f"LIST_ROOMS ({args.rooms} rooms, {len(sessions)} sessions heartbeating every "
        f"{args.heartbeat:.0f} s): p50 {statistics.median(latencies):.2f} ms, "
        f"p99 {percentile(latencies, 0.99):.2f} ms"
    )

    prober = probe
    baseline = []
    for _ in range(100):
        t0 = time.perf_counter()
        await prober.request("PING")
        baseline.append((time.perf_counter() - t0) * 1000)
    pings: list[float] = []
    flood_done = asyncio.Event()

    async def probe_pings() -> None:
        while not flood_done.is_set():
            t0 = time.perf_counter()
            await prober.request("PING")
            pings.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.005)

    async def flood_login(name: str) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        session = Session(reader, writer)
        reply = await session.request(
            "LOGIN", username=name, password=PASSWORD, identity_key=KEY, port=40000
        )
        flood_sessions.append(session)
        return str(reply.get("code", reply["status"]))

    flood_sessions: list[Session] = []
    pinger = asyncio.create_task(probe_pings())
    t0 = time.perf_counter()
    outcomes = await asyncio.gather(*(flood_login(n) for n in flood_names))
    flood_time = time.perf_counter() - t0
    flood_done.set()
    await pinger
    counts = {code: outcomes.count(code) for code in sorted(set(outcomes))}
    print(f"login flood: {len(flood_names)} concurrent logins in {flood_time:.1f} s -> {counts}")
    print(
        f"  PING p50/p99 idle: {statistics.median(baseline):.2f} / "
        f"{percentile(baseline, 0.99):.2f} ms; during flood ({len(pings)} pings): "
        f"{statistics.median(pings):.2f} / {percentile(pings, 0.99):.2f} ms"
    )
    stop.set()
    await beats
    for session in [*sessions, *flood_sessions, probe]:
        await session.close()


# ---------------------------------------------------------------- under attack


async def honest_login(port: int, context: ssl.SSLContext, name: str) -> tuple[float, str]:
    """One honest user: connect, TLS, LOGIN; the latency (s) and the outcome."""
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=context), 30
        )
    except (OSError, TimeoutError) as exc:
        return time.perf_counter() - started, type(exc).__name__
    session = Session(reader, writer)
    try:
        reply = await session.request(
            "LOGIN", username=name, password=PASSWORD, identity_key=KEY, port=40000
        )
        outcome = str(reply.get("code", reply["status"]))
    except (ConnectionError, TimeoutError) as exc:
        outcome = type(exc).__name__
    elapsed = time.perf_counter() - started
    await session.close()
    return elapsed, outcome


async def honest_round(
    port: int, context: ssl.SSLContext, names: list[str], concurrency: int
) -> tuple[list[float], Counter[str]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()

    async def one(name: str) -> None:
        async with gate:
            elapsed, outcome = await honest_login(port, context, name)
            outcomes[outcome] += 1
            if outcome == "OK":
                latencies.append(elapsed)

    await asyncio.gather(*(one(name) for name in names))
    return latencies, outcomes


async def register_flood(
    port: int, context: ssl.SSLContext, connections: int, stop: asyncio.Event, got: Counter[str]
) -> None:
    """From 127.0.0.2: REGISTER new names as fast as replies come, reconnecting on refusal."""
    names = itertools.count()

    async def worker() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        "127.0.0.1", port, ssl=context, local_addr=("127.0.0.2", 0)
                    ),
                    10,
                )
            except (OSError, TimeoutError):
                got["connect_refused"] += 1
                await asyncio.sleep(0.01)
                continue
            session = Session(reader, writer)
            try:
                while not stop.is_set():
                    reply = await session.request(
                        "REGISTER",
                        username=f"spam{next(names)}",
                        password=PASSWORD,
                        identity_key=KEY,
                    )
                    got[str(reply.get("code", reply["status"]))] += 1
            except (ConnectionError, TimeoutError):
                got["connection_closed"] += 1
            finally:
                await session.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


async def socket_flood(port: int, hold: int, stop: asyncio.Event, got: Counter[str]) -> None:
    """From 127.0.0.3: plain TCP sockets as fast as possible, ``hold`` kept open."""
    held: list[socket.socket] = []
    while not stop.is_set():
        for _ in range(64):
            sock = socket.socket()
            sock.setblocking(False)
            sock.bind(("127.0.0.3", 0))
            with contextlib.suppress(BlockingIOError, ConnectionError):
                sock.connect(("127.0.0.1", port))
            if got["sockets"] % 4 == 0:
                with contextlib.suppress(OSError):
                    sock.send(b"GET / HTTP/1.0\r\n\r\n")
            got["sockets"] += 1
            held.append(sock)
            if len(held) > hold:
                held.pop(0).close()
        await asyncio.sleep(0.002)
    for sock in held:
        sock.close()


def attacker_process(port: int, cert: str, connections: int, hold: int, pipe: Any) -> None:
    """The attackers' own process: floods until the bench sends "stop", then reports."""

    async def run() -> Counter[str]:
        raise_fd_limit(hold + connections + 256)
        context = ssl.create_default_context(cafile=cert)
        context.check_hostname = False
        stop = asyncio.Event()
        got: Counter[str] = Counter()
        loop = asyncio.get_running_loop()
        loop.add_reader(pipe.fileno(), stop.set)
        floods = [
            asyncio.create_task(register_flood(port, context, connections, stop, got)),
            asyncio.create_task(socket_flood(port, hold, stop, got)),
        ]
        await stop.wait()
        await asyncio.gather(*floods, return_exceptions=True)
        return got

    pipe.send(dict(asyncio.run(run())))


def describe(latencies: list[float]) -> str:
    if not latencies:
        return "no successful login"
    return (
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms"
    )


async def run_under_attack(args: argparse.Namespace) -> None:
    raise_fd_limit(args.honest_concurrency + 256)
    rounds = [f"r{r}q" for r in range(args.rounds)] + [f"r{r}a" for r in range(args.rounds)]
    names = {tag: [f"{tag}u{i}" for i in range(args.honest)] for tag in rounds}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        seed_users(data_dir, [name for group in names.values() for name in group])
        proc, port = await start_tracker(data_dir, 20000, args.open_files)
        cert = str(data_dir / "tracker-cert.pem")
        context = ssl.create_default_context(cafile=cert)
        context.check_hostname = False
        quiet: list[float] = []
        attacked: list[float] = []
        outcomes: dict[str, Counter[str]] = {"quiet": Counter(), "attack": Counter()}
        attackers: Counter[str] = Counter()
        try:
            await honest_round(port, context, [f"r0qu{i}" for i in range(10)], 4)  # warm-up
            for r in range(args.rounds):
                latencies, got = await honest_round(
                    port, context, names[f"r{r}q"], args.honest_concurrency
                )
                quiet += latencies
                outcomes["quiet"] += got
                parent, child = multiprocessing.Pipe()
                attacker = multiprocessing.Process(
                    target=attacker_process,
                    args=(port, cert, args.attack_connections, args.attack_hold, child),
                )
                attacker.start()
                await asyncio.sleep(args.attack_warmup)  # let the floods reach full speed
                latencies, got = await honest_round(
                    port, context, names[f"r{r}a"], args.honest_concurrency
                )
                attacked += latencies
                outcomes["attack"] += got
                parent.send("stop")
                attackers.update(
                    await asyncio.get_running_loop().run_in_executor(None, parent.recv)
                )
                attacker.join()
        finally:
            proc.terminate()
            await proc.wait()
    print(
        f"honest logins ({args.rounds} rounds x {args.honest} per condition, "
        f"{args.honest_concurrency} at a time, tracker open-file limit {args.open_files}):"
    )
    print(f"  quiet:        {describe(quiet)}   outcomes {dict(outcomes['quiet'])}")
    print(f"  under attack: {describe(attacked)}   outcomes {dict(outcomes['attack'])}")
    if quiet and attacked:
        p50 = statistics.median(attacked) / statistics.median(quiet)
        p99 = percentile(attacked, 0.99) / percentile(quiet, 0.99)
        print(f"  ratio attack/quiet: p50 {p50:.2f}, p99 {p99:.2f}")
    print(f"attackers got: {dict(sorted(attackers.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--flood", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--heartbeat", type=float, default=10.0)
    attack = parser.add_argument_group("--under-attack")
    attack.add_argument("--under-attack", action="store_true")
    attack.add_argument("--honest", type=int, default=300, help="honest logins per round")
    attack.add_argument("--rounds", type=int, default=2)
    attack.add_argument("--honest-concurrency", type=int, default=8)
    attack.add_argument("--open-files", type=int, default=1024)
    attack.add_argument("--attack-connections", type=int, default=64)
    attack.add_argument("--attack-hold", type=int, default=1500)
    attack.add_argument("--attack-warmup", type=float, default=2.0)
    scale = parser.add_argument_group("at scale (bench/tracker_scale.py)")
    scale.add_argument("--restart", type=int, metavar="N", help="restart under N sessions")
    scale.add_argument("--scale", type=int, metavar="N", help="N concurrent sessions (memory)")
    scale.add_argument("--group", action="store_true", help="two trackers on PostgreSQL")
    scale.add_argument("--group-sessions", type=int, default=2000)
    scale.add_argument("--group-samples", type=int, default=200, help="--group: pushes timed")
    scale.add_argument("--inflight", type=int, default=300, help="--restart: attempts at once")
    scale.add_argument("--client-processes", type=int, default=2, help="--restart: clients in")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    if args.restart or args.scale or args.group:
        import tracker_scale  # type: ignore[import-not-found]

        tracker_scale.main_for(args)
    else:
        asyncio.run(run_under_attack(args) if args.under_attack else run(args))
    print(f"total bench time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
