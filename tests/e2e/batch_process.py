"""`python -m peer --batch` as a real subprocess that a test drives line by line.

:meth:`BatchProcess.expect` reads JSON lines until one matches (keeping the others, so
a later ``expect`` still finds them). Each object read gets a ``"_read_at"`` key: the
test loop's clock when its line was read, so a test can say how long something took.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tracker.server.server import TrackerServer

TIMEOUT = 15.0
PASSWORD = "hunter2hunter2"


class BatchProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[dict[str, Any]] = []
        #: The ``ready`` object (tracker, fingerprint, listen), once :meth:`log_in` read it.
        self.ready: dict[str, Any] = {}
        #: Every stdout line exactly as written (bytes, newline included).
        self.raw: list[bytes] = []

    @classmethod
    async def start(
        cls, tracker: TrackerServer, home: Path, extra: Sequence[str] = ()
    ) -> BatchProcess:
        """``extra``: more command-line options (``--no-listen``, ...)."""
        options = ["--tracker", f"127.0.0.1:{tracker.port}", "--cafile", str(tracker.cert_path)]
        return await cls.spawn(home, [*options, *extra])

    @classmethod
    async def spawn(
        cls, home: Path, options: Sequence[str], prefix: Sequence[str] = ()
    ) -> BatchProcess:
        """``prefix``: a command to run it under (``ip netns exec NS``)."""
        proc = await asyncio.create_subprocess_exec(
            *prefix,
            sys.executable,
            "-m",
            "peer",
            "--batch",
            "--home",
            str(home),
            # The test trackers hand out a cheap login KDF (tests/conftest.py).
            "--min-login-kdf",
            "8,1",
            *options,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        return cls(proc)

    @classmethod
    async def logged_in(
        cls, tracker: TrackerServer, home: Path, name: str, extra: Sequence[str] = ()
    ) -> BatchProcess:
        """A process that registered and logged in ``name``."""
        return await (await cls.start(tracker, home, extra)).log_in(name)

    async def log_in(self, name: str) -> BatchProcess:
        """Register and log in ``name`` (after ``ready``)."""
        proc = self
        self.ready = await proc.expect("ready")
        proc.send(f"/register {name} {PASSWORD}")
        await proc.expect("registered", user=name)
        proc.send(f"/login {name} {PASSWORD}")
        await proc.expect("logged_in", user=name)
        return proc

    def send(self, line: str) -> None:
        self.send_bytes(line.encode() + b"\n")

    def send_bytes(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    async def expect(
        self, event: str, *, timeout: float = TIMEOUT, **fields: Any
    ) -> dict[str, Any]:
        """Read lines until an object with this event and these fields arrives."""

        def match(obj: dict[str, Any]) -> bool:
            return obj["event"] == event and all(obj.get(k) == v for k, v in fields.items())

        for obj in self.seen:
            if match(obj):
                self.seen.remove(obj)
                return obj
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), deadline - loop.time())
            except TimeoutError:
                raise AssertionError(
                    f"no {event} {fields} in {timeout} s; saw {self.seen}"
                ) from None
            assert line, f"batch process ended before {event} {fields}; saw {self.seen}"
            self.raw.append(line)
            obj = json.loads(line)
            assert isinstance(obj, dict) and "event" in obj
            obj["_read_at"] = loop.time()
            if match(obj):
                return obj
            self.seen.append(obj)

    def freeze(self) -> None:
        """SIGSTOP: the process stops dead, its sockets stay open (a closed laptop lid)."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        await self.proc.wait()
