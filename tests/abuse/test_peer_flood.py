"""A stranger floods a bot with 16 KB private messages: the bot's memory stays bounded.

The original client queued every event without bound: a registered user who shared no
room with a bot dialled it and flooded it, and the bot went from 34 MB to 2.5 GB in 20
seconds. Now the events a channel produced wait in a bounded budget (1 MiB per channel,
``peer.client.event_queue``); past it the bot stops reading that channel, so the flood waits in
the kernel's socket buffers and with its sender. The bot here is a real process built
on the client API that takes no event during the flood (an application busy elsewhere);
the test samples its resident memory (``VmRSS``) all along, then lets it read and checks
that every message it acknowledged reached it: nothing was dropped to keep the bound.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from commons.codec import encode_object
from crypto.channel import SecureChannel
from crypto.keystore import load_or_create_identity
from peer.channels.link import LinkClosedError, P2PLink
from peer.client.event_queue import PER_CHANNEL_BUDGET
from peer.core.frames import Accept, Ack, decode_frame
from tests.conftest import TrackerFactory
from tests.peers import PeerFactory

#: What the bot's resident memory may grow by while it is flooded (stated in
#: docs/SECURITY.md): the channel's event budget, one read, and the allocator's slack.
RSS_BOUND = 32 * 1024 * 1024
FLOOD_SECONDS = 6.0
TEXT = "\U0001f600" * 4000  # the longest message: 4,000 characters, 16 KB of UTF-8
SESSION = "00000000000000aa"
PASSWORD = "mallory-password"


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def _line(proc: asyncio.subprocess.Process) -> dict[str, object]:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert line, "the bot exited"
    return dict(json.loads(line))


async def test_a_flooding_stranger_cannot_push_a_bot_past_a_memory_bound(
    tracker_factory: TrackerFactory, peer_factory: PeerFactory, tmp_path: Path
) -> None:
    tracker = await tracker_factory()
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.abuse.slow_bot",
        str(tracker.port),
        str(tracker.cert_path),
        str(tmp_path / "bot"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert bot.stdin is not None
    try:
        ready = await _line(bot)
        host, port = ready["listen"]  # type: ignore[misc]
        pid = int(ready["pid"])  # type: ignore[call-overload]
        home = tmp_path / "mallory"
        await peer_factory(tracker, "mallory", PASSWORD, home=home)  # listed by the tracker
        identity, _ = load_or_create_identity(home, "mallory", PASSWORD)

        reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.2", 0))
        channel = SecureChannel(
            initiator=True, identity=identity, username="mallory", authorize=lambda *_: None
        )
        link = P2PLink.over_tcp(reader, writer, channel)
        await asyncio.wait_for(link.handshake(True), 10)
        assert isinstance(decode_frame(await link.receive(), "bot"), Accept)

        acked: list[str] = []

        async def read_acks() -> None:
            try:
                while True:
                    frame = decode_frame(await link.receive(), "bot")
                    if isinstance(frame, Ack):
                        acked.extend(frame.ids)
            except LinkClosedError:
                return

        acks = asyncio.create_task(read_acks())
        baseline = peak = rss(pid)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FLOOD_SECONDS
        sent = 0
        while loop.time() < deadline:
            sent += 1
            frame = {
                "type": "private",
                "room": None,
                "from": "mallory",
                "text": TEXT,
                "ts": 1.0,
                "msg_id": f"{SESSION}-{sent}",
            }
            link.send_nowait(encode_object(frame))
            while loop.time() < deadline:  # as fast as the bot lets us, never faster
                try:
                    await asyncio.wait_for(link.drain(), 0.1)
                    break
                except TimeoutError:
                    peak = max(peak, rss(pid))
            if sent % 20 == 0:
                peak = max(peak, rss(pid))
        peak = max(peak, rss(pid))
        sent_bytes = sent * len(TEXT.encode())

        taken = len(acked)
        assert peak - baseline < RSS_BOUND, (baseline, peak, sent_bytes)
        # The bot took far less than was thrown at it: the rest waits outside it.
        assert taken * len(TEXT.encode()) < 2 * PER_CHANNEL_BUDGET + 512 * 1024

        bot.stdin.write(b"read now\n")
        received = (await _line(bot))["received"]
        assert isinstance(received, list) and len(received) >= len(acked) > taken
        assert set(acked) <= set(received)  # every acknowledged message reached the bot
        assert received == [f"{SESSION}-{n}" for n in range(1, len(received) + 1)]
        acks.cancel()
        link.close()
    finally:
        if bot.returncode is None:
            bot.stdin.write(b"quit\n")
            try:
                await asyncio.wait_for(bot.wait(), 10)
            except TimeoutError:
                bot.kill()
                await bot.wait()
