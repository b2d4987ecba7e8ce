"""The tracker's replies and pushes as typed values (client side), without I/O."""

from __future__ import annotations

import base64

import pytest

from commons.errors import ProtocolError, ValidationError
from peer.tracker_messages import (
    JoinReply,
    KeyChangedPush,
    LoginReply,
    PeerList,
    RoomDeletedPush,
    RoomUpdate,
    SessionReplacedPush,
    parse_push,
)

KEY = base64.b64encode(bytes(range(1, 33))).decode()
MEMBER = {"username": "bob", "host": "127.0.0.1", "port": 4000, "identity_key": KEY}


def test_login_reply_with_a_bad_heartbeat_falls_back_to_the_default() -> None:
    reply = LoginReply.parse({"username": "alice", "heartbeat_interval": True, "host": None})
    assert reply == LoginReply("alice", 10.0, None)
    assert LoginReply.parse({"username": "alice", "heartbeat_interval": 2}).heartbeat_interval == 2


def test_peer_list_and_join_reply() -> None:
    peer = {**MEMBER, "room": None, "last_seen": 1.0}
    peers = PeerList.parse({"peers": [peer], "truncated": True})
    assert peers.truncated and peers.peers[0].username == "bob"
    room = {"room": "lobby", "owner": "bob", "members": ["bob"], "capacity": 3}
    joined = JoinReply.parse({"room": room, "members": [MEMBER]})
    assert joined.room.name == "lobby" and joined.members[0].port == 4000
    with pytest.raises(ProtocolError):
        PeerList.parse({"peers": "everyone"})


def test_pushes_are_typed() -> None:
    update = {"room": "lobby", "owner": "bob", "capacity": 3, "members": [MEMBER]}
    pushed = parse_push("ROOM_UPDATE", update)
    assert isinstance(pushed, RoomUpdate) and pushed.members[0].username == "bob"
    assert parse_push("ROOM_DELETED", {"room": "lobby"}) == RoomDeletedPush("lobby")
    assert parse_push("SESSION_REPLACED", {}) == SessionReplacedPush()
    changed = parse_push("KEY_CHANGED", {"username": "bob", "identity_key": KEY})
    assert changed == KeyChangedPush("bob", bytes(range(1, 33)))
    assert parse_push("SOMETHING_NEW", {}) is None


@pytest.mark.parametrize(
    ("event", "body"),
    [
        ("ROOM_UPDATE", {"room": "lobby", "owner": "bob", "capacity": 3, "members": "x"}),
        ("ROOM_UPDATE", {"room": "bad room", "owner": "bob", "capacity": 3, "members": []}),
        ("KEY_CHANGED", {"username": "bob"}),
        ("ROOM_DELETED", {}),
    ],
)
def test_bad_pushes_are_refused(event: str, body: dict[str, object]) -> None:
    with pytest.raises((ValidationError, ProtocolError)):
        parse_push(event, body)
