"""Relay benchmark: what the tracker's relay costs, next to a direct path, in one run.

1. **Through one tracker.** The tracker runs as its own ``python -m tracker`` process
   (so that its CPU time can be read from ``/proc``), with the per-session relay budget
   raised out of the way (``--relay-rate``/``--relay-frames``: this measures what the
   tracker can carry, not the policy; the defaults hold one session to 256 KiB/s).
   ``--pairs`` sender/receiver pairs of raw TLS sessions, in this process, relay
   ``--frames`` bodies of 200 B in all (what a channel carries is opaque to the
   tracker), as fast as the receivers take them (a window of :data:`WINDOW` frames per
   pair, as receipts would give). Reported: messages/s (median of ``--repeat``) and the
   CPU time per relayed message of the tracker and of the bench's own clients.
2. **Through real clients.** Two :class:`peer.client.chat_client.ChatClient` pairs in this process,
   one with a direct channel and one relayed (``relay_only``), both through the same
   tracker process: one-way latency of a 200-character message (send to
   ``MessageReceived``, one in flight, samples alternating between the paths) and
   throughput with receipts (``--messages`` private messages, until every receipt is in).
   Reported: p50/p99 of each, and the latency the relay adds at p50.

3. **Across two trackers** (``--group``): a throwaway PostgreSQL (:mod:`tests.pg_server`,
   fsync on) and two tracker processes on it. Raw sessions relay bodies of 200 B from
   tracker A to a receiver on A and to one on B, side by side in one run: one-way
   latency of one frame (one in flight, samples alternating) and messages/s (``--pairs``
   pairs each way, the same window). Then two ``relay_only`` client pairs, one on A
   only and one across A and B: one-way latency and messages/s with receipts.

4. **The per-source budget** (``--source-cap``): ``--source-sessions`` sessions logged in
   from 127.0.0.2 (not a trusted network) relay bodies of 40,000 B flat out for 5 s
   through a tracker with the default per-source budget (1 MiB/s), then through one with
   it raised out of the way (as before issue 20, when budgets were per session only);
   each session's own budget is raised in both. Reported: what reached their receivers
   per second in all.

Usage: ``python bench/relay.py [--frames N] [--pairs N] [--samples N] [--messages N]
[--repeat N] [--group] [--source-cap [--source-sessions N]]``. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from commons.codec import encode_message
from commons.framing import FrameDecoder
from commons.relay_frames import relay_request
from crypto.keystore import TEST_KDF_PARAMS
from peer.client.chat_client import ChatClient
from peer.config import PeerConfig
from peer.events import ClientEvent, MessageDelivered, MessageFailed, MessageReceived

REPO = Path(__file__).resolve().parents[1]
BODY = bytes(range(200))
TEXT = "x" * 200
PASSWORD = "bench-password"
RELAYED = b'{"event":"RELAY",'  # how a relayed frame's body starts
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --------------------------------------------------------------------- the tracker


async def start_tracker(data_dir: Path, *extra: str) -> tuple[asyncio.subprocess.Process, int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tracker",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--trusted-network",
        "127.0.0.1/32",
        "--relay-rate",
        str(1024 * 1024),
        "--relay-frames",
        "1000000",
        "--relay-total-rate",
        str(16 * 1024 * 1024),
        "--relay-total-frames",
        "10000000",
        "--log-level",
        "WARNING",
        *extra,
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    port, fingerprint = 0, ""
    while not (port and fingerprint):
        line = (await proc.stdout.readline()).decode()
        if not line:
            raise RuntimeError("the tracker exited")
        if "listening on" in line:
            port = int(line.rsplit(":", 1)[1])
        if "fingerprint:" in line:
            fingerprint = line.split("fingerprint:", 1)[1].strip()
    return proc, port, fingerprint


class Session:
    """A raw TLS session with the tracker (the bench's relay client)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder(1 << 20)
        self.received = 0
        self.progress = asyncio.Event()
        self.reading: asyncio.Task[None] | None = None
        self.beating: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Count every relayed frame from now on, and PING now and then (a session that
        says nothing for three heartbeats is closed, like any silent client)."""
        self.reading = asyncio.create_task(self._read())
        self.beating = asyncio.create_task(self._heartbeat())

    async def _read(self) -> None:
        while data := await self.reader.read(1 << 18):
            bodies = self.decoder.feed(data)
            self.received += sum(body.startswith(RELAYED) for body in bodies)
            self.progress.set()

    async def _heartbeat(self) -> None:
        ping = encode_message({"cmd": "PING", "id": 2})
        while True:
            await asyncio.sleep(5)
            self.writer.write(ping)

    def close(self) -> None:
        for task in (self.reading, self.beating):
            if task is not None:
                task.cancel()
        self.writer.close()

    @classmethod
    async def logged_in(
        cls, port: int, cert: Path, name: str, source: str | None = None
    ) -> Session:
        """Register ``name`` (from 127.0.0.1, trusted) and log it in, from ``source`` if
        given (a connection of its own: registrations per source would stop a crowd)."""
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        session = cls(reader, writer)
        commands = ["REGISTER", "LOGIN"]
        if source is not None:
            await session.send_login(name, "REGISTER")
            writer.close()
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, local_addr=(source, 0)
            )
            session = cls(reader, writer)
            commands = ["LOGIN"]
        for cmd in commands:
            await session.send_login(name, cmd)
        return session

    async def send_login(self, name: str, cmd: str) -> None:
        key = "A" * 42 + "E="  # a valid 32-byte key; the relay never looks at it
        digest = __import__("hashlib").sha256(PASSWORD.encode()).hexdigest()
        self.writer.write(
            encode_message(
                {"cmd": cmd, "id": 1, "username": name, "password": digest, "identity_key": key}
            )
        )
        await self.frames(1)

    async def frames(self, count: int) -> int:
        """Before :meth:`start`: read until ``count`` frames (replies) arrived."""
        got = 0
        while got < count:
            data = await self.reader.read(1 << 18)
            if not data:
                raise ConnectionError("closed")
            got += len(self.decoder.feed(data))
        return got

    async def relayed(self, goal: int) -> None:
        """After :meth:`start`: until ``goal`` relayed frames were counted in all."""
        while self.received < goal:
            if self.reading is not None and self.reading.done():
                raise ConnectionError("the tracker closed the session")
            self.progress.clear()
            await self.progress.wait()


#: Frames a sender may have ahead of its receiver: a flow-control window, as a channel's
#: receipts give one, so that the bench's own receivers (all in this one process) are
#: not outrun and the tracker never has to drop for a slow receiver.
WINDOW = 400


async def relay_round(pairs: list[tuple[Session, Session, str]], frames: int) -> float:
    """Messages/s for ``frames`` bodies split over the pairs, through the tracker."""
    per_pair = frames // len(pairs) // 100 * 100

    async def send(sender: Session, receiver: Session, to: str) -> None:
        batch = encode_message(relay_request(to, 1, False, BODY)) * 100
        start = receiver.received
        for sent in range(0, per_pair, 100):
            while sent - (receiver.received - start) > WINDOW:
                receiver.progress.clear()
                await receiver.progress.wait()
            sender.writer.write(batch)
            await sender.writer.drain()

    goals = [r.received + per_pair for _, r, _ in pairs]
    started = time.perf_counter()
    await asyncio.gather(
        *(send(s, r, to) for s, r, to in pairs),
        *(r.relayed(goal) for (_, r, _), goal in zip(pairs, goals, strict=True)),
    )
    return per_pair * len(pairs) / (time.perf_counter() - started)


async def bench_tracker(args: argparse.Namespace, pid: int, port: int, cert: Path) -> None:
    pairs = []
    for n in range(args.pairs):
        sender = await Session.logged_in(port, cert, f"sender{n}")
        receiver = await Session.logged_in(port, cert, f"receiver{n}")
        pairs.append((sender, receiver, f"receiver{n}"))
        sender.start()
        receiver.start()
    await relay_round(pairs, args.frames // 10)  # warm up
    relayed, tracker_cpu, bench_cpu = [], [], []
    for _ in range(args.repeat):
        before, own = cpu_seconds(pid), own_cpu()
        relayed.append(await relay_round(pairs, args.frames))
        tracker_cpu.append((cpu_seconds(pid) - before) / args.frames * 1e6)
        bench_cpu.append((own_cpu() - own) / args.frames * 1e6)
    for sender, receiver, _ in pairs:
        sender.close()
        receiver.close()
    r, c, b = (statistics.median(v) for v in (relayed, tracker_cpu, bench_cpu))
    print(f"\n1. Through one tracker: {args.frames:,} bodies of {len(BODY)} B per run over")
    print(f"   {args.pairs} session pairs, {args.repeat} runs (medians)")
    print(f"   relayed {r:>8,.0f} msg/s; tracker CPU {c:.1f} us per message")
    print(f"   (the senders and receivers, in this process: {b:.1f} us per message)")
    print(f"   runs: {[round(x) for x in relayed]}")


# --------------------------------------------------------------------- real clients


class Peer:
    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.waiters: list[tuple[Callable[[ClientEvent], bool], asyncio.Future[ClientEvent]]] = []
        self.listeners: list[Callable[[ClientEvent], bool]] = []
        self.task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        async for event in self.client.events():
            for listener in list(self.listeners):
                listener(event)
            for waiter in list(self.waiters):
                match, future = waiter
                if match(event) and not future.done():
                    future.set_result(event)
                    self.waiters.remove(waiter)

    def next(self, match: Callable[[ClientEvent], bool]) -> asyncio.Future[ClientEvent]:
        future: asyncio.Future[ClientEvent] = asyncio.get_running_loop().create_future()
        self.waiters.append((match, future))
        return future


async def make_peer(port: int, fingerprint: str, home: Path, name: str, **opts: Any) -> Peer:
    config = PeerConfig(
        tracker=("127.0.0.1", port),
        home=home / name,
        listen=("127.0.0.1", 0),
        tracker_fingerprint=fingerprint,
        **opts,
    )
    client = ChatClient(config, kdf_params=TEST_KDF_PARAMS)
    await client.connect()
    await client.register(name, PASSWORD)
    await client.login(name, PASSWORD)
    return Peer(client)


async def one_way(sender: Peer, receiver: Peer, to: str) -> float:
    got = receiver.next(lambda e: isinstance(e, MessageReceived) and e.text == TEXT)
    started = time.perf_counter()
    await sender.client.send_private(to, TEXT)
    await got
    return time.perf_counter() - started


async def burst(sender: Peer, to: str, count: int) -> float:
    """Messages/s until every one of ``count`` messages has its receipt. At most
    ``WINDOW`` await a receipt at once (the client refuses more than 512: ``backlog_full``)."""
    delivered = 0
    failed: list[str] = []
    progress = asyncio.Event()

    def match(event: ClientEvent) -> bool:
        nonlocal delivered
        if isinstance(event, MessageDelivered | MessageFailed):
            delivered += 1
            progress.set()
        if isinstance(event, MessageFailed):
            failed.append(event.reason)
        return False  # stay subscribed

    sender.listeners.append(match)
    started = time.perf_counter()
    for sent in range(count):
        while sent - delivered >= WINDOW:
            progress.clear()
            await progress.wait()
        await sender.client.send_private(to, TEXT)
    while delivered < count:
        progress.clear()
        await progress.wait()
    elapsed = time.perf_counter() - started
    sender.listeners.remove(match)
    if failed:
        raise RuntimeError(f"{len(failed)} messages failed: {sorted(set(failed))}")
    return count / elapsed


async def measure_paths(
    args: argparse.Namespace, variants: dict[str, tuple[Peer, Peer, str]]
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """One-way latency in ms (``args.samples`` each, paths alternating after a warm-up)
    and burst rates (``args.repeat`` runs of ``args.messages``) for each path."""
    latency: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(20):  # warm up
        for sender, receiver, to in variants.values():
            await one_way(sender, receiver, to)
    for _ in range(args.samples):
        for name, (sender, receiver, to) in variants.items():
            latency[name].append(await one_way(sender, receiver, to) * 1000)
    rate: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeat):
        for name, (sender, _receiver, to) in variants.items():
            rate[name].append(await burst(sender, to, args.messages))
    return latency, rate


async def bench_clients(args: argparse.Namespace, port: int, fingerprint: str, home: Path) -> None:
    alice = await make_peer(port, fingerprint, home, "alice")
    bob = await make_peer(port, fingerprint, home, "bob")
    await alice.client.create_room("direct")
    await bob.client.join_room("direct")  # room-mates: a direct channel
    await asyncio.wait_for(alice.client.wait_channels(), 10)
    carol = await make_peer(port, fingerprint, home, "carol", relay_only=True)
    dave = await make_peer(port, fingerprint, home, "dave", relay_only=True)
    await carol.client.send_private("dave", "hello")
    paths = (alice.client.channel_paths["bob"], carol.client.channel_paths["dave"])
    assert paths == ("direct", "relay"), paths
    variants: dict[str, tuple[Peer, Peer, str]] = {
        "direct": (alice, bob, "bob"),
        "relay": (carol, dave, "dave"),
    }
    latency, rate = await measure_paths(args, variants)
    print(f"\n2. Through real clients: one-way latency of a {len(TEXT)}-character private")
    print(f"   message ({args.samples} samples per path, alternating), and {args.messages:,}")
    print(f"   messages until every receipt is in ({args.repeat} runs, medians)")
    for name in ("direct", "relay"):
        values = latency[name]
        print(
            f"   {name:<7} p50 {percentile(values, 0.5):.3f} ms  p99 {percentile(values, 0.99):.3f}"
            f" ms   {statistics.median(rate[name]):>8,.0f} msg/s with receipts"
        )
    added = percentile(latency["relay"], 0.5) - percentile(latency["direct"], 0.5)
    ratio = statistics.median(rate["relay"]) / statistics.median(rate["direct"])
    print(f"   the relay adds {added:.3f} ms at p50; relayed / direct throughput {ratio:.2f}")
    for peer in (alice, bob, carol, dave):
        await peer.client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await peer.task


# --------------------------------------------------------------------- two trackers


async def one_frame(sender: Session, receiver: Session, to: str) -> float:
    """Seconds from writing one body to the receiver counting it (nothing else in flight)."""
    goal = receiver.received + 1
    started = time.perf_counter()
    sender.writer.write(encode_message(relay_request(to, 1, False, BODY)))
    await receiver.relayed(goal)
    return time.perf_counter() - started


async def bench_group_sessions(args: argparse.Namespace, a: int, b: int, tmp: Path) -> None:
    cert_a, cert_b = tmp / "a" / "tracker-cert.pem", tmp / "b" / "tracker-cert.pem"
    variants: dict[str, list[tuple[Session, Session, str]]] = {"same": [], "across": []}
    for n in range(args.pairs):
        for name, (port, cert) in (("same", (a, cert_a)), ("across", (b, cert_b))):
            sender = await Session.logged_in(a, cert_a, f"{name}s{n}")
            receiver = await Session.logged_in(port, cert, f"{name}r{n}")
            variants[name].append((sender, receiver, f"{name}r{n}"))
            sender.start()
            receiver.start()
    await asyncio.sleep(1)  # the logins on B reach A's copy of the group
    for pairs in variants.values():
        await relay_round(pairs, args.frames // 10)  # warm up
    latency: dict[str, list[float]] = {"same": [], "across": []}
    for _ in range(args.samples):
        for name, pairs in variants.items():
            latency[name].append(await one_frame(*pairs[0]) * 1000)
    rate: dict[str, list[float]] = {"same": [], "across": []}
    for _ in range(args.repeat):
        for name, pairs in variants.items():
            rate[name].append(await relay_round(pairs, args.frames))
    for pairs in variants.values():
        for sender, receiver, _ in pairs:
            sender.close()
            receiver.close()
    print(f"\n3. Across two trackers on one PostgreSQL: raw sessions, bodies of {len(BODY)} B;")
    print(f"   one-way latency of one frame ({args.samples} samples per path, alternating) and")
    print(
        f"   {args.frames:,} bodies over {args.pairs} pairs per run ({args.repeat} runs, medians)"
    )
    for name, label in (("same", "A -> A"), ("across", "A -> B")):
        values = latency[name]
        print(
            f"   {label}  p50 {percentile(values, 0.5):.3f} ms  p99"
            f" {percentile(values, 0.99):.3f} ms   {statistics.median(rate[name]):>8,.0f} msg/s"
            f"   runs {[round(x) for x in rate[name]]}"
        )
    added = percentile(latency["across"], 0.5) - percentile(latency["same"], 0.5)
    ratio = statistics.median(rate["across"]) / statistics.median(rate["same"])
    print(f"   crossing trackers adds {added:.3f} ms at p50; across / same throughput {ratio:.2f}")


async def bench_group_clients(
    args: argparse.Namespace, a: tuple[int, str], b: tuple[int, str], home: Path
) -> None:
    carol = await make_peer(*a, home, "carol", relay_only=True)
    dave = await make_peer(*a, home, "dave", relay_only=True)
    erin = await make_peer(*a, home, "erin", relay_only=True)
    frank = await make_peer(*b, home, "frank", relay_only=True)
    await asyncio.sleep(1)  # frank's login on B reaches A's copy of the group
    await carol.client.send_private("dave", "hello")
    await erin.client.send_private("frank", "hello")
    paths = (carol.client.channel_paths["dave"], erin.client.channel_paths["frank"])
    assert paths == ("relay", "relay"), paths
    variants: dict[str, tuple[Peer, Peer, str]] = {
        "same": (carol, dave, "dave"),
        "across": (erin, frank, "frank"),
    }
    latency, rate = await measure_paths(args, variants)
    print(f"\n   Real relay_only clients: a {len(TEXT)}-character private message, one way,")
    print(f"   and {args.messages:,} messages until every receipt is in")
    for name, label in (("same", "A -> A"), ("across", "A -> B")):
        values = latency[name]
        print(
            f"   {label}  p50 {percentile(values, 0.5):.3f} ms  p99"
            f" {percentile(values, 0.99):.3f} ms   {statistics.median(rate[name]):>8,.0f} msg/s"
            " with receipts"
        )
    added = percentile(latency["across"], 0.5) - percentile(latency["same"], 0.5)
    ratio = statistics.median(rate["across"]) / statistics.median(rate["same"])
    print(f"   crossing trackers adds {added:.3f} ms at p50; across / same throughput {ratio:.2f}")
    for peer in (carol, dave, erin, frank):
        await peer.client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await peer.task


async def bench_group(args: argparse.Namespace) -> None:
    from tests.pg_server import PgServer, find_postgres

    bindir = find_postgres()
    if bindir is None:
        print("\n3. skipped: no PostgreSQL server binaries (apt-get install postgresql)")
        return
    server = PgServer(bindir, durable=True).start()
    try:
        url = server.create_database()
        with tempfile.TemporaryDirectory() as tmp:
            proc_a, port_a, fp_a = await start_tracker(Path(tmp) / "a", "--database", url)
            proc_b, port_b, fp_b = await start_tracker(Path(tmp) / "b", "--database", url)
            try:
                await bench_group_sessions(args, port_a, port_b, Path(tmp))
                await bench_group_clients(args, (port_a, fp_a), (port_b, fp_b), Path(tmp))
            finally:
                for proc in (proc_a, proc_b):
                    proc.terminate()
                    await proc.wait()
    finally:
        server.stop()


# --------------------------------------------------------------------- per-source budget

BIG_BODY = bytes(40_000)
SOURCE_SECONDS = 5.0


async def source_rate(sessions: int, *extra: str) -> float:
    """Bytes/s that ``sessions`` sessions from 127.0.0.2 get relayed in all, flat out."""
    with tempfile.TemporaryDirectory() as tmp:
        proc, port, _ = await start_tracker(Path(tmp) / "tracker", *extra)
        cert = Path(tmp) / "tracker" / "tracker-cert.pem"
        pairs: list[tuple[Session, Session, str]] = []
        floods: list[asyncio.Task[None]] = []
        try:
            for n in range(sessions):
                sender = await Session.logged_in(port, cert, f"crowd{n}", "127.0.0.2")
                receiver = await Session.logged_in(port, cert, f"sink{n}")
                sender.start()
                receiver.start()
                pairs.append((sender, receiver, f"sink{n}"))

            async def flood(sender: Session, to: str) -> None:
                frame = encode_message(relay_request(to, 1, False, BIG_BODY), 1 << 20)
                while True:
                    sender.writer.write(frame)
                    await sender.writer.drain()

            floods = [asyncio.create_task(flood(s, to)) for s, _, to in pairs]
            await asyncio.sleep(1.0)  # past the bursts
            before, started = sum(r.received for _, r, _ in pairs), time.perf_counter()
            await asyncio.sleep(SOURCE_SECONDS)
            after, ended = sum(r.received for _, r, _ in pairs), time.perf_counter()
            return (after - before) * len(BIG_BODY) / (ended - started)
        finally:
            for task in floods:
                task.cancel()
            for sender, receiver, _ in pairs:
                sender.writer.transport.abort()  # megabytes still queued: no goodbye
                receiver.close()
            proc.terminate()
            await proc.wait()


async def bench_source_cap(args: argparse.Namespace) -> None:
    capped = await source_rate(args.source_sessions)
    uncapped = await source_rate(args.source_sessions, "--relay-source-rate", str(1 << 30))
    print(f"\n4. {args.source_sessions} sessions from one source (127.0.0.2), bodies of 40,000 B,")
    print(f"   flat out for {SOURCE_SECONDS:g} s after 1 s of bursts, session budgets raised:")
    print(f"   default per-source budget (1,024 KiB/s): {capped / 1024:>9,.0f} KiB/s in all")
    print(f"   per-source budget raised out of the way: {uncapped / 1024:>9,.0f} KiB/s in all")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--group", action="store_true", help="also relay across two trackers on PostgreSQL"
    )
    parser.add_argument("--only-group", action="store_true", help="only the two-tracker part (3)")
    parser.add_argument(
        "--source-cap", action="store_true", help="only the per-source budget's part (4)"
    )
    parser.add_argument("--source-sessions", type=int, default=20)
    args = parser.parse_args()
    if args.source_cap:
        await bench_source_cap(args)
        return
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        proc, port, fingerprint = await start_tracker(Path(tmp) / "tracker")
        cert = Path(tmp) / "tracker" / "tracker-cert.pem"
        try:
            if not args.only_group:
                await bench_tracker(args, proc.pid, port, cert)
                await bench_clients(args, port, fingerprint, Path(tmp))
        finally:
            proc.terminate()
            await proc.wait()
    if args.group or args.only_group:
        await bench_group(args)


if __name__ == "__main__":
    asyncio.run(main())
