"""Peer-to-peer benchmark: encrypted channel vs the same framing in plaintext, and room joins.

1. Two P2P links over loopback TCP, carrying chat frames with 200-character texts
   (:mod:`peer.core.frames` encode/decode on both ends, :mod:`commons.framing`), once
   over the real Noise channel (:class:`crypto.channel.SecureChannel`) and once over
   :class:`PlainChannel`, a stand-in used only here that passes bodies through. Each is
   run twice: frames only, and through :class:`peer.core.peer_core.PeerCore` on both ends with
   delivery receipts on (a run ends when every message is acknowledged). The variants
   alternate within one run; reported: messages/s (median of the repetitions), one-way
   latency p50/p99 (send-to-decoded, one message in flight, same clock) and the
   encrypted/plaintext throughput ratios.
2. Time for the last member to join a full-but-one room, for each size of
   ``--join-sizes`` (default 16, the tracker's default capacity, and 64, its maximum):
   from ``join_room()`` until channels to all the others are open, all peers on one loop.

Usage: ``python bench/p2p.py [--messages N] [--latency-samples N] [--repeat N]
[--join-sizes 16,64] [--join-only]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crypto.channel import SecureChannel
from crypto.identity import IdentityKey
from crypto.keystore import TEST_KDF_PARAMS
from peer.channels.link import ChannelLike, P2PLink
from peer.client.chat_client import ChatClient
from peer.config import PeerConfig
from peer.core.actions import SendFrame, Step
from peer.core.frames import ChatMessage, MessageIds, decode_frame, encode_chat_frame
from peer.core.peer_core import PeerCore
from peer.core.settings import CoreSettings
from peer.events import MessageDelivered, MessageReceived
from tracker.config import TrackerConfig
from tracker.server.server import TrackerServer

TEXT = "x" * 200


@dataclass
class PlainOutput:
    send: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    established: bool = False
    identified: tuple[str, bytes] | None = None


class PlainChannel:
    """Same shape as SecureChannel, no cryptography: the bench's control variant only."""

    def __init__(self, initiator: bool) -> None:
        self.initiator = initiator
        self.established = False
        self.remote_username: str | None = None
        self.remote_static: bytes | None = None

    def start(self) -> bytes:
        self.established = True
        return b"plain"

    def receive(self, body: bytes) -> PlainOutput:
        if not self.established:
            self.established = True
            return PlainOutput(established=True)
        return PlainOutput(messages=[body])

    def authorize_remote(self) -> PlainOutput:
        return PlainOutput()

    def encrypt(self, plaintext: bytes) -> bytes:
        return plaintext

    def close(self) -> None:
        self.established = False


ChannelPair = Callable[[], tuple[ChannelLike, ChannelLike]]


def secure_pair() -> tuple[ChannelLike, ChannelLike]:
    def allow(name: str, key: bytes) -> None:
        return None

    a = SecureChannel(
        initiator=True, identity=IdentityKey.generate(), username="alice", authorize=allow
    )
    b = SecureChannel(
        initiator=False, identity=IdentityKey.generate(), username="bob", authorize=allow
    )
    return a, b


def plain_pair() -> tuple[ChannelLike, ChannelLike]:
    return PlainChannel(True), PlainChannel(False)


async def open_links(make: ChannelPair) -> tuple[P2PLink, P2PLink, asyncio.Server]:
    initiator, responder = make()
    accepted: asyncio.Future[P2PLink] = asyncio.get_running_loop().create_future()

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = P2PLink.over_tcp(reader, writer, responder)
        await link.handshake(False)
        accepted.set_result(link)

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sender = P2PLink.over_tcp(reader, writer, initiator)
    await sender.handshake(True)
    return sender, await accepted, server


@dataclass(frozen=True)
class Rate:
    """Messages per second of wall time, and per second of this process's CPU time (user
    and system: both links live in this process). On a shared machine the CPU figure is
    the steadier one: time spent waiting for a core does not count."""

    wall: float
    cpu: float


class Stopwatch:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def rate(self, count: int) -> Rate:
        wall = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        return Rate(count / wall, count / cpu)


async def throughput(make: ChannelPair, count: int) -> Rate:
    sender, receiver, server = await open_links(make)
    ids = MessageIds()

    async def consume() -> None:
        for _ in range(count):
            decode_frame(await receiver.receive(), "alice")

    watch = Stopwatch()
    consumer = asyncio.create_task(consume())
    for i in range(count):
        msg = ChatMessage("bench", "alice", TEXT, time.time(), ids.next_id())
        sender.send_nowait(encode_chat_frame(msg))
        if i % 64 == 63:
            await sender.drain()
    await consumer
    rate = watch.rate(count)
    sender.close()
    receiver.close()
    server.close()
    return rate


def _write(link: P2PLink, step: Step) -> int:
    """Carry out a core step on a bench link; returns how many frames it wrote."""
    written = 0
    for action in step.actions:
        if isinstance(action, SendFrame):
            link.send_nowait(encode_chat_frame(action.frame))
            written += 1
    return written


async def throughput_with_receipts(make: ChannelPair, count: int) -> tuple[Rate, float]:
    """Messages/s through :class:`peer.core.peer_core.PeerCore` on both ends, receipts on: the
    sender's core writes each message, the receiver's core delivers it and acknowledges
    each read's worth in ``ack`` frames, the sender's core settles them. Done when every
    message has its receipt. Also returns the ack frames per message."""
    sender, receiver, server = await open_links(make)
    # A window as large as the run: this measures the path, not the backlog limit.
    settings = CoreSettings(max_pending=count + 1)
    alice, bob = PeerCore("alice", settings), PeerCore("bob", settings)
    alice.channel_opened("bob", 1, initiator=True, now=0.0)
    bob.channel_opened("alice", 1, initiator=False, now=0.0)
    acks = 0

    async def receive() -> None:
        nonlocal acks
        received = 0
        while received < count:
            frames = [decode_frame(p, "alice") for p in await receiver.receive_batch()]
            step = bob.frames_received(1, frames, 0.0)
            received += sum(isinstance(e, MessageReceived) for e in step.events)
            acks += _write(receiver, step)

    async def settle() -> None:
        delivered = 0
        while delivered < count:
            frames = [decode_frame(p, "bob") for p in await sender.receive_batch()]
            step = alice.frames_received(1, frames, 0.0)
            delivered += sum(isinstance(e, MessageDelivered) for e in step.events)

    watch = Stopwatch()
    tasks = [asyncio.create_task(receive()), asyncio.create_task(settle())]
    for i in range(count):
        _, step = alice.send_private("bob", TEXT, time.time(), 0.0)
        _write(sender, step)
        if i % 64 == 63:
            await sender.drain()
    await asyncio.gather(*tasks)
    rate = watch.rate(count)
    sender.close()
    receiver.close()
    server.close()
    return rate, acks / count


async def latency(make: ChannelPair, samples: int) -> list[float]:
    sender, receiver, server = await open_links(make)
    ids = MessageIds()
    delays: list[float] = []
    for _ in range(samples):
        msg = ChatMessage("bench", "alice", TEXT, time.perf_counter(), ids.next_id())
        await sender.send(encode_chat_frame(msg))
        got = decode_frame(await receiver.receive(), "alice")
        assert isinstance(got, ChatMessage)
        delays.append(time.perf_counter() - got.ts)
    sender.close()
    receiver.close()
    server.close()
    return delays


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench_channels(messages: int, samples: int, repeat: int) -> None:
    variants: dict[str, ChannelPair] = {"encrypted": secure_pair, "plaintext": plain_pair}
    frames: dict[str, list[Rate]] = {name: [] for name in variants}
    receipted: dict[str, list[Rate]] = {name: [] for name in variants}
    delays: dict[str, list[float]] = {name: [] for name in variants}
    ack_frames: list[float] = []
    await throughput(secure_pair, 2000)  # warm-up
    await throughput_with_receipts(secure_pair, 2000)
    for _ in range(repeat):
        for name, make in variants.items():
            frames[name].append(await throughput(make, messages))
            rate, per_message = await throughput_with_receipts(make, messages)
            receipted[name].append(rate)
            ack_frames.append(per_message)
            delays[name].extend(await latency(make, samples))

    def median(rates: list[Rate], cpu: bool) -> float:
        return statistics.median(r.cpu if cpu else r.wall for r in rates)

    print(f"200-char chat messages, {messages} per run, {repeat} runs per variant")
    print("messages/s, median (of wall time | of CPU time):")
    print(
        f"{'variant':<10} {'frames only':>22} {'core + receipts':>22} {'p50 ms':>8} {'p99 ms':>8}"
    )
    for name in variants:
        plain = f"{median(frames[name], False):,.0f} | {median(frames[name], True):,.0f}"
        acked = f"{median(receipted[name], False):,.0f} | {median(receipted[name], True):,.0f}"
        p50 = percentile(delays[name], 0.50) * 1000
        p99 = percentile(delays[name], 0.99) * 1000
        print(f"{name:<10} {plain:>22} {acked:>22} {p50:>8.3f} {p99:>8.3f}")
    for cpu in (False, True):
        clock = "CPU" if cpu else "wall"
        enc, pla = receipted["encrypted"], receipted["plaintext"]
        print(
            f"encrypted / plaintext ({clock} time): frames only "
            f"{median(frames['encrypted'], cpu) / median(frames['plaintext'], cpu):.2f}x, "
            f"core with receipts {median(enc, cpu) / median(pla, cpu):.2f}x; "
            f"encrypted with receipts / frames only "
            f"{median(enc, cpu) / median(frames['encrypted'], cpu):.2f}x"
        )
    print(f"ack frames per message (median of runs): {statistics.median(ack_frames):.3f}")


async def bench_join(repeat: int, size: int) -> None:
    """The ``size``-th member joins a room of ``size - 1`` meshed members (capacity ``size``)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        tracker = TrackerServer(
            TrackerConfig(
                host="127.0.0.1",
                port=0,
                data_dir=base / "tracker",
                room_capacity=size,
                trusted_networks=("127.0.0.0/8",),  # many accounts from one address
            )
        )
        await tracker.start()
        clients: list[ChatClient] = []
        try:

            async def make(name: str) -> ChatClient:
                config = PeerConfig(
                    tracker=("127.0.0.1", tracker.port),
                    home=base / name,
                    cafile=tracker.cert_path,
                )
                client = ChatClient(config, kdf_params=TEST_KDF_PARAMS)
                clients.append(client)
                await client.connect()
                await client.register(name, "bench-password")
                await client.login(name, "bench-password")
                return client

            owner = await make("m00")
            await owner.create_room("big")
            for i in range(1, size - 1):
                member = await make(f"m{i:02d}")
                await member.join_room("big")
            for client in clients:
                await asyncio.wait_for(client.wait_channels(), 300)
            joiner = await make("joiner")
            times: list[float] = []
            for _ in range(repeat):
                started = time.perf_counter()
                await joiner.join_room("big")
                await asyncio.wait_for(joiner.wait_channels(), 60)
                times.append(time.perf_counter() - started)
                await joiner.leave_room()
                await asyncio.sleep(0.3)  # bench only: let the others close their channels
            print(
                f"join a room of {size - 1} (capacity {size}), until {size - 1} channels are open: "
                f"median {statistics.median(times) * 1000:.0f} ms "
                f"(runs: {', '.join(f'{t * 1000:.0f}' for t in times)} ms)"
            )
        finally:
            for client in clients:
                with contextlib.suppress(Exception):
                    await client.close()
            await tracker.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--latency-samples", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--join-sizes", default="16,64", help="room sizes to time a join in")
    parser.add_argument("--join-only", action="store_true", help="skip the channel benchmark")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {time.strftime('%F')}")
    if not args.join_only:
        await bench_channels(args.messages, args.latency_samples, args.repeat)
    for size in (int(s) for s in args.join_sizes.split(",")):
        await bench_join(args.repeat, size)


if __name__ == "__main__":
    asyncio.run(main())
