"""The tracker's replies and pushes as typed values (client side), without I/O."""

from __future__ import annotations

import base64

import pytest

from commons.errors import ProtocolError, ValidationError
from peer.session.messages import (
    InvitedPush,
    JoinReply,
    KeyChangedPush,
    KickedPush,
    LoginReply,
    PeerPage,
    RoomDeletedPush,
    RoomPage,
    RoomUpdate,
    SessionReplacedPush,
    parse_lookup,
    parse_push,
)

KEY = base64.b64encode(bytes(range(1, 33))).decode()
MEMBER = {"username": "bob", "host": "127.0.0.1", "port": 4000, "identity_key": KEY}


def test_login_reply_with_a_bad_heartbeat_falls_back_to_the_default() -> None:
    reply = LoginReply.parse({"username": "alice", "heartbeat_interval": True, "host": None})
    assert reply == LoginReply("alice", 10.0, None)
    assert LoginReply.parse({"username": "alice", "heartbeat_interval": 2}).heartbeat_interval == 2


def test_pages_lookup_and_join_reply() -> None:
    peer = {**MEMBER, "room": None, "last_seen": 1.0}
    peers = PeerPage.parse({"peers": [peer], "total": 7, "truncated": True, "next": "bob"})
    assert peers.page.truncated and peers.page.next_cursor == "bob" and peers.page.total == 7
    assert peers.peers[0].username == "bob"
    room = {"room": "lobby", "owner": "bob", "members": ["bob"], "capacity": 3}
    rooms = RoomPage.parse({"rooms": [room], "total": 1, "truncated": False, "next": None})
    assert rooms.page.next_cursor is None and not rooms.rooms[0].invite_only
    joined = JoinReply.parse({"room": room, "members": [MEMBER]})
    assert joined.room.name == "lobby" and joined.members[0].port == 4000
    with pytest.raises(ProtocolError):
        PeerPage.parse({"peers": "everyone", "total": 1})
    assert parse_lookup({"peer": peer}, "BOB").username == "bob"  # names match ignoring case
    with pytest.raises(ProtocolError):  # a tracker answering with someone else
        parse_lookup({"peer": peer}, "carol")


def test_pushes_are_typed() -> None:
    update = {"room": "lobby", "owner": "bob", "capacity": 3, "members": [MEMBER]}
    pushed = parse_push("ROOM_UPDATE", update)
    assert isinstance(pushed, RoomUpdate) and pushed.members[0].username == "bob"
    assert parse_push("ROOM_DELETED", {"room": "lobby"}) == RoomDeletedPush("lobby")
    assert parse_push("SESSION_REPLACED", {}) == SessionReplacedPush()
    changed = parse_push("KEY_CHANGED", {"username": "bob", "identity_key": KEY})
    assert changed == KeyChangedPush("bob", bytes(range(1, 33)))
    assert parse_push("SOMETHING_NEW", {}) is None
    kicked = parse_push("KICKED", {"room": "lobby", "by": "bob", "reason": "banned"})
    assert isinstance(kicked, KickedPush) and kicked.kicked.reason == "banned"
    invited = parse_push("INVITED", {"room": "lobby", "by": "bob"})
    assert isinstance(invited, InvitedPush) and invited.invited.by == "bob"
    update = parse_push("ROOM_UPDATE", {**{"invite_only": True}, **_update()})
    assert isinstance(update, RoomUpdate) and update.invite_only


def _update() -> dict[str, object]:
    return {"room": "lobby", "owner": "bob", "capacity": 3, "members": [MEMBER]}


@pytest.mark.parametrize(
    ("event", "body"),
    [
        ("ROOM_UPDATE", {"room": "lobby", "owner": "bob", "capacity": 3, "members": "x"}),
        ("ROOM_UPDATE", {"room": "bad room", "owner": "bob", "capacity": 3, "members": []}),
        ("KEY_CHANGED", {"username": "bob"}),
        ("ROOM_DELETED", {}),
        ("KICKED", {"room": "lobby", "by": "bob", "reason": "nope"}),
        ("INVITED", {"room": "lobby"}),
        (
            "ROOM_UPDATE",
            {"room": "lobby", "owner": "bob", "capacity": 3, "members": [], "invite_only": "yes"},
        ),
    ],
)
def test_bad_pushes_are_refused(event: str, body: dict[str, object]) -> None:
    with pytest.raises((ValidationError, ProtocolError)):
        parse_push(event, body)
