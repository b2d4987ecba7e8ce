"""The room-control records round-trip and refuse malformed frames field by field."""

from __future__ import annotations

import pytest

from commons.errors import ValidationError
from commons.room_control import Invited, Kicked, KickReason, Page, RoomAccess


@pytest.mark.parametrize(
    "record",
    [
        Kicked("lobby", "alice", KickReason.BANNED),
        Invited("lobby", "alice"),
        RoomAccess("lobby", True, ("bob",), ("mallory", "trudy")),
        Page(1002, "aaa0416"),
        Page(3, None),
    ],
)
def test_round_trip(record):
    assert type(record).from_wire(record.to_wire()) == record


@pytest.mark.parametrize(
    ("cls", "wire"),
    [
        (Kicked, {"room": "lobby", "by": "alice", "reason": "bored"}),
        (Kicked, {"room": "lobby", "by": "", "reason": "kicked"}),
        (Invited, {"room": "a/b", "by": "alice"}),
        (Invited, ["lobby", "alice"]),
        (RoomAccess, {"room": "r", "invite_only": 1, "invited": [], "banned": []}),
        (RoomAccess, {"room": "r", "invite_only": True, "invited": "bob", "banned": []}),
        (RoomAccess, {"room": "r", "invite_only": True, "invited": [], "banned": ["a b"]}),
        (Page, {"total": -1, "next": None}),
        (Page, {"total": True, "next": None}),
        (Page, {"total": 3, "next": 7}),
    ],
)
def test_malformed_frames_are_refused(cls, wire):
    with pytest.raises(ValidationError):
        cls.from_wire(wire)


def test_a_reply_without_paging_is_one_page():
    assert Page.from_wire({"peers": [], "total": 2, "truncated": False}) == Page(2, None)
