"""The trust and send gate: pinned keys, who may be sent to, and what the user is told.

The client owns one :class:`TrustGate` per login. It is the only place that decides
whether a contact's key is acceptable and whether a message may go to them:

* a channel is opened only with a remote whose key the tracker lists and that agrees
  with the pin (:func:`crypto.authorization.check_remote_identity`);
* while a contact's key change is undecided, nothing is sent to them: a private message
  is refused (``KeyChangedError``); a room message goes to the other members and is
  reported failed for that one (``key_changed``), so one contact's key change never
  silences a whole room and the user still sees who did not get it;
* every change of a contact's trust state is reported as a typed ``TrustChanged`` event
  (and a key change also as ``KeyChanged``, once per new key).

Pin store calls write with fsync: they run one at a time on a dedicated thread.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from commons.models import validate_username
from crypto.authorization import check_remote_identity
from crypto.errors import KeyChangedError
from crypto.fingerprint import fingerprint as key_fingerprint
from crypto.fingerprint import safety_number as compute_safety_number
from crypto.identity import IdentityKey
from crypto.pinning import PinStore, TrustState
from peer import events as ev
from peer.errors import UserOfflineError

T = TypeVar("T")
PINS_FILE = "known_peers.json"


class TrustGate:
    def __init__(
        self,
        me: str,
        identity: IdentityKey,
        pins: PinStore,
        executor: ThreadPoolExecutor,
        emit: Callable[[ev.Event], None],
    ) -> None:
        self.me = me
        self.identity = identity
        self._pins = pins
        self._executor = executor
        self._emit = emit
        self._announced: set[tuple[str, bytes]] = set()

    @classmethod
    async def open(
        cls, home: Path, me: str, identity: IdentityKey, emit: Callable[[ev.Event], None]
    ) -> TrustGate:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2pchat-pins")
        loop = asyncio.get_running_loop()
        try:
            pins = await loop.run_in_executor(executor, PinStore, home / me / PINS_FILE)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(me, identity, pins, executor, emit)

    def close(self) -> None:
        self._executor.shutdown(wait=False)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    # ------------------------------------------------------------------ the gate

    def may_send(self, username: str) -> bool:
        return self._pins.may_send(username)

    def blocked(self, usernames: list[str]) -> set[str]:
        """Those of ``usernames`` nothing may be sent to (their key change is undecided)."""
        return {u for u in usernames if not self._pins.may_send(u)}

    def require_sendable(self, username: str) -> None:
        if not self._pins.may_send(username):
            raise KeyChangedError(
                f"the key of {username} changed; compare safety numbers and /trust {username}"
            )

    async def check(
        self, username: str, key: bytes, *, expected: str | None, tracker_key: bytes | None
    ) -> None:
        """Refuse (raise) a remote the tracker or the pin disagrees with."""
        before = self._pins.state(username)
        try:
            state = await self._call(
                check_remote_identity,
                username,
                key,
                expected_username=expected,
                tracker_key=tracker_key,
                pins=self._pins,
            )
        except KeyChangedError:
            self.key_changed(username, key)
            raise
        if before is None:
            self._emit(ev.TrustChanged(username, str(state), key_fingerprint(key)))

    async def observe(self, username: str, key: bytes) -> bool:
        """The tracker announced a new key for ``username``: True if it is a change."""
        state = await self._call(self._pins.observe, username, key)
        if state is TrustState.KEY_CHANGED:
            self.key_changed(username, key)
            return True
        return False

    def key_changed(self, username: str, key: bytes) -> None:
        if (username, key) in self._announced:
            return
        self._announced.add((username, key))
        fingerprint = key_fingerprint(key)
        self._emit(ev.KeyChanged(username, fingerprint))
        self._emit(ev.TrustChanged(username, str(TrustState.KEY_CHANGED), fingerprint))

    # ------------------------------------------------------------------ user decisions

    async def trust(self, username: str) -> None:
        """Accept ``username``'s new key (after a KeyChanged)."""
        username = validate_username(username)
        await self._call(self._pins.accept, username)
        self._announced = {k for k in self._announced if k[0] != username}
        self._report(username)

    async def verify(self, username: str) -> None:
        """Mark ``username``'s pinned key verified (safety numbers compared)."""
        username = validate_username(username)
        await self._call(self._pins.verify, username)
        self._report(username)

    def _report(self, username: str) -> None:
        state, key = self._pins.state(username), self._pins.pinned_key(username)
        if state is not None and key is not None:
            self._emit(ev.TrustChanged(username, str(state), key_fingerprint(key)))

    # ------------------------------------------------------------------ what to show

    def state(self, username: str) -> TrustState | None:
        return self._pins.state(username)

    def shown_key(self, username: str, listed: bytes | None) -> bytes:
        """The key to show for ``username``: while a key change is undecided, the *new*
        key, since that is what the user compares safety numbers for before /trust."""
        username = validate_username(username)
        key = self._pins.pending_key(username) or self._pins.pinned_key(username) or listed
        if key is None:
            raise UserOfflineError(f"no key known for {username}: /peers first")
        return key

    def fingerprint(self, username: str | None = None, listed: bytes | None = None) -> str:
        if username is None or username == self.me:
            return key_fingerprint(self.identity.public_bytes)
        return key_fingerprint(self.shown_key(username, listed))

    def safety_number(self, username: str, listed: bytes | None = None) -> str:
        remote = self.shown_key(username, listed)
        return compute_safety_number(self.me, self.identity.public_bytes, username, remote)
