"""What every part of the :class:`peer.client.chat_client.ChatClient` facade shares: its parts and
state.

:class:`ClientBase` builds the tracker session, the channel shell, the task supervisor
and the bounded event queue (:mod:`peer.client.event_queue`), and answers the questions about
the session's state (room, members, channels). The facade's commands are split by job:
:mod:`peer.client.client_rooms` (the tracker's directory and rooms), :mod:`peer.client.client_trust`
(keys and trust decisions) and :mod:`peer.client.chat_client` (the session's life and sending).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from crypto.history_seal import HistoryKeys, derive_history_keys
from crypto.identity import IdentityKey
from crypto.keystore import KdfParams
from peer import events as ev
from peer.channels.relay import RelayLinks
from peer.channels.shell import ChannelShell
from peer.client.driver import CoreDriver
from peer.client.event_queue import EventBudget, EventQueue
from peer.client.trust_gate import TrustGate
from peer.config import PeerConfig
from peer.core.peer_core import PeerCore
from peer.errors import NotLoggedInError
from peer.session.session import SessionHandler, TrackerSession
from peer.supervisor import TaskSupervisor


class ClientBase:
    """One user's chat session: parts and state (see
    :class:`peer.client.chat_client.ChatClient`)."""

    def __init__(
        self,
        config: PeerConfig,
        handler: SessionHandler,
        *,
        kdf_params: KdfParams | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` dates directory listings (their age decides when to ask again)."""
        self.config = config
        self._kdf_params = kdf_params
        self._clock = clock
        self._tasks = TaskSupervisor()
        self._session = TrackerSession(config, handler, self._tasks)
        self._shell = ChannelShell(config, self._tasks)
        self._relay = RelayLinks(self._session, self._shell.accept_relayed, self._tasks)
        self._shell.relay = self._session.relay = self._relay
        budget = EventBudget(config.events_per_channel, config.events_total)
        self._events = EventQueue(budget)
        self._driver: CoreDriver | None = None
        self._trust: TrustGate | None = None
        self.listen_address: tuple[str, int] | None = None
        self.username: str | None = None
        self._identity: IdentityKey | None = None
        self._connected = False
        self._closing = False

    @property
    def core(self) -> PeerCore | None:
        """The rules engine of the logged-in session (``None`` before login)."""
        return None if self._driver is None else self._driver.core

    @property
    def room(self) -> str | None:
        core = self.core
        return None if core is None or core.room is None else core.room.name

    @property
    def room_owner(self) -> str | None:
        core = self.core
        return None if core is None or core.room is None else core.room.owner

    @property
    def members(self) -> list[str]:
        """Current room members (this user included), minus those known to have gone."""
        return [] if self.core is None else self.core.members

    @property
    def connected_peers(self) -> list[str]:
        """Users with an open, accepted channel."""
        return [] if self.core is None else self.core.connected

    @property
    def channel_paths(self) -> dict[str, str]:
        """How each open channel travels, by user: ``"direct"`` or ``"relay"``."""
        return {} if self.core is None else {u: str(p) for u, p in self.core.paths.items()}

    @property
    def tracker_connected(self) -> bool:
        return self._session.connected

    @property
    def tracker_fingerprint(self) -> str | None:
        """SHA-256 fingerprint of the tracker certificate seen on the last connection."""
        return self._session.fingerprint

    @property
    def tracker_pinned_now(self) -> bool:
        """True if the last connection pinned the tracker's certificate for the first time
        (trust on first use): the user should see the fingerprint that was pinned."""
        return self._session.pinned_now

    def history_keys(self, salt: bytes) -> HistoryKeys:
        """Keys of this user's local history (HKDF over the identity private key, which
        only the password unlocks); see :mod:`crypto.history_seal`."""
        if self.username is None or self._identity is None:
            raise NotLoggedInError("log in first")
        return derive_history_keys(self._identity, self.username, salt)

    def _emit(self, event: ev.Event) -> None:
        self._events.put(event)

    async def events(self) -> AsyncIterator[ev.Event]:
        """Every event in order, until :meth:`close`; meant for a single consumer.

        The queue is bounded by back-pressure, never by dropping: while the events one
        channel produced (or all events) that wait here are over their budget
        (``PeerConfig.events_per_channel``/``events_total``), that channel is not read.
        A consumer that falls behind slows its senders down; it loses nothing."""
        while (event := await self._events.get()) is not None:
            yield event

    def _require(self) -> tuple[CoreDriver, TrustGate]:
        if self._driver is None or self._trust is None:
            raise NotLoggedInError("log in first")
        return self._driver, self._trust
