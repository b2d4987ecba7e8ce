"""Peer-to-peer benchmark: encrypted channel vs the same framing in plaintext, and room joins.

1. Two P2P links over loopback TCP, carrying chat frames with 200-character texts
   (:mod:`peer.chat_protocol` encode/decode on both ends, :mod:`commons.framing`), once
   over the real Noise channel (:class:`crypto.channel.SecureChannel`) and once over
   :class:`PlainChannel`, a stand-in used only here that passes bodies through. The
   variants alternate within one run; reported: messages/s (median of the repetitions),
   one-way latency p50/p99 (send-to-decoded, one message in flight, same clock) and the
   encrypted/plaintext throughput ratio.
2. Time for a 16th member to join a room of 15 (tracker ``room_capacity=16``): from
   ``join_room()`` until channels to all 15 members are open, all peers on one loop.

Usage: ``python bench/p2p.py [--messages N] [--latency-samples N] [--repeat N]``
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
from peer.chat_protocol import ChatMessage, MessageIds, decode_frame, encode_frame
from peer.client import ChatClient
from peer.config import PeerConfig
from peer.p2p_link import ChannelLike, P2PLink
from tracker.config import TrackerConfig
from tracker.server import TrackerServer

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
        link = P2PLink(reader, writer, responder)
        await link.handshake(False)
        accepted.set_result(link)

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sender = P2PLink(reader, writer, initiator)
    await sender.handshake(True)
    return sender, await accepted, server


async def throughput(make: ChannelPair, count: int) -> float:
    sender, receiver, server = await open_links(make)
    ids = MessageIds()

    async def consume() -> None:
        for _ in range(count):
            decode_frame(await receiver.receive(), "alice")

    started = time.perf_counter()
    consumer = asyncio.create_task(consume())
    for i in range(count):
        msg = ChatMessage("bench", "alice", TEXT, time.time(), ids.next_id())
        sender.send_nowait(encode_frame(msg))
        if i % 64 == 63:
            await sender.drain()
    await consumer
    elapsed = time.perf_counter() - started
    sender.close()
    receiver.close()
    server.close()
    return count / elapsed


async def latency(make: ChannelPair, samples: int) -> list[float]:
    sender, receiver, server = await open_links(make)
    ids = MessageIds()
    delays: list[float] = []
    for _ in range(samples):
        msg = ChatMessage("bench", "alice", TEXT, time.perf_counter(), ids.next_id())
        await sender.send(encode_frame(msg))
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
    rates: dict[str, list[float]] = {"encrypted": [], "plaintext": []}
    delays: dict[str, list[float]] = {"encrypted": [], "plaintext": []}
    variants: dict[str, ChannelPair] = {"encrypted": secure_pair, "plaintext": plain_pair}
    await throughput(secure_pair, 2000)  # warm-up
    for _ in range(repeat):
        for name, make in variants.items():
            rates[name].append(await throughput(make, messages))
            delays[name].extend(await latency(make, samples))
    print(f"200-char chat messages, {messages} per run, {repeat} runs per variant")
    print(f"{'variant':<10} {'msgs/s (median)':>16} {'p50 ms':>8} {'p99 ms':>8}")
    for name in variants:
        rate = statistics.median(rates[name])
        p50 = percentile(delays[name], 0.50) * 1000
        p99 = percentile(delays[name], 0.99) * 1000
        print(f"{name:<10} {rate:>16,.0f} {p50:>8.3f} {p99:>8.3f}")
    ratio = statistics.median(rates["encrypted"]) / statistics.median(rates["plaintext"])
    print(f"encrypted / plaintext throughput: {ratio:.2f}x")


async def bench_join(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        tracker = TrackerServer(
            TrackerConfig(host="127.0.0.1", port=0, data_dir=base / "tracker", room_capacity=16)
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
            for i in range(1, 15):
                member = await make(f"m{i:02d}")
                await member.join_room("big")
            for client in clients:
                await asyncio.wait_for(client.wait_channels(), 60)
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
                f"join a room of 15 (capacity 16), until 15 channels are open: "
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
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {time.strftime('%F')}")
    await bench_channels(args.messages, args.latency_samples, args.repeat)
    await bench_join(args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
