"""The whole identity policy a channel's ``authorize`` callback applies to the remote.

:func:`decide` is pure: it reads the pin store and writes nothing, so it can run inside
the handshake (initiator: before message 3 is written; responder: before message 3 is
accepted) and the caller records what it learned only afterwards
(:class:`Decision`: pin a first key once the channel is accepted, remember a new key as
pending once the channel is refused).

A remote is accepted only if all of these hold, checked in this order:

1. it claims the username we dialled (initiator), and not our own (either side);
2. the tracker lists a key for that username, fresh enough (the caller passes ``None``
   when its listing is missing or too old to rely on);
3. the key agrees with the pin:

   * no pin yet: the presented key is the tracker-listed key (it will be pinned);
   * the pinned key is presented: the tracker lists it too, or lists a key the user
     rejected (the user's word beats the tracker's); if the tracker lists another key,
     the contact's key changed (or was revoked): refused, and that key is remembered
     as pending for the user to decide on;
   * another key is presented: refused in every case. If it is the tracker-listed key
     it is remembered as pending (``KEY_CHANGED``); a rejected key stays rejected.

   While any new key is pending, even the pinned key is refused: the user decides first
   (accept one of them, or reject them and keep the pin).

The tracker check stops an attacker who is not the tracker and revokes a key its owner
replaced; the pin stops a tracker that changes a key it once published; only comparing
safety numbers stops a tracker that lies from the very first contact.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from crypto.errors import CryptoError, KeyChangedError, KeyMismatchError
from crypto.pinning import PinStore


@dataclass(frozen=True, slots=True)
class Decision:
    """What :func:`decide` concluded.

    ``error``: why the remote is refused (``None``: accepted). ``pin_first``: accepted
    with no pin yet; pin ``key`` once the channel is accepted. ``new_key``: a key to
    remember as pending (the remote's, or the one the tracker now lists), also when
    refused.
    """

    username: str
    key: bytes
    error: CryptoError | None = None
    pin_first: bool = False
    new_key: bytes | None = None

    def raise_if_refused(self) -> None:
        if self.error is not None:
            raise self.error


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _changed(name: str, key: bytes, new_key: bytes | None, detail: str) -> Decision:
    error = KeyChangedError(
        f"the identity key of {name!r} changed ({detail}): compare safety numbers, then "
        f"/trust {name} to accept the new key or /reject {name} to keep the old one"
    )
    return Decision(name, key, error, new_key=new_key)


def decide(
    remote_username: str,
    remote_static: bytes,
    *,
    local_username: str,
    expected_username: str | None,
    tracker_key: bytes | None,
    pins: PinStore,
) -> Decision:
    """The verdict on a remote that proved it holds ``remote_static``; writes nothing."""
    name, key = remote_username, remote_static

    def refuse(message: str) -> Decision:
        return Decision(name, key, KeyMismatchError(message))

    if expected_username is not None and name != expected_username:
        return refuse(f"expected to reach {expected_username!r} but the remote is {name!r}")
    if name == local_username:
        return refuse("the remote claims to be this very user")
    if tracker_key is None:
        return refuse(f"the tracker lists no identity key for {name!r} (not online?)")
    pinned = pins.pinned_key(name)
    listed_is_new = (
        pinned is not None
        and not _same(tracker_key, pinned)
        and not pins.is_rejected(name, tracker_key)
    )
    if pinned is None:
        if not _same(key, tracker_key):
            return refuse(f"{name!r} presented a key other than the one the tracker lists")
        return Decision(name, key, pin_first=True)
    if _same(key, pinned):
        if listed_is_new:
            return _changed(name, key, tracker_key, "the tracker now lists another key")
        if pins.pending_keys(name):
            return _changed(name, key, None, "a new key is waiting for your decision")
        return Decision(name, key)
    if pins.is_rejected(name, key):
        return refuse(f"{name!r} presented a key you rejected")
    if not _same(key, tracker_key):
        return refuse(f"{name!r} presented a key other than the one the tracker lists")
    return _changed(name, key, key, "a new key was presented")


class Admission:
    """The ``authorize`` callback of one channel, keeping the decision it made.

    ``listed_key(username)`` returns the key the tracker lists for ``username`` if the
    caller's listing is fresh enough to rely on, else ``None``. The caller applies
    :attr:`decision` once the channel is accepted or refused; nothing is written here.
    """

    def __init__(
        self,
        pins: PinStore,
        *,
        local_username: str,
        expected_username: str | None,
        listed_key: Callable[[str], bytes | None],
    ) -> None:
        self._pins = pins
        self._local = local_username
        self._expected = expected_username
        self._listed_key = listed_key
        self.decision: Decision | None = None

    def authorize(self, remote_username: str, remote_static: bytes) -> None:
        """Decide; raise the refusal (the channel then closes before message 3)."""
        self.decision = decide(
            remote_username,
            remote_static,
            local_username=self._local,
            expected_username=self._expected,
            tracker_key=self._listed_key(remote_username),
            pins=self._pins,
        )
        self.decision.raise_if_refused()
