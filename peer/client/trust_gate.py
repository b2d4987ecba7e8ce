"""The trust and send gate: pinned keys, who may be sent to, and what the user is told.

The client owns one :class:`TrustGate` per login. It is the only place that decides
whether a contact's key is acceptable and whether a message may go to them:

* every channel runs the whole identity policy (name, tracker-listed key, pin:
  :class:`crypto.authorization.Admission`) inside its handshake; what the check learned
  (a first key to pin, a new key to put before the user) is recorded only once the
  channel is accepted or refused (:meth:`TrustGate.settle`);
* a first key is pinned only for a *contact*: once the user answered them (our message
  went on their channel) or they share our room (:meth:`TrustGate.pin_contact`, with the
  key that channel proved, when the core says so), never for a handshake nor for a
  stranger's message, so strangers cannot grow the store, however many accounts write;
* the store is bounded and never pushes a pin out: once it is full, a new contact is
  not pinned, and a private message to a person with no pinned key is refused
  (``pin_store_full``) until the user makes room with ``/forget`` (:meth:`TrustGate.forget`),
  so no key change can pass unannounced for someone the user writes to;
* while a contact has a key waiting for the user's decision, nothing is sent to them: a
  private message is refused (``KeyChangedError``); a room message goes to the other
  members and is reported failed for that one (``key_changed``), so one contact's key
  change never silences a whole room and the user still sees who did not get it;
* decisions name the exact key the user was shown (``trust``, ``verify``) or keep the
  pinned one (``reject``); every change of a contact's trust state is reported as a
  typed ``TrustChanged`` event, and a new key also as ``KeyChanged`` (once per key).

The pin store lives in memory; each change is written by a single thread, in order, off
the event loop: one MAC-chained record appended, or now and then a whole new snapshot
(:mod:`crypto.pin_log`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from commons.errors import ErrorCode
from commons.models import validate_username
from commons.private_file import append_private_file, write_private_file
from crypto.authorization import Admission
from crypto.errors import InsecureKeyFileError, KeyChangedError, PinStoreFullError
from crypto.fingerprint import fingerprint as key_fingerprint
from crypto.fingerprint import safety_number as compute_safety_number
from crypto.identity import IdentityKey
from crypto.pinning import MAX_CONTACTS, PinStore, PinWrite, TrustState
from peer import events as ev
from peer.errors import UserOfflineError

PINS_FILE = "known_peers.json"


class TrustGate:
    def __init__(
        self,
        me: str,
        identity: IdentityKey,
        pins: PinStore,
        executor: ThreadPoolExecutor,
        emit: Callable[[ev.ClientEvent], None],
    ) -> None:
        self.me = me
        self.identity = identity
        self._pins = pins
        self._executor = executor
        self._emit = emit
        self._announced: set[tuple[str, bytes]] = set()
        #: Contacts told their key could not be pinned (once each, bounded).
        self._told_full: set[str] = set()

    @classmethod
    async def open(
        cls, home: Path, me: str, identity: IdentityKey, emit: Callable[[ev.ClientEvent], None]
    ) -> TrustGate:
        """Load (and check) the pin store; refuses a tampered or exposed one."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="p2pchat-pins")
        loop = asyncio.get_running_loop()
        try:
            pins = await loop.run_in_executor(
                executor, PinStore.load, home / me / PINS_FILE, identity, me
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(me, identity, pins, executor, emit)

    async def started(self) -> None:
        """After login: write a new (or rewrite an old-format) store at once."""
        await self.save()

    def close(self) -> None:
        self._executor.shutdown(wait=False)

    async def save(self) -> None:
        """Write what changed: taken here, on the loop, and written in order."""
        write = self._pins.take_write()
        if write is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._write, write)
        except BaseException:
            self._pins.write_failed()
            raise

    def _write(self, write: PinWrite) -> None:
        path = self._pins.path
        if write.append:
            append_private_file(
                path, write.data, what="contact pin store", refuse=InsecureKeyFileError
            )
        else:
            write_private_file(path, write.data)

    # ------------------------------------------------------------------ the gate

    def blocked(self, usernames: list[str]) -> set[str]:
        """Those of ``usernames`` nothing may be sent to (a key change is undecided)."""
        return {u for u in usernames if not self._pins.may_send(u)}

    def require_sendable(self, username: str) -> None:
        """Refuse a private message to ``username`` while their key change is undecided,
        or when their key could not be pinned (the store is full): a change of it would
        then go unnoticed."""
        pins = self._pins
        if not pins.may_send(username):
            raise KeyChangedError(
                f"the key of {username} changed; compare safety numbers, then /trust or "
                f"/reject {username}"
            )
        if pins.full and pins.pinned_key(username) is None:
            raise PinStoreFullError(
                f"your pin store holds {MAX_CONTACTS} contacts, so the key of {username} "
                "cannot be pinned and a change of it would go unnoticed: /forget a contact "
                "you no longer talk to, then send again"
            )

    def admission(self, expected: str | None, listed: Callable[[str], bytes | None]) -> Admission:
        """The ``authorize`` callback of one channel (``listed``: a fresh listed key)."""
        return Admission(
            self._pins, local_username=self.me, expected_username=expected, listed_key=listed
        )

    async def settle(self, admission: Admission, *, accepted: bool) -> tuple[bool, bool]:
        """Record what a channel's identity check learned, now that the channel is
        accepted or refused: ``(keep the channel, a new key now waits for the user)``.
        A first key is not pinned here: only once the channel is a contact's
        (:meth:`pin_contact`)."""
        decision = admission.decision
        if decision is None:
            return accepted, False
        changed = False
        if decision.new_key is not None:
            changed = await self.note_key(decision.username, decision.new_key)
        return accepted, changed

    async def pin_contact(self, username: str, key: bytes) -> bool:
        """``username`` became a contact: pin ``key``, the one their channel proved (the
        identity check accepted it), if nothing is pinned yet. True if another key was
        pinned meanwhile: this one now waits for the user's decision, and the channel
        must go."""
        pins = self._pins
        pinned = pins.pinned_key(username)
        if pinned is None and pins.full:
            if len(self._told_full) < MAX_CONTACTS and username not in self._told_full:
                self._told_full.add(username)
                self._emit(
                    ev.ErrorEvent(
                        str(ErrorCode.PIN_STORE_FULL),
                        f"your pin store holds {MAX_CONTACTS} contacts: the key of "
                        f"{username} is not pinned (only checked against the tracker, so a "
                        "change would go unnoticed); /forget a contact to make room",
                    )
                )
            return False
        state = pins.observe(username, key)
        await self.save()
        if state is TrustState.KEY_CHANGED and pins.is_pending(username, key):
            self._announce(username, key)
            return True
        if pinned is None:
            self._report(username)
        return False

    async def note_key(self, username: str, key: bytes) -> bool:
        """The tracker lists, or a remote presented, ``key`` for ``username``: True if it
        is a new key now waiting for the user's decision."""
        pins = self._pins
        if pins.pinned_key(username) is None:
            return False  # a first key is pinned only with an accepted channel
        pins.observe(username, key)
        await self.save()
        if not pins.is_pending(username, key):
            return False
        self._announce(username, key)
        return True

    def _announce(self, username: str, key: bytes) -> None:
        if (username, key) in self._announced:
            return
        self._announced.add((username, key))
        pending = tuple(key_fingerprint(k) for k in self._pins.pending_keys(username))
        fingerprint = key_fingerprint(key)
        self._emit(ev.KeyChanged(username, fingerprint, key, pending))
        self._emit(ev.TrustChanged(username, str(TrustState.KEY_CHANGED), fingerprint))

    # ------------------------------------------------------------------ user decisions

    async def trust(self, username: str, key: bytes) -> None:
        """Accept ``key``, the exact key the user was shown, as ``username``'s."""
        username = validate_username(username)
        self._pins.accept(username, key)
        await self._decided(username)

    async def verify(self, username: str, key: bytes) -> bool:
        """Safety numbers were compared for exactly ``key``; True if nothing is pending."""
        username = validate_username(username)
        self._pins.verify(username, key)
        await self._decided(username)
        return self._pins.may_send(username)

    async def reject(self, username: str) -> tuple[bytes, ...]:
        """Keep the pinned key, refuse every undecided one (returned)."""
        username = validate_username(username)
        refused = self._pins.reject(username)
        await self._decided(username)
        return refused

    async def forget(self, username: str) -> None:
        """Remove ``username``'s pin and every decision about their keys (``/forget``);
        ``UnknownContactError`` if none is pinned. Their next key is a first key again."""
        username = validate_username(username)
        self._pins.forget(username)
        await self.save()
        self._announced = {k for k in self._announced if k[0] != username}
        self._told_full.discard(username)

    async def _decided(self, username: str) -> None:
        await self.save()
        self._announced = {k for k in self._announced if k[0] != username}
        self._report(username)

    def _report(self, username: str) -> None:
        state, key = self._pins.state(username), self._pins.pinned_key(username)
        if state is not None and key is not None:
            self._emit(ev.TrustChanged(username, str(state), key_fingerprint(key)))

    # ------------------------------------------------------------------ what to show

    def state(self, username: str) -> TrustState | None:
        return self._pins.state(username)

    def pinned_key(self, username: str) -> bytes | None:
        return self._pins.pinned_key(username)

    def contacts(self) -> frozenset[str]:
        return self._pins.contacts()

    def pending_keys(self, username: str) -> tuple[bytes, ...]:
        """``username``'s keys waiting for a decision, oldest first."""
        return self._pins.pending_keys(username)

    def key_to_trust(self, username: str, typed: str | None = None) -> bytes:
        return self._pins.key_to_trust(validate_username(username), typed)

    def key_to_verify(self, username: str, typed: str | None, listed: bytes | None) -> bytes:
        return self._pins.key_to_verify(validate_username(username), typed, listed)

    def shown_key(self, username: str, listed: bytes | None) -> bytes:
        """The key to show for ``username``: the newest undecided key, else the pinned
        one, else the listed one."""
        username = validate_username(username)
        pending = self._pins.pending_keys(username)
        key = pending[-1] if pending else self._pins.pinned_key(username) or listed
        if key is None:
            raise UserOfflineError(
                f"no key known for {username}: they are not online and none is pinned"
            )
        return key

    def fingerprint(
        self, username: str | None = None, key: bytes | None = None, listed: bytes | None = None
    ) -> str:
        if key is not None:
            return key_fingerprint(key)
        if username is None or username == self.me:
            return key_fingerprint(self.identity.public_bytes)
        return key_fingerprint(self.shown_key(username, listed))

    def safety_number(
        self, username: str, key: bytes | None = None, listed: bytes | None = None
    ) -> str:
        remote = key if key is not None else self.shown_key(username, listed)
        return compute_safety_number(self.me, self.identity.public_bytes, username, remote)
