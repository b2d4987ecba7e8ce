"""``python -m peer --batch`` as a real subprocess: send lines, read its JSON lines."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tracker.server import TrackerServer

TIMEOUT = 15.0


class BatchProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[dict[str, Any]] = []
        #: Every stdout line exactly as written (bytes, newline included).
        self.raw: list[bytes] = []

    @classmethod
    async def start(cls, tracker: TrackerServer, home: Path) -> BatchProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "peer",
            "--batch",
            "--tracker",
            f"127.0.0.1:{tracker.port}",
            "--home",
            str(home),
            "--cafile",
            str(tracker.cert_path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        return cls(proc)

    def send(self, line: str) -> None:
        self.send_bytes(line.encode() + b"\n")

    def send_bytes(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    async def expect(self, event: str, **fields: Any) -> dict[str, Any]:
        """Read lines until an object with this event and these fields arrives."""

        def match(obj: dict[str, Any]) -> bool:
            return obj["event"] == event and all(obj.get(k) == v for k, v in fields.items())

        for obj in self.seen:
            if match(obj):
                self.seen.remove(obj)
                return obj
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT)
            assert line, f"batch process ended before {event} {fields}; saw {self.seen}"
            self.raw.append(line)
            obj = json.loads(line)
            assert isinstance(obj, dict) and "event" in obj
            if match(obj):
                return obj
            self.seen.append(obj)
