"""Asking the tracker about one user at a time (``LOOKUP``), for the directory.

The asyncio side of :mod:`peer.client.directory`: one ``LOOKUP`` in flight per name, shared by
everyone who needs it (concurrent handshakes claiming that name, a ``/msg``, a
``/fingerprint``); the answer is remembered with its time, and a user the tracker says
is offline is forgotten and reported (the core then closes a stranger's channel). What
an inbound handshake may trigger is rate-limited by :meth:`Directory.should_look_up`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from commons.errors import ErrorCode, P2PChatError
from commons.models import PeerInfo, decode_identity_key
from peer.client.directory import Directory
from peer.errors import UserOfflineError
from peer.supervisor import TaskSupervisor

Lookup = Callable[[str], Awaitable[PeerInfo]]


class Lookups:
    def __init__(
        self,
        directory: Directory,
        lookup: Lookup,
        tasks: TaskSupervisor,
        clock: Callable[[], float],
        offline: Callable[[str], None],
    ) -> None:
        """``lookup`` asks the tracker (``LOOKUP``); ``clock`` dates the answers;
        ``offline(user)`` is told when the tracker says ``user`` is not online."""
        self.directory = directory
        self._lookup = lookup
        self._tasks = tasks
        self._clock = clock
        self._offline = offline
        self._in_flight: dict[str, asyncio.Task[PeerInfo]] = {}

    async def look_up(self, user: str) -> PeerInfo:
        """``user`` as the tracker lists them now; :class:`UserOfflineError` if offline."""
        task = self._in_flight.get(user)
        if task is None or task.done():
            task = self._in_flight[user] = self._tasks.spawn(self._ask(user), f"lookup {user}")
        return await asyncio.shield(task)

    async def _ask(self, user: str) -> PeerInfo:
        try:
            peer = await self._lookup(user)
        except P2PChatError as exc:
            if exc.code is ErrorCode.USER_OFFLINE:
                self.directory.forget(user)
                self._offline(user)
                raise UserOfflineError(f"{user} is not online") from None
            raise
        finally:
            if self._in_flight.get(user) is asyncio.current_task():
                del self._in_flight[user]
        key = decode_identity_key(peer.identity_key)
        self.directory.remember(peer.username, key, self._clock())
        return peer

    async def before_authorize(self, user: str, key: bytes, source: str | None) -> None:
        """Ask again if our listing of ``user`` is missing, too old, or lists another
        key than ``key`` (rate-limited, per ``source`` for an inbound handshake). If the
        tracker cannot be asked, an old listing stays old and the identity check refuses."""
        if self.directory.should_look_up(user, self._clock(), key, source):
            with contextlib.suppress(P2PChatError):
                await self.look_up(user)

    def check_online(self, user: str) -> None:
        """Ask in the background whether ``user`` is still online (answer via ``offline``)."""
        self._tasks.spawn(self._quietly(user), f"online check {user}")

    async def _quietly(self, user: str) -> None:
        with contextlib.suppress(P2PChatError):
            await self.look_up(user)
