"""Shared fixtures: real TLS trackers on 127.0.0.1 and clients that talk to them.

* ``tracker_factory(**config_changes)`` starts a :class:`TrackerServer` on port 0 in a
  fresh temporary data directory (unless ``data_dir`` is given) and stops it afterwards;
  127.0.0.1 is a trusted network unless ``trusted_networks`` is given.
* ``tracker``: one started tracker with the default configuration.
* ``connect(tracker, source=None)`` opens a :class:`TrackerTestClient` (pinned to the
  tracker's certificate), from the local address ``source`` if given (any of
  127.0.0.0/8); ``user(tracker, name)`` registers and logs one in.
* ``pg_database``: the URL of a fresh database on a PostgreSQL server the test session
  starts itself (:mod:`tests.pg_server`); tests that use it are skipped, with one line
  in the report header saying so, where no PostgreSQL server binaries are installed.
* ``peer_factory(tracker, name)``: a real :class:`~peer.client.chat_client.ChatClient` in its own
  home, registered and logged in (``login=False`` to do that by hand), wrapped in a
  :class:`tests.peers.PeerHandle` that records its events; ``clock=`` gives it a clock
  the test moves (:class:`tests.peers.FakeClock`) for the age of directory listings.
* ``unused_port``: a loopback port nothing listens on (a dial is refused at once);
  ``blackholed_port``: one whose connections are never answered (the listen queue is
  full, so the kernel drops every new SYN, as a firewall dropping packets would).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto.keystore import TEST_KDF_PARAMS
from crypto.login_secret import TEST_LOGIN_KDF
from peer.client.chat_client import ChatClient
from tests.peers import DEFAULT_PASSWORD, TIMEOUT, PeerFactory, PeerHandle, peer_config
from tests.pg_server import PgServer, find_postgres
from tests.tracker_client import TrackerTestClient
from tracker.config import TrackerConfig
from tracker.server.server import TrackerServer

TrackerFactory = Callable[..., Awaitable[TrackerServer]]
ClientFactory = Callable[..., Awaitable[TrackerTestClient]]
UserFactory = Callable[..., Awaitable[TrackerTestClient]]


_POSTGRES = find_postgres()


def pytest_report_header() -> str:
    if _POSTGRES is None:
        return "postgresql: no server binaries found; the PostgreSQL tests are skipped"
    return f"postgresql: {_POSTGRES} (the tests start their own server)"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if _POSTGRES is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PgServer(_POSTGRES).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(pg_server: PgServer) -> str:
    return pg_server.create_database()


@pytest.fixture(autouse=True)
def private_config_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """No test, nor a p2pchat process it starts, reads or writes the real user's settings
    file (platformdirs finds it through ``XDG_CONFIG_HOME``)."""
    folder = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder


@pytest.fixture
async def tracker_factory(tmp_path: Path) -> AsyncIterator[TrackerFactory]:
    servers: list[TrackerServer] = []
    counter = itertools.count()

    async def make(**changes: Any) -> TrackerServer:
        changes.setdefault("data_dir", tmp_path / f"tracker-{next(counter)}")
        # Tests register many users from 127.0.0.1: trust it, as a bench would. Tests of
        # the per-source limits pass trusted_networks=() and attack from 127.0.0.2+.
        changes.setdefault("trusted_networks", ("127.0.0.1/32",))
        # Clients stretch login secrets with this (the default costs ~170 ms a login).
        changes.setdefault("login_kdf", TEST_LOGIN_KDF)
        config = TrackerConfig(host="127.0.0.1", port=0).with_changes(**changes)
        server = TrackerServer(config)
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        with contextlib.suppress(Exception):
            await server.stop()


@pytest.fixture
async def tracker(tracker_factory: TrackerFactory) -> TrackerServer:
    return await tracker_factory()


@pytest.fixture
async def connect() -> AsyncIterator[ClientFactory]:
    clients: list[TrackerTestClient] = []

    async def make(server: TrackerServer, source: str | None = None) -> TrackerTestClient:
        client = await TrackerTestClient.connect("127.0.0.1", server.port, server.cert_path, source)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def user(connect: ClientFactory) -> UserFactory:
    async def make(
        server: TrackerServer,
        username: str,
        password: str = "correct horse",
        port: int = 40000,
        source: str | None = None,
    ) -> TrackerTestClient:
        client = await connect(server, source)
        reply = await client.register(username, password)
        assert reply["status"] == "OK", reply
        reply = await client.login(username, password, port=port)
        assert reply["status"] == "OK", reply
        return client

    return make


@pytest.fixture
async def peer_factory(tmp_path: Path) -> AsyncIterator[PeerFactory]:
    handles: list[PeerHandle] = []

    async def make(
        tracker: TrackerServer,
        name: str,
        password: str = DEFAULT_PASSWORD,
        *,
        login: bool = True,
        **changes: Any,
    ) -> PeerHandle:
        home = changes.pop("home", tmp_path / f"home-{name}")
        clock = changes.pop("clock", time.monotonic)
        client = ChatClient(
            peer_config(tracker, home, **changes),
            kdf_params=TEST_KDF_PARAMS,
            clock=clock,
        )
        handle = PeerHandle(client)
        handles.append(handle)
        await client.connect()
        if login:
            await client.register(name, password)
            await client.login(name, password)
        return handle

    yield make
    for handle in handles:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(handle.close(), 2 * TIMEOUT)


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def blackholed_port() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(3):  # fill the accept queue; nobody ever accepts
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()
