"""The commands of both front ends as typed values (what :mod:`peer.commands.table` parses a
line into). No behaviour here: :func:`peer.commands.runner.execute` and the terminal
chat's controller carry them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Frontend(StrEnum):
    BATCH = "batch"
    TUI = "tui"


class ArgumentKind(StrEnum):
    """What the first argument of a command names, for completion."""

    NONE = "none"
    USER = "user"
    ROOM = "room"
    BUFFER = "buffer"
    SETTING = "setting"
    COMMAND = "command"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Register:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str
    replace_key: bool = False


@dataclass(frozen=True, slots=True)
class ListPeers:
    """One page of online users, from ``cursor`` (the ``next`` of the page before)."""

    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ListRooms:
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class CreateRoom:
    room: str
    invite_only: bool = False
    #: Room-mates get no address for us; every channel to them goes through the relay.
    relay_only: bool = False


class OwnerAction(StrEnum):
    """What a room's owner does to a user (``/kick USER [ROOM]`` and the others)."""

    KICK = "kick"
    BAN = "ban"
    UNBAN = "unban"
    INVITE = "invite"
    UNINVITE = "uninvite"


@dataclass(frozen=True, slots=True)
class ControlUser:
    """``action`` on ``username`` in ``room`` (``None``: the current room)."""

    action: OwnerAction
    username: str
    room: str | None = None


@dataclass(frozen=True, slots=True)
class SetInviteOnly:
    invite_only: bool
    room: str | None = None


@dataclass(frozen=True, slots=True)
class ShowAccess:
    room: str | None = None


@dataclass(frozen=True, slots=True)
class JoinRoom:
    room: str
    #: As :attr:`CreateRoom.relay_only`.
    relay_only: bool = False


@dataclass(frozen=True, slots=True)
class LeaveRoom:
    """``room``: the one to leave (``None``: the current room, or the only one)."""

    room: str | None = None


@dataclass(frozen=True, slots=True)
class MyRooms:
    """``/rooms``: the rooms we are a member of, with their members and who is online."""


@dataclass(frozen=True, slots=True)
class SwitchRoom:
    """Batch ``/switch ROOM``: where plain lines go from now on (one of our rooms)."""

    room: str


@dataclass(frozen=True, slots=True)
class DeleteRoom:
    room: str


@dataclass(frozen=True, slots=True)
class ListUsers:
    """``/users``: ``room``'s members (``None``: the front end's current room, else the
    first of the client's)."""

    room: str | None = None


@dataclass(frozen=True, slots=True)
class SendPrivate:
    username: str
    text: str


@dataclass(frozen=True, slots=True)
class SendRoom:
    """A plain line: to the current room (batch) or to the buffer shown (terminal
    chat); ``room``: the room it goes to (``/say ROOM TEXT``, or the front end's current
    room; ``None``: the first of the client's rooms)."""

    text: str
    room: str | None = None


@dataclass(frozen=True, slots=True)
class ShowFingerprint:
    username: str | None


@dataclass(frozen=True, slots=True)
class Trust:
    """Accept the new key with ``fingerprint`` (``None``: the only new key seen)."""

    username: str
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Verify:
    """Mark the key with ``fingerprint`` verified (``None``: the pinned key, if no new
    key is pending)."""

    username: str
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """Keep the pinned key and refuse every new one."""

    username: str


@dataclass(frozen=True, slots=True)
class Forget:
    """Remove a contact: their pinned key and every decision about their keys."""

    username: str


@dataclass(frozen=True, slots=True)
class Quit:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    """The list of commands, or one command in detail (``topic``: ``join`` or ``/join``)."""

    topic: str | None = None


@dataclass(frozen=True, slots=True)
class Search:
    """Open the search over the buffer shown (or every buffer) with ``query``."""

    query: str
    all_buffers: bool = False


@dataclass(frozen=True, slots=True)
class SetSetting:
    """``/set`` (list), ``/set NAME`` (show one), ``/set NAME VALUE`` (this session)."""

    name: str | None
    value: str | None


@dataclass(frozen=True, slots=True)
class ClearHistory:
    pass


@dataclass(frozen=True, slots=True)
class Switch:
    reference: str


@dataclass(frozen=True, slots=True)
class Query:
    username: str


@dataclass(frozen=True, slots=True)
class CloseBuffer:
    pass


@dataclass(frozen=True, slots=True)
class Receipts:
    pass


@dataclass(frozen=True, slots=True)
class Expand:
    """Draw the newest clipped message of the buffer shown in full."""


@dataclass(frozen=True, slots=True)
class Reply:
    """``/reply MSGID TEXT``: a message quoting a recent message, in its conversation."""

    msg_id: str
    text: str


@dataclass(frozen=True, slots=True)
class SendAction:
    """``/me TEXT``: an action (``* alice waves``) to ``room`` (the front end's current
    room; ``None``: the first of the client's rooms)."""

    text: str
    room: str | None = None


@dataclass(frozen=True, slots=True)
class React:
    """``/react MSGID EMOJI`` (``on``) or ``/unreact MSGID EMOJI``."""

    msg_id: str
    emoji: str
    on: bool


@dataclass(frozen=True, slots=True)
class EditMessage:
    """``/edit MSGID TEXT``: new text for one of our own recent messages."""

    msg_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Unsend:
    """``/unsend MSGID``: ask everyone to show one of our own messages as deleted."""

    msg_id: str


@dataclass(frozen=True, slots=True)
class SetTyping:
    """``/typing on|off [USER]``: we are typing (or stopped) in ``room`` (the front end's
    current room), or to ``USER``."""

    active: bool
    username: str | None
    room: str | None = None


@dataclass(frozen=True, slots=True)
class MarkRead:
    """``/read MSGID``: we have read that message's conversation up to it."""

    msg_id: str


class AimVerb(StrEnum):
    """What the terminal chat's aimed commands do to the message aimed at."""

    REPLY = "reply"
    REACT = "react"
    UNREACT = "unreact"
    EDIT = "edit"
    UNSEND = "unsend"


@dataclass(frozen=True, slots=True)
class Aimed:
    """The terminal chat's ``/reply TEXT``, ``/react EMOJI``, ``/unreact EMOJI``,
    ``/edit TEXT`` and ``/unsend``: a user never sees message ids, so these act on the
    message selected in the buffer shown, else its last one (``/edit``, ``/unsend``: the
    user's own last). ``argument`` is the text or the emoji (empty for ``/unsend``)."""

    verb: AimVerb
    argument: str = ""


UserCommand = (
    Register
    | Login
    | ListPeers
    | ListRooms
    | CreateRoom
    | ControlUser
    | SetInviteOnly
    | ShowAccess
    | JoinRoom
    | LeaveRoom
    | MyRooms
    | SwitchRoom
    | DeleteRoom
    | ListUsers
    | SendPrivate
    | SendRoom
    | Reply
    | SendAction
    | React
    | EditMessage
    | Unsend
    | SetTyping
    | MarkRead
    | Aimed
    | ShowFingerprint
    | Trust
    | Verify
    | Reject
    | Forget
    | Quit
    | Help
    | Switch
    | Query
    | CloseBuffer
    | Receipts
    | Search
    | SetSetting
    | ClearHistory
    | Expand
)
