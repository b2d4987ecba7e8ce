"""The tracker's replies and pushes as typed values, sans-I/O (the client side of
:mod:`commons.tracker_protocol`).

Every field the client uses is validated here, once; the rest of the peer never digs in
a reply's dictionary. A push of an unknown kind parses to ``None`` (a newer tracker may
send events this client does not know), a known one with a bad field raises
:class:`commons.errors.ValidationError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from commons.codec import JsonObject
from commons.errors import ProtocolError, ValidationError
from commons.models import (
    MAX_ROOM_CAPACITY,
    MemberInfo,
    PeerInfo,
    RoomInfo,
    decode_identity_key,
    validate_capacity,
    validate_host,
    validate_identity_key,
    validate_room_name,
    validate_username,
)
from commons.relay_frames import (
    RELAY_END_EVENT,
    RELAY_EVENT,
    RelayedBody,
    RelayEnded,
    parse_relay_end,
    parse_relay_push,
)
from commons.room_control import Invited, Kicked, Page, Removed
from commons.tracker_protocol import Event, validate_ticket
from crypto.login_secret import ACCOUNT_SALT_SIZE, LoginKdf, validate_realm

DEFAULT_HEARTBEAT = 10.0
#: Rooms kept from a LOGIN/RESUME reply whatever the tracker says (trackers allow 20 per
#: user); the rest are refused and counted in the log. Equals ``peer.core.rooms.MAX_ROOMS``.
MAX_LOGIN_ROOMS = 64
#: The events this module knows beyond :class:`commons.tracker_protocol.Event`.
PRESENCE_EVENT = "PRESENCE"

log = logging.getLogger(__name__)


def _list(reply: JsonObject, name: str) -> list[object]:
    value = reply.get(name)
    if not isinstance(value, list):
        raise ProtocolError(f"tracker reply without a '{name}' list")
    return value


@dataclass(frozen=True, slots=True)
class Roster:
    """A room's member list with presence: ``online`` the members whose session is up
    (how to reach them), ``names`` every member in join order, or ``None`` from a tracker
    without durable membership (whose list holds only online members and no ``online``
    field)."""

    online: list[MemberInfo]
    names: list[str] | None

    @classmethod
    def parse(cls, items: list[object]) -> Roster:
        """Member entries ``{username, online?, identity_key?, host?, port?}``: a missing
        ``online`` means online (an older tracker); an offline member needs only
        ``username``. At most ``MAX_ROOM_CAPACITY`` entries, each name once."""
        if len(items) > MAX_ROOM_CAPACITY:
            raise ValidationError(f"a room lists at most {MAX_ROOM_CAPACITY} members")
        online: list[MemberInfo] = []
        names: list[str] = []
        durable = False
        for item in items:
            if not isinstance(item, dict):
                raise ValidationError("member entry must be an object")
            flag = item.get("online", True)
            if not isinstance(flag, bool):
                raise ValidationError("a member's 'online' must be a boolean")
            durable = durable or "online" in item
            if flag:
                info = MemberInfo.from_wire(item)
                online.append(info)
                names.append(info.username)
            else:
                names.append(validate_username(item.get("username")))
        if len(set(names)) != len(names):
            raise ValidationError("a member is listed twice")
        return cls(online, names if durable else None)


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """One room of a LOGIN/RESUME reply: the room and its roster. ``omitted``: the
    tracker left the member entries out (``members_omitted``: every room of a user in
    many full rooms does not fit one frame); the roster then holds the room object's
    names, nobody is known online, and the client asks for the entries with a
    ``JOIN_ROOM`` of the room it is in (:func:`peer.client.room_restore.restore_rooms`)."""

    room: RoomInfo
    roster: Roster
    omitted: bool = False

    @classmethod
    def parse(cls, item: object) -> RoomRecord:
        if not isinstance(item, dict):
            raise ValidationError("a room of the login reply must be an object")
        room = RoomInfo.from_wire(item.get("room"))
        members = item.get("members")
        if members is None and item.get("members_omitted") is True:
            return cls(room, Roster([], list(room.members)), omitted=True)
        if not isinstance(members, list):
            raise ValidationError("a room of the login reply needs a 'members' list")
        return cls(room, Roster.parse(members))


def parse_login_rooms(value: object) -> tuple[RoomRecord, ...] | None:
    """The ``rooms`` of a LOGIN/RESUME reply (``None``: absent, an older tracker). The
    first :data:`MAX_LOGIN_ROOMS` are kept, the rest refused (counted in the log)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValidationError("field 'rooms' must be a list")
    if len(value) > MAX_LOGIN_ROOMS:
        refused = len(value) - MAX_LOGIN_ROOMS
        log.warning(
            "the tracker listed %d rooms; %d beyond %d refused",
            len(value),
            refused,
            MAX_LOGIN_ROOMS,
        )
    return tuple(RoomRecord.parse(item) for item in value[:MAX_LOGIN_ROOMS])


@dataclass(frozen=True, slots=True)
class LoginReply:
    """A LOGIN or RESUME reply. ``host``: the address the tracker sees us at; ``relay``:
    whether it relays; ``ticket`` resumes the session once (``None`` from a tracker
    without tickets); ``rooms``: the rooms we are a member of, in join order (``None``
    from a tracker without durable membership)."""

    username: str
    heartbeat_interval: float
    host: str | None
    relay: bool = False
    ticket: str | None = None
    rooms: tuple[RoomRecord, ...] | None = None

    @classmethod
    def parse(cls, reply: JsonObject) -> LoginReply:
        interval = reply.get("heartbeat_interval")
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            interval = DEFAULT_HEARTBEAT
        host = reply.get("host")
        ticket = reply.get("ticket")
        return cls(
            validate_username(reply.get("username")),
            float(interval),
            None if host is None else validate_host(host),
            reply.get("relay") is True,
            None if ticket is None else validate_ticket(ticket),
            parse_login_rooms(reply.get("rooms")),
        )

    def __repr__(self) -> str:
        return f"LoginReply({self.username!r}, ticket=<hidden>)"


@dataclass(frozen=True, slots=True)
class SaltReply:
    """``SALT``: the account's salt, the client's Argon2id cost, the group's realm,
    whether the account still has a legacy verifier and, for one, the tracker's key its
    upgrade proves the identity key against (:mod:`crypto.legacy_upgrade`; a tracker
    from before the proof sends none)."""

    salt: bytes
    kdf: LoginKdf
    realm: str
    legacy: bool
    upgrade_key: bytes | None = None

    @classmethod
    def parse(cls, reply: JsonObject) -> SaltReply:
        raw = reply.get("salt")
        if not isinstance(raw, str) or len(raw) != 2 * ACCOUNT_SALT_SIZE:
            raise ValidationError(f"field 'salt' must be {ACCOUNT_SALT_SIZE} bytes in hex")
        try:
            salt = bytes.fromhex(raw)
        except ValueError:
            raise ValidationError("field 'salt' must be hex") from None
        legacy = reply.get("legacy", False)
        if not isinstance(legacy, bool):
            raise ValidationError("field 'legacy' must be a boolean")
        upgrade_key = None
        if reply.get("upgrade_key") is not None:
            if not legacy:
                raise ValidationError("field 'upgrade_key' comes only with 'legacy'")
            upgrade_key = decode_identity_key(
                validate_identity_key(reply.get("upgrade_key"), "upgrade_key")
            )
        kdf = LoginKdf.from_wire(reply.get("kdf"))
        return cls(salt, kdf, validate_realm(reply.get("realm")), legacy, upgrade_key)


@dataclass(frozen=True, slots=True)
class PeerPage:
    """One page of ``LIST_PEERS``: ``page.next_cursor`` asks for the next one."""

    peers: list[PeerInfo]
    page: Page

    @classmethod
    def parse(cls, reply: JsonObject) -> PeerPage:
        peers = [PeerInfo.from_wire(item) for item in _list(reply, "peers")]
        return cls(peers, Page.from_wire(reply))


@dataclass(frozen=True, slots=True)
class RoomPage:
    """One page of ``LIST_ROOMS``."""

    rooms: list[RoomInfo]
    page: Page

    @classmethod
    def parse(cls, reply: JsonObject) -> RoomPage:
        rooms = [RoomInfo.from_wire(item) for item in _list(reply, "rooms")]
        return cls(rooms, Page.from_wire(reply))


def parse_lookup(reply: JsonObject, asked: str) -> PeerInfo:
    """A ``LOOKUP`` reply: the user asked for. The tracker matches names ignoring case
    and returns the exact one; anything else is a broken reply."""
    peer = PeerInfo.from_wire(reply.get("peer"))
    if peer.username.casefold() != asked.casefold():
        raise ProtocolError("the tracker answered a LOOKUP with another user")
    return peer


def parse_room_target(reply: JsonObject) -> tuple[str, str]:
    """``(room, user)`` of a KICK, BAN, UNBAN, INVITE or UNINVITE reply."""
    return validate_room_name(reply.get("room")), validate_username(reply.get("user"))


@dataclass(frozen=True, slots=True)
class InviteReply:
    """An ``INVITE`` reply: who was invited where, and how full the room is (``None``
    from a tracker that does not say)."""

    room: str
    user: str
    member_count: int | None
    capacity: int | None

    @property
    def full(self) -> bool:
        """The room has no seat left: the invitee cannot join until someone leaves."""
        return (
            self.member_count is not None
            and self.capacity is not None
            and self.member_count >= self.capacity
        )

    @classmethod
    def parse(cls, reply: JsonObject) -> InviteReply:
        room, user = parse_room_target(reply)
        count, capacity = reply.get("member_count"), reply.get("capacity")
        if count is None or capacity is None:
            return cls(room, user, None, None)
        capacity = validate_capacity(capacity)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= capacity:
            raise ValidationError(f"member_count must be an integer from 0 to {capacity}")
        return cls(room, user, count, capacity)


def parse_created(reply: JsonObject) -> RoomInfo:
    return RoomInfo.from_wire(reply.get("room"))


@dataclass(frozen=True, slots=True)
class JoinReply:
    room: RoomInfo
    members: list[MemberInfo]
    #: Every member in join order (``None``: an older tracker); see :class:`Roster`.
    roster: list[str] | None = None

    @classmethod
    def parse(cls, reply: JsonObject) -> JoinReply:
        roster = Roster.parse(_list(reply, "members"))
        return cls(RoomInfo.from_wire(reply.get("room")), roster.online, roster.names)


@dataclass(frozen=True, slots=True)
class RoomUpdate:
    room: str
    owner: str
    capacity: int
    members: list[MemberInfo]
    invite_only: bool = False
    #: The member this update takes out on purpose (left, kicked, banned), if any.
    removed: Removed | None = None
    #: Every member in join order (``None``: an older tracker); ``members`` are online.
    roster: list[str] | None = None


@dataclass(frozen=True, slots=True)
class PresencePush:
    """``PRESENCE``: ``username``'s session started (``online``) or ended; ``rooms``:
    the rooms we share with them (sorted); ``member``: how to reach them when online."""

    username: str
    online: bool
    rooms: tuple[str, ...]
    member: MemberInfo | None

    @classmethod
    def parse(cls, body: JsonObject) -> PresencePush:
        username = validate_username(body.get("username"))
        online = body.get("online")
        if not isinstance(online, bool):
            raise ValidationError("PRESENCE needs a boolean 'online'")
        rooms = _list(body, "rooms")
        if not 1 <= len(rooms) <= MAX_LOGIN_ROOMS:
            raise ValidationError(f"PRESENCE names 1 to {MAX_LOGIN_ROOMS} rooms")
        names = tuple(dict.fromkeys(validate_room_name(r) for r in rooms))
        member = None
        if online:
            member = MemberInfo.from_wire(body.get("member"))
            if member.username != username:
                raise ValidationError("PRESENCE's member is someone else")
        return cls(username, online, names, member)


@dataclass(frozen=True, slots=True)
class RoomDeletedPush:
    room: str


@dataclass(frozen=True, slots=True)
class SessionReplacedPush:
    pass


@dataclass(frozen=True, slots=True)
class SessionEndedPush:
    """The tracker ended the session (``ticket_reused``: a spent ticket came back)."""

    reason: str


@dataclass(frozen=True, slots=True)
class KeyChangedPush:
    username: str
    identity_key: bytes


@dataclass(frozen=True, slots=True)
class KickedPush:
    """The owner removed us from a room (``KICKED``)."""

    kicked: Kicked


@dataclass(frozen=True, slots=True)
class InvitedPush:
    """The owner of a room invited us (``INVITED``)."""

    invited: Invited


TrackerPush = (
    RoomUpdate
    | PresencePush
    | RoomDeletedPush
    | SessionReplacedPush
    | SessionEndedPush
    | KeyChangedPush
    | KickedPush
    | InvitedPush
)
RelayPush = RelayedBody | RelayEnded


def parse_push(event: str, body: JsonObject) -> TrackerPush | RelayPush | None:
    """The typed push, ``None`` for an event this client does not know."""
    if event == RELAY_EVENT:  # by far the most frequent
        return parse_relay_push(body)
    if event == RELAY_END_EVENT:
        return parse_relay_end(body)
    if event == Event.ROOM_UPDATE:
        invite_only = body.get("invite_only", False)
        if not isinstance(invite_only, bool):
            raise ValidationError("field 'invite_only' must be a boolean")
        roster = Roster.parse(_list(body, "members"))
        return RoomUpdate(
            validate_room_name(body.get("room")),
            validate_username(body.get("owner")),
            validate_capacity(body.get("capacity")),
            roster.online,
            invite_only,
            None if body.get("removed") is None else Removed.from_wire(body["removed"]),
            roster.names,
        )
    if event == PRESENCE_EVENT:
        return PresencePush.parse(body)
    if event == Event.ROOM_DELETED:
        return RoomDeletedPush(validate_room_name(body.get("room")))
    if event == Event.SESSION_REPLACED:
        return SessionReplacedPush()
    if event == Event.SESSION_ENDED:
        reason = body.get("reason")
        if not isinstance(reason, str) or not 1 <= len(reason) <= 64:
            raise ValidationError("SESSION_ENDED without a reason")
        return SessionEndedPush(reason)
    if event == Event.KEY_CHANGED:
        raw_key = body.get("identity_key")
        if not isinstance(raw_key, str):
            raise ValidationError("KEY_CHANGED without an identity_key")
        return KeyChangedPush(validate_username(body.get("username")), decode_identity_key(raw_key))
    if event == Event.KICKED:
        return KickedPush(Kicked.from_wire(body))
    if event == Event.INVITED:
        return InvitedPush(Invited.from_wire(body))
    return None
