"""The decision a channel's ``authorize`` callback makes about the remote's identity.

A remote is accepted only if all of these hold, checked in this order:

1. it claims the username we expected (when we dialled a specific user);
2. its static key is the key the tracker lists for that username;
3. that key agrees with the local pin (first key seen is pinned; a different key is
   ``KEY_CHANGED`` and refused until the user accepts it).

The tracker check stops an attacker who is not the tracker; the pin stops a tracker
that changes a key it once published; only comparing safety numbers stops a tracker
that lies from the very first contact.
"""

from __future__ import annotations

import hmac

from crypto.errors import KeyChangedError, KeyMismatchError
from crypto.pinning import PinStore, TrustState


def check_remote_identity(
    remote_username: str,
    remote_static: bytes,
    *,
    expected_username: str | None,
    tracker_key: bytes | None,
    pins: PinStore,
) -> TrustState:
    """Raise :class:`KeyMismatchError` or :class:`KeyChangedError`, else the trust state.

    Meant to be called from ``SecureChannel``'s ``authorize`` callback, with
    ``tracker_key`` the key the tracker currently lists for ``remote_username``
    (``None`` if it lists none).
    """
    if expected_username is not None and remote_username != expected_username:
        raise KeyMismatchError(
            f"expected to reach {expected_username!r} but the remote identified as "
            f"{remote_username!r}"
        )
    if tracker_key is None:
        raise KeyMismatchError(f"the tracker lists no identity key for {remote_username!r}")
    if not hmac.compare_digest(tracker_key, remote_static):
        raise KeyMismatchError(
            f"{remote_username!r} presented a key other than the one the tracker lists"
        )
    state = pins.observe(remote_username, remote_static)
    if state is TrustState.KEY_CHANGED:
        raise KeyChangedError(
            f"the identity key of {remote_username!r} changed: compare safety numbers "
            "and accept the new key before talking to them"
        )
    return state
