"""The accept loop out of descriptors: it sheds, pauses and logs one line, no tracebacks.

asyncio's own accept loop (Python 3.11) logs a traceback per failed ``accept()``, up to
the backlog (1024) per wake-up. The tracker's :class:`~tracker.network.listener.Listener` is run
here in a child process whose open-file limit is set just above what it already uses,
and flooded with connections it cannot hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import textwrap
import time

from tests.tracker_process import REPO

CHILD = textwrap.dedent(
    """
    import asyncio, json, logging, os, resource, sys
    from commons.rate_limited_log import RateLimitedLog
    from tracker.network.listener import Listener, bind_sockets

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    async def main():
        held = []
        listener = Listener(
            bind_sockets("127.0.0.1", 0, 1024),
            lambda sock, host: held.append(sock),
            RateLimitedLog(logging.getLogger("listener")),
        )
        listener.start()
        used = len(os.listdir("/proc/self/fd"))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (used + 8, hard))
        print(listener.port, flush=True)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            print(json.dumps({"held": len(held), **listener.errors}), flush=True)

    asyncio.run(main())
    """
)
CLIENTS = 300


async def test_out_of_descriptors_sheds_connections_and_logs_once():
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    writers: list[asyncio.StreamWriter] = []
    try:
        port = int(await asyncio.wait_for(proc.stdout.readline(), 20))
        closed_by_server = 0

        async def client() -> None:
            nonlocal closed_by_server
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writers.append(writer)
            if await reader.read(1) == b"":
                closed_by_server += 1

        tasks = [asyncio.create_task(client()) for _ in range(CLIENTS)]

        async def report() -> dict[str, int]:
            proc.stdin.write(b"report\n")
            return json.loads(await proc.stdout.readline())

        deadline = time.monotonic() + 30
        counts = await report()
        while counts["held"] + closed_by_server < CLIENTS:
            assert time.monotonic() < deadline, (counts, closed_by_server)
            await asyncio.sleep(0.1)
            counts = await report()
        assert counts["held"] < 20  # the limit held
        assert counts["out_of_descriptors"] >= 1
        assert counts["shed"] >= CLIENTS - 20
        for task in tasks:
            task.cancel()
    finally:
        for writer in writers:
            writer.close()
        proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
    log = (await proc.stderr.read()).decode()
    assert "Traceback" not in log
    assert "out of file descriptors" in log
    assert len(log.splitlines()) <= 3, log
