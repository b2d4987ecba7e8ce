"""What the peer core asks its shells to do, and what it returns from every input.

The core (:mod:`peer.core.peer_core`) never touches a socket: each of its methods takes one input
(a tracker update, a channel opened or closed, frames received, a timer, a user's
message) and returns a :class:`Step`: the events the user should see and the actions
the shells should carry out, in order. Channels are named by the id the channel shell
gave them, so an action or a report about a channel that has since been replaced is
recognised as stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from peer.core.frames import Frame
from peer.events import ClientEvent


class CloseReason(StrEnum):
    """Why a channel closed. The first six are the core's own decisions and are never
    reported to the user as a loss; the others are."""

    REPLACED = "replaced by a newer channel"
    LEFT_ROOM = "the room was left"
    SESSION_ENDED = "the session ended"
    SHUTDOWN = "the client is closing"
    EVICTED = "closed to make room for other channels"
    LOGGED_OUT = "they are no longer online"
    KEY_CHANGED = "their identity key changed"
    STALLED = "they stopped reading what we send"
    EXPIRED = "no traffic within the keepalive deadline"
    REMOTE_CLOSED = "the peer closed the connection"
    NETWORK_ERROR = "the connection failed"
    PROTOCOL_ERROR = "the peer broke the protocol"
    INTERNAL_ERROR = "internal error"

    @property
    def is_loss(self) -> bool:
        """Whether the user is told (the channel ended without our deciding so)."""
        return self not in _DECIDED


_DECIDED = {
    CloseReason.REPLACED,
    CloseReason.LEFT_ROOM,
    CloseReason.SESSION_ENDED,
    CloseReason.SHUTDOWN,
    CloseReason.EVICTED,
    CloseReason.LOGGED_OUT,
}


class ChannelPath(StrEnum):
    """How a channel's bodies travel: a TCP connection between the two peers, or the
    tracker's relay. The core is otherwise blind to transports; the path only decides
    which of two channels to keep (a direct one replaces a relayed one)."""

    DIRECT = "direct"
    RELAY = "relay"


class DialFailure(StrEnum):
    """How a dial ended without a channel."""

    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    ADDRESS = "address"
    DUPLICATE = "duplicate"
    IDENTITY = "identity"
    KEY_CHANGED = "key_changed"

    @property
    def transient(self) -> bool:
        """The peer may just be away: a retry nobody asked for does not report it."""
        return self in (DialFailure.UNREACHABLE, DialFailure.TIMEOUT)


@dataclass(frozen=True, slots=True)
class Dial:
    """Open a channel to ``user``. ``retry``: the user did not ask for it (a re-dial or a
    fallback), so an unreachable peer is only logged."""

    user: str
    retry: bool = False


@dataclass(frozen=True, slots=True)
class Upgrade:
    """Dial ``user`` directly at the endpoint they offered over our relayed channel; if
    that channel is accepted it replaces the relayed one (nothing is lost or repeated to
    the user). A failure changes nothing: the relayed channel goes on."""

    user: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class SendFrame:
    """Encrypt ``frame`` and queue it on channel ``channel`` (to ``user``)."""

    user: str
    channel: int
    frame: Frame


@dataclass(frozen=True, slots=True)
class CloseChannel:
    user: str
    channel: int
    reason: CloseReason


@dataclass(frozen=True, slots=True)
class PinContact:
    """``user`` became a contact (their channel ``channel`` carried a message, or they
    share our room): pin the key that channel was accepted with, if nothing is pinned."""

    user: str
    channel: int


@dataclass(frozen=True, slots=True)
class CheckOnline:
    """Ask the tracker whether ``user`` (a channel that is no contact) is still online;
    report :meth:`peer.core.peer_core.PeerCore.user_offline` if not."""

    user: str


class Admit(StrEnum):
    """The core's answer to an authenticated inbound channel."""

    ACCEPT = "accept"
    DUPLICATE = "duplicate"  # the tie-break: our own dial to them wins
    FULL = "full"  # every channel slot is taken by channels we keep


Action = Dial | SendFrame | CloseChannel | PinContact | CheckOnline | Upgrade


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message the core accepted to send: its id and whom it is for."""

    msg_id: str
    room: str | None
    recipients: tuple[str, ...]
    ts: float


@dataclass(slots=True)
class Step:
    """The outcome of one input: events for the user, then actions for the shells."""

    events: list[ClientEvent] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def extend(self, other: Step) -> Step:
        self.events.extend(other.events)
        self.actions.extend(other.actions)
        return self
