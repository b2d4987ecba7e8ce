"""What the chat screen shows, as plain data, updated from client events: sans-I/O.

:class:`ChatModel` turns :mod:`peer.events` into buffer lines, keeps the current room's
members with their verification state (from ``TrustChanged``) and the delivery receipts
of our own lines (:mod:`peer.tui.model.receipts`). Whether a message may go to someone is the
client's decision, not the screen's: a private message to a contact whose key change is
undecided is refused, a room message skips them and shows it in its mark. The Textual
app only draws this model.

Strangers: a private message from someone who is no contact (never pinned, no private
buffer open, not in our room) goes to the one ``requests`` buffer
(:data:`peer.tui.model.buffers.REQUESTS`), not to a buffer of its own; opening or
answering the conversation (:meth:`ChatModel.open_private`) moves that sender's lines to
``@name``. A sender whose name looks like a known one (a contact, a room-mate, an open
conversation; :mod:`peer.tui.model.look_alikes`) has each line marked, and the first such
line of each name comes with a warning spelling the name letter by letter.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterable
from typing import assert_never

from commons.errors import ErrorCode
from crypto.pinning import TrustState
from peer.events import (
    ChannelClosed,
    ChannelOpened,
    ChannelsRefused,
    ClientEvent,
    ConnectionLost,
    ErrorEvent,
    InvitedToRoom,
    KeyChanged,
    MemberJoined,
    MemberLeft,
    MemberOffline,
    MemberOnline,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageFailed,
    MessageReceived,
    ReactionChanged,
    ReadUpTo,
    Reconnected,
    RemovedFromRoom,
    RoomDeleted,
    RoomLost,
    RoomsRestored,
    SessionReplaced,
    TrustChanged,
    TypingChanged,
)
from peer.tui.model.buffers import (
    REQUESTS,
    STATUS,
    BufferId,
    BufferKind,
    BufferList,
    Line,
    LineKind,
    private_buffer,
    room_buffer,
)
from peer.tui.model.conversation_marks import ConversationMarks
from peer.tui.model.joined_rooms import JoinedRooms, RoomView
from peer.tui.model.look_alikes import Skeletons, is_mixed_script, spelled
from peer.tui.model.receipts import ReceiptBook

#: A sender's clock may run this far ahead of ours before we stop believing it.
MAX_CLOCK_AHEAD = 120.0
#: A message may have waited this long (a channel coming up) before arriving.
MAX_DELIVERY_DELAY = 3600.0
#: Names kept for completion (from /peers, /rooms, rooms and messages).
MAX_KNOWN_NAMES = 2000
#: Lines changed in place that may wait for the screen to redraw their rows.
MAX_REPLACED = 512

#: How a member's departure reads, by ``MemberLeft.reason``.
_LEFT_HOW = {
    "connection_lost": "lost their connection in",
    "kicked": "was removed by the owner from",
    "banned": "was banned by the owner from",
}


def shown_time(sent_at: float, received_at: float) -> float:
    """The time to show for a message: the sender's, unless it is implausible.

    A peer sets its own ``ts``; a clock far ahead of ours, or a message claiming to
    have waited longer than a delivery can, is shown at its arrival time instead, so
    nobody can make a message look as if it was written yesterday.
    """
    if received_at - MAX_DELIVERY_DELAY <= sent_at <= received_at + MAX_CLOCK_AHEAD:
        return sent_at
    return received_at


class ChatModel:
    """Buffers, room, members and trust for one logged-in user.

    ``clock`` gives the local time stamped on each line (tests pass a fixed one);
    ``contacts`` the names whose keys are pinned (the client's pin store: the screen
    passes :meth:`peer.client.chat_client.ChatClient.contacts`). Methods that add lines
    return the buffers they touched so the app redraws only what changed.
    """

    def __init__(
        self,
        username: str,
        clock: Callable[[], float] = time.time,
        contacts: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self.username = username
        self.buffers = BufferList()
        #: Our rooms in join order, their members online and offline.
        self.joined = JoinedRooms()
        self.verification: dict[str, TrustState] = {}
        #: How each open channel travels (``direct`` or ``relay``), by user.
        self.paths: dict[str, str] = {}
        self.pending_fingerprints: dict[str, tuple[str, ...]] = {}
        self.deleted_rooms: set[str] = set()
        #: Rooms whose owner banned us (until we are let in again).
        self.banned_from: set[str] = set()
        #: Users and rooms seen in listings and conversations, for Tab completion.
        self.known_users: set[str] = set()
        self.known_rooms: set[str] = set()
        self.connected = True
        self.session_ended = False
        self.receipts = ReceiptBook()
        #: Buffers whose drawn lines changed (a receipt mark): the screen redraws them.
        self.redraw: set[BufferId] = set()
        #: Buffers that lost lines (``/clear-history``): the screen draws them anew.
        self.rebuilt: set[BufferId] = set()
        #: This session replaced the user's identity key (contacts refuse it for now).
        self.replaced_key = False
        self._clock = clock
        self._contacts = contacts
        #: Replies, reactions, edits, deletes, typing and read markers on screen.
        self.marks = ConversationMarks(self.buffers, username, clock)
        self._skeletons = Skeletons()
        #: Look-alike senders already warned about (bounded like the known names).
        self._warned_look_alikes: set[str] = set()
        self._mention = re.compile(rf"(?<![\w.\-]){re.escape(username)}(?![\w\-])", re.I)

    # -- lines -----------------------------------------------------------------------

    def _line(self, kind: LineKind, text: str, sender: str | None = None) -> Line:
        return Line(self._clock(), kind, text, sender)

    def add(self, buffer_id: BufferId, kind: LineKind, text: str) -> BufferId:
        self.buffers.append(buffer_id, self._line(kind, text))
        return buffer_id

    def notice(self, text: str, buffer_id: BufferId | None = None) -> BufferId:
        """A system notice in ``buffer_id`` (default: the buffer being shown)."""
        return self.add(buffer_id or self.buffers.current.id, LineKind.NOTICE, text)

    def error(self, text: str, buffer_id: BufferId | None = None) -> BufferId:
        return self.add(buffer_id or self.buffers.current.id, LineKind.ERROR, text)

    def own_message(
        self,
        buffer_id: BufferId,
        text: str,
        msg_id: str | None = None,
        recipients: tuple[str, ...] = (),
        *,
        me: bool = False,
        quote: str | None = None,
    ) -> Line:
        """Our own message (``me``: an action; ``quote``: what it answers), with its
        delivery receipts followed when it has an id."""
        shown = f"* {self.username} {text}" if me else text
        line = Line(
            self._clock(), LineKind.OWN, shown, self.username, msg_id=msg_id, me=me, quote=quote
        )
        self.buffers.append(buffer_id, line)
        if msg_id is not None:
            self.receipts.sent(msg_id, buffer_id, text, recipients)
        return line

    def remember(self, *, users: Iterable[str] = (), rooms: Iterable[str] = ()) -> None:
        """Names to offer for completion; bounded, so a long /peers list cannot grow it
        without end."""
        for target, names in ((self.known_users, users), (self.known_rooms, rooms)):
            for name in names:
                if len(target) >= MAX_KNOWN_NAMES:
                    break
                target.add(name)

    # -- room and members --------------------------------------------------------------

    @property
    def room(self) -> str | None:
        """The current room: the room buffer shown, else the room shown last, else the
        first in join order (``None``: in no room)."""
        current = self.buffers.current.id
        if current.kind is BufferKind.ROOM and current.name in self.joined:
            return current.name
        if self.buffers.last_room in self.joined:
            return self.buffers.last_room
        return next(iter(self.joined.names()), None)

    @property
    def members(self) -> list[str]:
        """The current room's members online (this user included), sorted."""
        view = self.joined.get(self.room)
        return [] if view is None else view.members

    @property
    def room_owner(self) -> str | None:
        view = self.joined.get(self.room)
        return None if view is None else view.owner

    def set_room(self, room: str | None, members: Iterable[str], owner: str | None = None) -> None:
        """One room as our only room (``None``: none); see :meth:`set_rooms`."""
        self.set_rooms([] if room is None else [RoomView(room, owner, list(members))])

    def set_rooms(self, views: Iterable[RoomView]) -> None:
        """The client's rooms after a join/leave/create/login: the truth, replacing ours.
        Their buffers come right after the status buffer, in join order."""
        self.joined.replace(views)
        rooms = self.joined.names()
        for room in rooms:
            self.deleted_rooms.discard(room)
            self.banned_from.discard(room)
        self.remember(users=self.joined.everyone(), rooms=rooms)
        self.buffers.arrange_rooms(rooms)
        for buffer in self.buffers:
            if buffer.id.kind is BufferKind.ROOM:
                buffer.active = buffer.id.name in self.joined

    def set_verification(self, username: str, state: TrustState) -> None:
        self.verification[username] = state
        if state is not TrustState.KEY_CHANGED:
            self.pending_fingerprints.pop(username, None)

    def verification_of(self, username: str) -> TrustState:
        return self.verification.get(username, TrustState.UNVERIFIED)

    @property
    def key_changed_users(self) -> list[str]:
        return sorted(u for u, s in self.verification.items() if s is TrustState.KEY_CHANGED)

    # -- events ------------------------------------------------------------------------

    def apply(self, event: ClientEvent) -> list[BufferId]:
        """Fold one client event into the model; returns the buffers that changed.

        Exhaustive over :data:`peer.events.ClientEvent`: mypy refuses an event type left out.
        """
        match event:
            case MessageReceived():
                return [self._message(event)]
            case MemberJoined():
                return self._member_joined(event)
            case MemberLeft():
                return self._member_left(event)
            case MemberOnline() | MemberOffline():
                return self._presence(event)
            case RoomsRestored():
                return self._rooms_restored(event)
            case RoomDeleted():
                return self._room_deleted(event.room, event.owner)
            case KeyChanged():
                return self._key_changed(event)
            case TrustChanged():
                self._trust_changed(event)
                return []
            case MessageDelivered() | MessageFailed():
                return self._receipt(event)
            case ChannelClosed():
                return self._channel_closed(event)
            case ChannelOpened():
                self.paths[event.username] = event.path
                return []
            case ConnectionLost():
                self.connected = False
                if self.session_ended:
                    return []  # the tracker closing the replaced session: nothing to retry
                text = f"connection to the tracker lost ({event.detail}); reconnecting..."
                return self._everywhere(LineKind.WARNING, text)
            case Reconnected():
                self.connected = True
                return self._everywhere(LineKind.NOTICE, "reconnected to the tracker")
            case SessionReplaced():
                return self._session_replaced()
            case ErrorEvent():
                return [self.error(f"{event.message} [{event.code}]", STATUS)]
            case RemovedFromRoom():
                return self._removed(event)
            case RoomLost():
                self._drop_room(event.room)
                text = (
                    f"you are no longer in #{event.room}: its owner removed you, or deleted"
                    " it, while you were disconnected"
                )
                targets = [room_buffer(event.room), self.buffers.current.id, STATUS]
                return [self.add(t, LineKind.WARNING, text) for t in dict.fromkeys(targets)]
            case InvitedToRoom():
                # An invitation says the room exists and its owner lets us in again.
                self.deleted_rooms.discard(event.room)
                self.banned_from.discard(event.room)
                text = f"{event.by} invited you to #{event.room}: /join {event.room} to enter it"
                return [self.notice(text, STATUS)]
            case ChannelsRefused():
                return [self.add(STATUS, LineKind.WARNING, _refused_text(event))]
            case MessageEdited():
                where = self.marks.buffers_of(event.room, event.username)
                return self.amended(
                    self.marks.edited(where, event.username, event.msg_id, event.text)
                )
            case MessageDeleted():
                where = self.marks.buffers_of(event.room, event.username)
                return self.amended(self.marks.deleted(where, event.username, event.msg_id))
            case ReactionChanged():
                where = self.marks.buffers_of(event.room, event.username)
                return self.amended(
                    self.marks.reacted(where, event.target, event.username, event.emoji, event.on)
                )
            case TypingChanged():
                buffer_id = self.marks.buffers_of(event.room, event.username)[0]
                self.marks.typing(buffer_id, event.username, event.active)
                return [buffer_id]
            case ReadUpTo():
                buffer_id = self.marks.buffers_of(event.room, event.username)[0]
                self.marks.read(buffer_id, event.username, event.up_to)
                return [buffer_id]
            case _:
                assert_never(event)

    def amended(self, buffer_id: BufferId | None) -> list[BufferId]:
        """A message of ``buffer_id`` changed in place (``None``: none did). The screen
        redraws its row from ``marks.replaced``; past :data:`MAX_REPLACED` waiting, the
        list is dropped and the buffer shown is drawn anew instead."""
        if buffer_id is None:
            return []
        if len(self.marks.replaced) > MAX_REPLACED:
            self.marks.replaced.clear()
            self.rebuilt.add(self.buffers.current.id)
        return [buffer_id]

    def is_mention(self, text: str) -> bool:
        return bool(self._mention.search(text))

    def is_contact(self, username: str) -> bool:
        """Someone the user deals with: pinned, in our room, or with a private buffer."""
        return (
            private_buffer(username) in self.buffers
            or username in self.joined.everyone()
            or username in self.verification
            or username in self._contacts()
        )

    def buffer_for(self, event: MessageReceived) -> BufferId:
        """Where ``event`` is shown: its room, its sender's buffer, or the requests."""
        if event.room is not None:
            return room_buffer(event.room)
        if self.is_contact(event.sender):
            return private_buffer(event.sender)
        return REQUESTS

    def open_private(self, username: str) -> BufferId:
        """The private buffer of ``username`` (the user opens or answers it): created if
        needed, with ``username``'s lines moved there from the requests buffer."""
        buffer_id = private_buffer(username)
        if buffer_id not in self.buffers:
            buffer = self.buffers.ensure(buffer_id)
            requests = self.buffers.get(REQUESTS)
            moved = [] if requests is None else requests.take_from(username)
            if moved:
                buffer.lines.extend(moved)
                buffer.total += len(moved)
                self.rebuilt.add(REQUESTS)
        return buffer_id

    def look_alike_of(self, username: str) -> str | None:
        """The known name ``username`` looks like (or ``username`` itself when it mixes
        scripts), else ``None``."""
        if is_mixed_script(username):
            return username
        names: list[str] = [self.username, *self.joined.everyone()]
        names += [b.id.name for b in self.buffers if b.id.kind is BufferKind.PRIVATE]
        names += self.verification
        names += self._contacts()
        return self._skeletons.look_alike(username, names)

    def _message(self, event: MessageReceived) -> BufferId:
        buffer_id = self.buffer_for(event)
        if buffer_id == REQUESTS and REQUESTS not in self.buffers:
            self.add(
                REQUESTS,
                LineKind.NOTICE,
                "messages from people who are not your contacts land here: /query NAME"
                " opens one (answering makes them a contact, whose key is then pinned)",
            )
        highlight = buffer_id.kind is BufferKind.PRIVATE or (
            event.room is not None and self.is_mention(event.text)
        )
        mention = highlight and event.room is not None
        shown = shown_time(event.timestamp, self._clock())
        look_alike = self.look_alike_of(event.sender)
        quoted = event.reply_to
        where = self.marks.buffers_of(event.room, event.sender)
        line = Line(
            shown,
            LineKind.MESSAGE,
            f"* {event.sender} {event.text}" if event.me else event.text,
            event.sender,
            mention,
            msg_id=event.msg_id,
            look_alike=look_alike,
            me=event.me,
            quote=None if quoted is None else self.marks.quote(where, quoted),
        )
        self.marks.typing(buffer_id, event.sender, active=False)  # sent: no longer typing
        warned = self._warned_look_alikes
        if look_alike is not None and event.sender not in warned and len(warned) < MAX_KNOWN_NAMES:
            warned.add(event.sender)
            self.add(buffer_id, LineKind.WARNING, _look_alike_text(event.sender, look_alike))
        self.buffers.append(buffer_id, line, highlight=highlight)
        self.remember(users=[event.sender])
        return buffer_id

    def forget(self, username: str) -> None:
        """``username`` is no contact any more (``/forget``): drop their trust state."""
        self.verification.pop(username, None)
        self.pending_fingerprints.pop(username, None)

    def _member_joined(self, event: MemberJoined) -> list[BufferId]:
        self.joined.joined(event.room, event.username)
        return [self.notice(f"{event.username} joined #{event.room}", room_buffer(event.room))]

    def _member_left(self, event: MemberLeft) -> list[BufferId]:
        self.joined.left(event.room, event.username)
        view = self.joined.get(event.room)
        ours = view is not None and view.owner == self.username
        if event.reason in ("kicked", "banned") and ours:
            return []  # our own /kick or /ban: its result line says it once
        how = _LEFT_HOW.get(event.reason, "left")
        return [self.notice(f"{event.username} {how} #{event.room}", room_buffer(event.room))]

    def _presence(self, event: MemberOnline | MemberOffline) -> list[BufferId]:
        """A member's session started or ended: a notice in that room's buffer (their
        membership is unchanged)."""
        online = isinstance(event, MemberOnline)
        self.joined.presence(event.room, event.username, online)
        how = "is online in" if online else "went offline in"
        return [self.notice(f"{event.username} {how} #{event.room}", room_buffer(event.room))]

    def _rooms_restored(self, event: RoomsRestored) -> list[BufferId]:
        if not event.rooms:
            return []
        rooms = ", ".join(f"#{r}" for r in event.rooms)
        return [self.notice(f"back in {rooms}", STATUS)]

    def _channel_closed(self, event: ChannelClosed) -> list[BufferId]:
        self.paths.pop(event.username, None)
        buffer_id = private_buffer(event.username)
        if buffer_id not in self.buffers:
            return []
        return [self.notice(f"channel to {event.username} closed: {event.reason}", buffer_id)]

    def _removed(self, event: RemovedFromRoom) -> list[BufferId]:
        self._drop_room(event.room)
        how = "banned you from" if event.reason == "banned" else "removed you from"
        if event.reason == "banned":
            self.banned_from.add(event.room)
        text = f"{event.by} {how} #{event.room}"
        targets = [room_buffer(event.room), self.buffers.current.id]
        return [self.add(t, LineKind.WARNING, text) for t in dict.fromkeys(targets)]

    def _room_deleted(self, room: str, owner: str | None) -> list[BufferId]:
        self.deleted_rooms.add(room)
        self._drop_room(room)
        self.known_rooms.discard(room)
        if owner == self.username:
            text = f"you deleted room #{room}"
        elif owner is not None:
            text = f"room #{room} was deleted by its owner {owner}"
        else:
            text = f"room #{room} was deleted"
        buffer_id = room_buffer(room)
        touched = [self.add(buffer_id, LineKind.WARNING, text)]
        buffer = self.buffers.get(buffer_id)
        if buffer is not None:
            buffer.active = False
        if self.buffers.current.id != buffer_id:
            touched.append(self.notice(text))
        return touched

    def _key_changed(self, event: KeyChanged) -> list[BufferId]:
        user = event.username
        self.verification[user] = TrustState.KEY_CHANGED
        self.pending_fingerprints[user] = event.pending
        text = (
            f"the identity key of {user} CHANGED (new fingerprint {event.fingerprint})."
            f" Sending to {user} is blocked until you decide: /verify {user}, /trust {user}"
            f" or /reject {user}."
        )
        if len(event.pending) > 1:
            text += (
                f" Another new key arrived while one was undecided: {len(event.pending)} keys"
                f" are in question ({'; '.join(event.pending)}); /verify {user} shows them all."
            )
        targets = [STATUS, self.buffers.current.id]
        if private_buffer(event.username) in self.buffers:
            targets.append(private_buffer(event.username))
        targets += [room_buffer(r) for r in self.joined.rooms_of(event.username)]
        return [self.add(t, LineKind.WARNING, text) for t in dict.fromkeys(targets)]

    def _drop_room(self, room: str) -> None:
        """We are out of ``room`` (removed, deleted): its buffer stays, inactive."""
        if self.joined.drop(room):
            buffer = self.buffers.get(room_buffer(room))
            if buffer is not None:
                buffer.active = False

    def _trust_changed(self, event: TrustChanged) -> None:
        match event.state:
            case TrustState.KEY_CHANGED:  # KeyChanged said which keys are in question
                self.verification[event.username] = TrustState.KEY_CHANGED
            case TrustState.VERIFIED:
                self.set_verification(event.username, TrustState.VERIFIED)
            case _:
                self.set_verification(event.username, TrustState.UNVERIFIED)

    def _receipt(self, event: MessageDelivered | MessageFailed) -> list[BufferId]:
        if isinstance(event, MessageDelivered):
            buffer_id = self.receipts.delivered(event.msg_id, event.username)
        else:
            buffer_id = self.receipts.failed(event.msg_id, event.username, event.reason)
        if buffer_id is None:
            return []
        self.redraw.add(buffer_id)
        return [buffer_id]

    def _session_replaced(self) -> list[BufferId]:
        """One final state: the tracker ended this session for a newer one elsewhere.

        The client does not reconnect (that would end the other session in turn), the
        room is gone with the session (the core closed its channels), and the tracker's
        closing the connection right after is no "reconnecting" (see ``ConnectionLost``).
        """
        rooms = self.joined.names()
        self.connected = False
        self.session_ended = True
        self.set_rooms([])
        text = (
            "you logged in somewhere else, so the tracker ended this session: nothing more"
            " is sent or received here. /quit, and log in again here to take it back."
        )
        targets = [STATUS, self.buffers.current.id, *(room_buffer(r) for r in rooms)]
        return [self.add(t, LineKind.WARNING, text) for t in dict.fromkeys(targets)]

    def join_refused(self, room: str, code: str) -> None:
        """What a refused ``/join`` tells about ``room``, for the hints: banned, or gone."""
        if code == ErrorCode.BANNED:
            self.banned_from.add(room)
        elif code == ErrorCode.ROOM_NOT_FOUND:
            self.deleted_rooms.add(room)

    def rooms_listed(self, rooms: Iterable[str]) -> None:
        """Rooms the tracker lists now exist, whatever we saw deleted before."""
        listed = list(rooms)
        self.remember(rooms=listed)
        self.deleted_rooms.difference_update(listed)

    def _everywhere(self, kind: LineKind, text: str) -> list[BufferId]:
        targets = [STATUS, self.buffers.current.id]
        if self.room is not None:
            targets.append(room_buffer(self.room))
        return [self.add(t, kind, text) for t in dict.fromkeys(targets)]


def _refused_text(event: ChannelsRefused) -> str:
    who = "other names" if event.username == "*" else event.username
    return (
        f"{event.count} more channels claiming to be {who} were refused in the last"
        f" {event.seconds:g} s [{event.code}]"
    )


def _look_alike_text(sender: str, like: str) -> str:
    if sender == like:
        return f"the name {spelled(sender)} mixes letters of several scripts"
    return (
        f"{sender} is not {like}: the names look alike ({spelled(sender)}). Check who"
        " this is before you answer."
    )
