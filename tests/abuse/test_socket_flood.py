"""A socket flood against a tracker limited to 1,024 open files.

The original ran out of descriptors under ~130 plain TCP sockets a second from one
address: nobody could log in, and asyncio logged a traceback per failed accept (403 MB
in 50 s). Here the tracker runs as its own process with ``RLIMIT_NOFILE`` 1024 (soft
and hard, so it cannot raise it), one source opens sockets as fast as it can and holds
them (some send garbage, failing the TLS handshake), and honest users from another
address register and log in meanwhile. The tracker's log must stay small.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import time
from collections.abc import Iterator

import pytest

from tests.tracker_client import TrackerTestClient
from tests.tracker_process import read_banner, start_tracker_process, stop_tracker_process

OPEN_FILES = 1024
#: Sockets the flood holds open at once (more than the tracker's descriptors; the
#: honest users start once it holds that many) and at most opens in all.
HELD_AT_ONCE = int(1.5 * OPEN_FILES)
FLOOD_LIMIT = 40 * OPEN_FILES
HONEST_USERS = 5
#: The whole log of the run, warnings included, must stay under this.
MAX_LOG_BYTES = 16 * 1024


@pytest.fixture
def attacker_descriptors() -> Iterator[None]:
    """This process plays the attacker: let it hold more sockets than the tracker."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = HELD_AT_ONCE + 512
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def flood(port: int, source: str, stop: asyncio.Event, holding: asyncio.Event) -> int:
    """Open sockets from ``source`` until ``stop``; return how many it opened.

    ``holding`` is set once more sockets are open than the tracker has descriptors.
    """
    held: list[socket.socket] = []
    opened = 0
    try:
        while not stop.is_set() and opened < FLOOD_LIMIT:
            for _ in range(32):
                sock = socket.socket()
                sock.setblocking(False)
                sock.bind((source, 0))
                with contextlib.suppress(BlockingIOError, ConnectionError):
                    sock.connect(("127.0.0.1", port))
                if opened % 4 == 0:
                    with contextlib.suppress(OSError):
                        sock.send(b"GET / HTTP/1.0\r\n\r\n")  # not TLS: a failed handshake
                held.append(sock)
                opened += 1
                if len(held) > HELD_AT_ONCE:
                    held.pop(0).close()
                if len(held) > OPEN_FILES + 100:
                    holding.set()
            await asyncio.sleep(0.005)
    finally:
        for sock in held:
            sock.close()
    return opened


async def test_socket_flood_with_1024_open_files(tmp_path, attacker_descriptors):
    data_dir = tmp_path / "tracker"
    log_path = tmp_path / "tracker.log"
    with log_path.open("wb") as log:
        proc = await start_tracker_process(
            data_dir, stderr=log, open_files=OPEN_FILES, log_level="INFO"
        )
        try:
            port, _ = await read_banner(proc)
            cert = data_dir / "tracker-cert.pem"
            stop = asyncio.Event()
            holding = asyncio.Event()
            attack = asyncio.create_task(flood(port, "127.0.0.2", stop, holding))
            await asyncio.wait_for(holding.wait(), 30)
            started = time.monotonic()
            honest: list[TrackerTestClient] = []
            try:
                for i in range(HONEST_USERS):
                    client = await TrackerTestClient.connect("127.0.0.1", port, cert, "127.0.0.3")
                    honest.append(client)
                    assert (await client.register(f"honest{i}"))["status"] == "OK"
                    assert (await client.login(f"honest{i}"))["status"] == "OK"
                for client in honest:
                    assert (await client.request("PING"))["status"] == "OK"
                assert not attack.done(), "the flood stopped before the honest users were done"
                honest_time = time.monotonic() - started
            finally:
                stop.set()
                opened = await attack
                for client in honest:
                    await client.close()
            assert opened > 2 * OPEN_FILES
            assert honest_time < 30
        finally:
            assert await stop_tracker_process(proc) == 0
    text = log_path.read_text()
    assert len(text.encode()) < MAX_LOG_BYTES, text[-2000:]
    assert "Traceback" not in text
    assert text.count("open-file limit (1024) cannot carry --max-connections") == 1
    assert "refusing connections" in text
