"""Real peers for tests: a ChatClient (own home, own sockets) with an event recorder.

:class:`PeerHandle` lets a test wait for an event with a timeout instead of sleeping;
the ``peer_factory`` fixture (``tests/conftest.py``) makes logged-in ones.
:func:`hand_dial` plays an attacker's side of a channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from commons.models import encode_identity_key
from commons.tracker_protocol import Event as TrackerEvent
from commons.tracker_protocol import push
from crypto.channel import SecureChannel
from crypto.identity import IdentityKey
from crypto.login_secret import TEST_LOGIN_KDF
from peer.channels.link import P2PLink
from peer.client.chat_client import ChatClient
from peer.config import PeerConfig
from peer.events import ClientEvent
from tracker.server.server import TrackerServer
from tracker.state.tracker_state import Outcome

E = TypeVar("E")
TIMEOUT = 10.0
DEFAULT_PASSWORD = "pw-" + "x" * 8


class PeerHandle:
    """A ChatClient plus a recorder of every event it emitted."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.events: list[ClientEvent] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._record())

    async def _record(self) -> None:
        async for event in self.client.events():
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(
        self, kind: type[E], predicate: Callable[[E], bool] = lambda e: True, count: int = 1
    ) -> list[E]:
        """Wait until ``count`` events of ``kind`` match ``predicate``; return them."""

        def matches() -> list[E]:
            return [e for e in self.of(kind) if predicate(e)]

        async def wait() -> list[E]:
            async with self._changed:
                await self._changed.wait_for(lambda: len(matches()) >= count)
            return matches()

        try:
            return await asyncio.wait_for(wait(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(
                f"timed out waiting for {count} x {kind.__name__}; got {self.events!r}"
            ) from None

    async def close(self) -> None:
        await self.client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, TIMEOUT)


PeerFactory = Callable[..., Awaitable[PeerHandle]]


async def hand_dial(
    peer: PeerHandle, claim: str, identity: IdentityKey | None = None, source: str | None = None
) -> P2PLink:
    """A hand-driven channel to ``peer`` claiming to be ``claim`` (with a fresh key unless
    given one), from the local address ``source`` if given (any of 127.0.0.0/8); returns
    once the handshake is done, before ``peer`` accepts or rejects. This side checks
    nothing: it plays the attacker."""
    assert peer.client.listen_address is not None
    local = None if source is None else (source, 0)
    reader, writer = await asyncio.open_connection(*peer.client.listen_address, local_addr=local)
    channel = SecureChannel(
        initiator=True,
        identity=identity or IdentityKey.generate(),
        username=claim,
        authorize=lambda _name, _key: None,
    )
    link = P2PLink.over_tcp(reader, writer, channel)
    await asyncio.wait_for(link.handshake(True), TIMEOUT)
    return link


async def wait_until(condition: Callable[[], object], timeout: float = TIMEOUT) -> None:
    """Wait until ``condition()`` holds, checking it every 10 ms; fail after ``timeout``
    seconds. For states no event announces (a handshake waiting in a listener's slot,
    a roster filled in by a later reply, a count in a server's table)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


class FakeClock:
    """A monotonic clock a test moves by hand (only the client's listing ages use it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def lie_about_key(tracker: TrackerServer, username: str, key: bytes, audience: list[str]) -> None:
    """Play a lying tracker: list ``key`` for ``username`` from now on and push
    ``KEY_CHANGED`` with it to ``audience`` (usernames), as a compromised tracker could."""
    state = tracker.state
    state.online[username].identity_key = encode_identity_key(key)
    outcome = Outcome()
    outcome.push_to(
        [state.online[name].session for name in audience],
        push(TrackerEvent.KEY_CHANGED, username=username, identity_key=encode_identity_key(key)),
    )
    tracker.deliver(None, outcome)


def peer_config(tracker: TrackerServer, home: Path, **changes: Any) -> PeerConfig:
    fields: dict[str, Any] = {
        "tracker": ("127.0.0.1", tracker.port),
        "home": home,
        "listen": ("127.0.0.1", 0),
        "cafile": tracker.cert_path,
        "min_login_kdf": TEST_LOGIN_KDF,
    }
    fields.update(changes)
    return PeerConfig(**fields)
