"""The peer's sans-I/O rules: PeerCore and its bookkeeping (rooms, dialling, delivery, liveness).

Every input returns a :class:`~peer.core.actions.Step` of user events and shell actions; nothing
here awaits, reads a clock or touches a socket.
"""

from peer.core.actions import Step
from peer.core.peer_core import PeerCore
from peer.core.settings import CoreSettings

__all__ = ["CoreSettings", "PeerCore", "Step"]
