"""The listening sockets and the accept loop, with bounded failure handling.

The tracker accepts connections itself instead of through ``loop.create_server``,
because asyncio's accept loop (Python 3.11) handles running out of descriptors badly:
after ``EMFILE`` it goes on calling ``accept()`` up to ``backlog`` times in the same
tick, logging a full traceback each time (1024 tracebacks per wake-up, 400 MB of log
in 50 s under a plain socket flood), and it offers no hook to look at the peer before
a transport and protocol are built.

Here each readable event accepts at most :data:`ACCEPT_BATCH` sockets and hands each
to ``on_accept(sock, host)``, which decides (:mod:`tracker.network.admission`). When accept
fails for lack of descriptors the listener closes a spare descriptor it keeps for
this, accepts and closes up to :data:`ACCEPT_BATCH` waiting connections (so those
clients get a clean close rather than a hang), reopens the spare and pauses accepting
for :data:`EXHAUSTED_PAUSE` seconds. Every failure is counted in :attr:`Listener.errors`
and reported through a :class:`~commons.rate_limited_log.RateLimitedLog` (one line
per kind per interval, never a traceback).

When the tracker holds as many connections still logging in as it takes
(``is_full``), the listener stops accepting and looks again every
:data:`FULL_POLL` seconds, for at most :data:`MAX_FULL_PAUSE` seconds in a row: new
connections wait in the kernel's accept queue instead of being accepted only to be
refused. After a restart every client reconnects within a second and logins take
milliseconds, so slots free up long before that; refusing thousands of clients would
only make them come back later (their backoff doubles) and cost both sides a TCP and
TLS start each time. Slots held longer (idle connections, up to the 10 s login
timeout) end the pause: connections are then accepted and refused as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections import Counter
from collections.abc import Callable

from commons.rate_limited_log import RateLimitedLog

ACCEPT_BATCH = 64
FULL_POLL = 0.01
MAX_FULL_PAUSE = 2.0
EXHAUSTED_PAUSE = 0.1
_EXHAUSTED = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def bind_sockets(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Listening sockets for every address of ``host`` (one shared port if ``port`` is 0)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[int, str]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, str(address[0])) in seen:
                continue
            seen.add((family, str(address[0])))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Listener:
    """Accepts on ``sockets`` until :meth:`close`; see the module docstring."""

    def __init__(
        self,
        sockets: list[socket.socket],
        on_accept: Callable[[socket.socket, str], None],
        problems: RateLimitedLog,
        is_full: Callable[[], bool] = lambda: False,
    ) -> None:
        self.sockets = sockets
        self._on_accept = on_accept
        self._problems = problems
        self._is_full = is_full
        self._full_since: float | None = None
        self._loop = asyncio.get_running_loop()
        self._spare: int | None = self._open_spare()
        self._closed = False
        #: Accept failures by kind (``out_of_descriptors``, ``accept_error``).
        self.errors: Counter[str] = Counter()

    @staticmethod
    def _open_spare() -> int | None:
        try:
            return os.open(os.devnull, os.O_RDONLY)
        except OSError:
            return None

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1])

    def start(self) -> None:
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            if self._wait_for_room(sock):
                return
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in _EXHAUSTED:
                    self._exhausted(sock, exc)
                else:
                    self.errors["accept_error"] += 1
                    self._problems.warning(
                        "accept_error", "accept() failed: %s", errno.errorcode.get(exc.errno or 0)
                    )
                return
            host = str(address[0]) if isinstance(address, tuple) and address else ""
            try:
                self._on_accept(conn, host)
            except Exception as exc:  # one connection's trouble must not stop the loop
                conn.close()
                self.errors["handler_error"] += 1
                self._problems.warning(
                    "accept_handler", "setting up a connection failed: %s", type(exc).__name__
                )

    def _wait_for_room(self, sock: socket.socket) -> bool:
        """Pause accepting while full, up to :data:`MAX_FULL_PAUSE` in a row."""
        if not self._is_full():
            self._full_since = None
            return False
        now = self._loop.time()
        if self._full_since is None:
            self._full_since = now
        if now - self._full_since >= MAX_FULL_PAUSE:
            return False
        self.errors["paused_full"] += 1
        self._loop.remove_reader(sock.fileno())
        self._loop.call_later(FULL_POLL, self._resume, sock)
        return True

    def _exhausted(self, sock: socket.socket, exc: OSError) -> None:
        """Out of descriptors: shed waiting connections, pause, count, log (bounded)."""
        self.errors["out_of_descriptors"] += 1
        self._problems.warning(
            "out_of_descriptors",
            "out of file descriptors (%s); refusing new connections for %.1f s",
            errno.errorcode.get(exc.errno or 0, "?"),
            EXHAUSTED_PAUSE,
        )
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
            with contextlib.suppress(OSError):
                for _ in range(ACCEPT_BATCH):
                    conn, _ = sock.accept()
                    conn.close()
                    self.errors["shed"] += 1
            self._spare = self._open_spare()
        self._loop.remove_reader(sock.fileno())
        self._loop.call_later(EXHAUSTED_PAUSE, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        if not self._closed:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sock in self.sockets:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(sock.fileno())
            sock.close()
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
