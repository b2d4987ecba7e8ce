"""Typed events a :class:`peer.client.chat_client.ChatClient` reports to its user (UI, batch mode,
bot).

Frozen dataclasses, consumed from ``client.events()``. They carry no secrets: message
text reaches only the local user, never a log.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message within its conversation: its author and the author's ``msg_id``."""

    author: str
    msg_id: str


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A chat message; ``room`` is ``None`` for a private message. ``reply_to``: the
    message it quotes (the UI looks it up in its own history); ``me``: an action (``/me``)."""

    room: str | None
    sender: str
    text: str
    timestamp: float
    msg_id: str
    reply_to: MessageRef | None = None
    me: bool = False


@dataclass(frozen=True, slots=True)
class ReactionChanged:
    """``username`` put (``on``) or took back ``emoji`` on ``target``, in ``room`` or (room
    ``None``) in the private conversation with ``username``."""

    room: str | None
    username: str
    target: MessageRef
    emoji: str
    on: bool
    timestamp: float


@dataclass(frozen=True, slots=True)
class MessageEdited:
    """``username`` replaced the text of their message ``msg_id`` (show it "(edited)")."""

    room: str | None
    username: str
    msg_id: str
    text: str
    timestamp: float


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    """``username`` deleted their message ``msg_id`` (show "message deleted"). Honoured
    by this client; nothing can make a hostile client forget a text it received."""

    room: str | None
    username: str
    msg_id: str
    timestamp: float


@dataclass(frozen=True, slots=True)
class TypingChanged:
    """``username`` started (``active``) or stopped typing; a start not refreshed expires
    (``active`` false) after :data:`peer.core.conversation.TYPING_EXPIRY` seconds."""

    room: str | None
    username: str
    active: bool


@dataclass(frozen=True, slots=True)
class ReadUpTo:
    """``username`` has read the conversation up to ``up_to`` (a read receipt)."""

    room: str | None
    username: str
    up_to: MessageRef


@dataclass(frozen=True, slots=True)
class MemberJoined:
    room: str
    username: str


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """``reason``: ``"left"`` (leave notice or tracker update), ``"kicked"`` or
    ``"banned"`` (by the room's owner), or ``"connection_lost"``."""

    room: str
    username: str
    reason: str


@dataclass(frozen=True, slots=True)
class MemberOnline:
    """A member of ``room`` came online (their session started): one event per room we
    share with them (a UI may fold them). Not a membership change: see
    :class:`MemberJoined`."""

    room: str
    username: str


@dataclass(frozen=True, slots=True)
class MemberOffline:
    """A member of ``room`` went offline (their session ended) and stays a member: one
    event per room we share with them. Not a membership change: see :class:`MemberLeft`."""

    room: str
    username: str


@dataclass(frozen=True, slots=True)
class RoomsRestored:
    """After a login or a resume: the rooms we are a member of, in join order, as the
    tracker keeps them (nothing typed). A tracker without durable membership gives none:
    no such event then."""

    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoomDeleted:
    """The room is gone; ``owner`` (who alone may delete it) when known."""

    room: str
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class KeyChanged:
    """A new key for ``username`` (presented by a remote, or listed by the tracker)
    differs from the pinned one and waits for the user's decision.

    Sending to them is blocked until the user decides: ``client.trust(username, key)``
    or ``client.verify(username, key)`` after comparing safety numbers, or
    ``client.reject(username)``. ``key`` and ``fingerprint`` are the new key's;
    ``pending`` lists the fingerprints of every key now waiting (oldest first): more
    than one means a key arrived while another was undecided, and both stay in question.
    """

    username: str
    fingerprint: str
    key: bytes
    pending: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrustChanged:
    """``username``'s trust state changed: ``unverified`` (first key pinned, or a new key
    accepted), ``verified`` or ``key_changed``. ``fingerprint`` is of the key it is about
    (for ``key_changed``, the new one)."""

    username: str
    state: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class ChannelOpened:
    """An authenticated end-to-end channel to ``username`` is ready. ``path``:
    ``"direct"`` (a TCP connection between the two peers) or ``"relay"`` (through the
    tracker; the same encryption, the tracker sees only ciphertext). A direct channel
    that replaces a relayed one is announced again with ``path`` ``"direct"``."""

    username: str
    path: str = "direct"


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    """The channel to ``username`` closed; ``reason`` is a short human description."""

    username: str
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The tracker connection dropped; the client retries with backoff on its own."""

    detail: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The tracker connection is back and the session was restored."""


@dataclass(frozen=True, slots=True)
class SessionReplaced:
    """Another login of the same user took over; this client no longer has a session."""


@dataclass(frozen=True, slots=True)
class MessageDelivered:
    """``username``'s client acknowledged our message ``msg_id``: it reached them."""

    msg_id: str
    username: str


@dataclass(frozen=True, slots=True)
class MessageFailed:
    """Our message ``msg_id`` will not reach ``username``.

    ``reason``: ``left`` (they or we left the room), ``connection_lost`` (the channel
    dropped and the one resend after a re-dial did not happen or was not acknowledged),
    ``key_changed`` (their key changed and is not accepted), ``timed_out`` (no receipt in
    time) or ``backlog_full`` (too many of our messages to them await a receipt).
    """

    msg_id: str
    username: str
    reason: str


@dataclass(frozen=True, slots=True)
class RoomLost:
    """After a reconnect the tracker no longer lists ``room`` among ours: its owner
    removed us, or deleted it, while our session was down (a ``KICKED`` or
    ``ROOM_DELETED`` pushed meanwhile never reached us). The room is closed."""

    room: str


@dataclass(frozen=True, slots=True)
class RemovedFromRoom:
    """The owner ``by`` removed us from ``room``: ``reason`` is ``kicked`` (we may join
    again, unless the room is invite-only) or ``banned`` (we may not)."""

    room: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class InvitedToRoom:
    """The owner ``by`` invited us to ``room`` (``/join ROOM`` to accept)."""

    room: str
    by: str


@dataclass(frozen=True, slots=True)
class ChannelsRefused:
    """``count`` more inbound channels claiming to be ``username`` (``"*"``: any of
    many names) were refused with ``code`` in the last ``seconds``, after the first
    one, which was reported in full as an :class:`ErrorEvent`."""

    username: str
    code: str
    count: int
    seconds: float


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """Something failed outside a method call (e.g. an inbound channel was refused)."""

    code: str
    message: str


ClientEvent = (
    MessageReceived
    | ReactionChanged
    | MessageEdited
    | MessageDeleted
    | TypingChanged
    | ReadUpTo
    | MemberJoined
    | MemberLeft
    | MemberOnline
    | MemberOffline
    | RoomsRestored
    | RoomDeleted
    | KeyChanged
    | TrustChanged
    | ChannelOpened
    | ChannelClosed
    | ConnectionLost
    | Reconnected
    | SessionReplaced
    | MessageDelivered
    | MessageFailed
    | RemovedFromRoom
    | RoomLost
    | InvitedToRoom
    | ChannelsRefused
    | ErrorEvent
)
