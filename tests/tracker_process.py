"""A real ``python -m tracker`` process for tests that need one (kill -9, fd limits, logs).

:func:`start_tracker_process` starts it on a free port; :func:`read_banner` waits for
the port and fingerprint it prints; :func:`run_admin` runs ``p2pchat-tracker invite`` or
``room``.
``open_files`` sets the child's ``RLIMIT_NOFILE`` (soft and hard) before it starts, the
way a service manager would.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]


def _limit_open_files(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


async def start_tracker_process(
    data_dir: Path,
    *args: str,
    stderr: int | IO[bytes] | None = None,
    open_files: int | None = None,
    log_level: str = "WARNING",
    prefix: Sequence[str] = (),
) -> asyncio.subprocess.Process:
    """``prefix``: a command to run it under (``ip netns exec NS``)."""
    return await asyncio.create_subprocess_exec(
        *prefix,
        sys.executable,
        "-m",
        "tracker",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--log-level",
        log_level,
        *args,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=None if open_files is None else _limit_open_files(open_files),
    )


async def read_banner(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    """The port and certificate fingerprint the tracker prints at start."""
    assert proc.stdout is not None
    port = 0
    fingerprint = ""
    while not (port and fingerprint):
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line, "tracker exited before printing its banner"
        if "listening on" in line:
            port = int(line.rsplit(":", 1)[1])
        if "fingerprint:" in line:
            fingerprint = line.split("fingerprint:", 1)[1].strip()
    return port, fingerprint


async def stop_tracker_process(proc: asyncio.subprocess.Process) -> int:
    """SIGTERM, then wait (kill after 20 s); the exit status."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode


async def run_admin(data_dir: Path, *args: str, command: str = "invite") -> tuple[int, str, str]:
    """``p2pchat-tracker COMMAND --data-dir DATA_DIR ARGS...`` (``invite`` or ``room``):
    status, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tracker",
        command,
        "--data-dir",
        str(data_dir),
        *args,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
