"""Who learns this client's address, sans-I/O: the rule behind ``--direct-private``.

The tracker gives a user's address only to the members of the room that user is in
(the mesh needs it). Everyone else reaches the user through the relay. Over a relayed
channel the user's client may *offer* its address (an ``endpoint`` frame, inside the
encrypted channel) so that the other side can open a direct channel; that is this
client's decision alone, made here:

* ``always``: to anyone we have a relayed channel with;
* ``verified`` (the default): only to contacts whose key the user verified
  (``/verify``: the safety numbers were compared out of band), so a stranger, or
  someone the tracker put in the middle, never learns it;
* ``never``: to nobody; private conversations with non-room-mates stay relayed.

A client without a listener (``--no-listen``, ``--relay-only``) has nothing to offer,
and a room-mate already has the address from the tracker.
"""

from __future__ import annotations

from enum import StrEnum

from crypto.pinning import TrustState
from peer.core.actions import ChannelPath


class DirectPrivate(StrEnum):
    ALWAYS = "always"
    VERIFIED = "verified"
    NEVER = "never"


def should_offer(
    policy: DirectPrivate,
    *,
    path: ChannelPath,
    trust: TrustState | None,
    room_mate: bool,
    listening: bool,
) -> bool:
    """Whether to send our endpoint over a channel to a user (see the module docstring)."""
    if not listening or room_mate or path is not ChannelPath.RELAY:
        return False
    if policy is DirectPrivate.ALWAYS:
        return True
    return policy is DirectPrivate.VERIFIED and trust is TrustState.VERIFIED
