"""A throwaway PostgreSQL server for the tests and the bench: initdb, pg_ctl, one port.

:func:`find_postgres` looks for the server binaries (``pg_config --bindir``, Debian's
``/usr/lib/postgresql/*/bin``, ``PATH``); :class:`PgServer` makes a cluster in a
temporary directory, starts it on a free loopback port (no Unix socket outside that
directory) with trust authentication for its own user, and removes it when stopped.

PostgreSQL refuses to run as root. When the tests run as root (CI does), the cluster
belongs to an unprivileged account and every server command runs through ``runuser``:
the ``postgres`` account of the Debian package if there is one, else a system account
``p2pchat-pg`` made for this (``useradd``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DB_USER = "p2pchat"
FALLBACK_ACCOUNT = "p2pchat-pg"


def find_postgres() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or ``None``."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(out.stdout.strip())
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(debian, key=lambda path: _version(path.split("/")[-2]), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for candidate in candidates:
        path = Path(candidate)
        if all((path / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return path
    return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_account() -> str | None:
    """Who runs the server: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", FALLBACK_ACCOUNT):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_ACCOUNT,
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return FALLBACK_ACCOUNT


class PgServer:
    """One cluster; ``url(dbname)`` to connect, ``create_database()`` for a fresh one."""

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.port = 0
        self.account = _server_account()
        self.root = Path(tempfile.mkdtemp(prefix="p2pchat-pg-"))
        self.data = self.root / "data"
        self._databases = 0

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = list(argv)
        if self.account is not None:
            command = ["runuser", "-u", self.account, "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=True, cwd="/"
        )

    def start(self) -> PgServer:
        if self.account is not None:
            shutil.chown(self.root, self.account)
        try:
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                DB_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
            options = [
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.root}",
                "-c max_connections=200",
                "-c shared_buffers=64MB",
            ]
            if not self.durable:
                options += ["-c fsync=off", "-c full_page_writes=off"]
            for _ in range(5):
                self.port = _free_port()
                try:
                    self._run(
                        str(self.bindir / "pg_ctl"),
                        "-D",
                        str(self.data),
                        "-l",
                        str(self.root / "server.log"),
                        "-w",
                        "-t",
                        "60",
                        "-o",
                        " ".join([*options, f"-p {self.port}"]),
                        "start",
                        timeout=90,
                    )
                    break
                except subprocess.CalledProcessError:
                    if "could not bind" not in self.log():
                        raise
            else:
                raise RuntimeError("PostgreSQL found no free port")
        except subprocess.CalledProcessError as exc:
            log = self.log()
            self.stop()
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{log}") from None
        return self

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "server.log").read_text(errors="replace")[-4000:]
        return ""

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        self._databases += 1
        name = f"p2pchat_{os.getpid()}_{self._databases}_{int(time.time() * 1000) % 100000}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
                )
        shutil.rmtree(self.root, ignore_errors=True)
