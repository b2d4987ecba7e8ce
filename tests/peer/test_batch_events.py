"""Batch mode's objects for the events and errors of room control and abuse limits."""

from __future__ import annotations

import typing

import pytest

from commons.errors import ErrorCode, P2PChatError, RateLimitedError, ValidationError
from peer import events as ev
from peer.batch import error_to_json, event_to_json
from peer.commands.results import UserControlled, result_to_json
from peer.commands.table import OwnerAction
from peer.session.messages import InviteReply


def test_room_control_and_refusal_events() -> None:
    assert event_to_json(ev.RemovedFromRoom("lobby", "bob", "banned")) == {
        "event": "removed_from_room",
        "room": "lobby",
        "by": "bob",
        "reason": "banned",
    }
    assert event_to_json(ev.InvitedToRoom("lobby", "bob")) == {
        "event": "invited_to_room",
        "room": "lobby",
        "by": "bob",
    }
    assert event_to_json(ev.ChannelsRefused("alice", "key_mismatch", 6509, 60.0)) == {
        "event": "channels_refused",
        "user": "alice",
        "code": "key_mismatch",
        "count": 6509,
        "seconds": 60.0,
    }


def test_every_event_has_its_own_name() -> None:
    kinds = typing.get_args(ev.ClientEvent)
    samples = {kind: _sample(kind) for kind in kinds}
    names = [event_to_json(sample)["event"] for sample in samples.values()]
    assert len(set(names)) == len(kinds)


def _sample(kind: type) -> ev.ClientEvent:
    hints = typing.get_type_hints(kind)
    values: dict[str, object] = {"str": "x", "str | None": None, "float": 1.0, "int": 1}
    values["bytes"] = b"k"
    values["tuple[str, ...]"] = ()
    values["bool"] = True
    values["peer.events.MessageRef"] = ev.MessageRef("x", "y")
    values["peer.events.MessageRef | None"] = None
    args = [values[str(t).replace("<class '", "").replace("'>", "")] for t in hints.values()]
    event = kind(*args)
    assert isinstance(event, kind)
    return typing.cast(ev.ClientEvent, event)


def test_a_rate_limit_says_when_to_try_again() -> None:
    limited = RateLimitedError("try again in 3 seconds", 2.5)
    assert error_to_json(limited, "join") == {
        "event": "error",
        "code": "rate_limited",
        "message": "try again in 3 seconds",
        "retry_after": 2.5,
        "command": "join",
    }
    assert "retry_after" not in error_to_json(P2PChatError("x", ErrorCode.ROOM_FULL))


def test_an_invite_says_how_full_the_room_is_and_other_actions_do_not() -> None:
    full = UserControlled(OwnerAction.INVITE, "pair", "carol", 2, 2)
    assert result_to_json(full) == {
        "event": "invited",
        "room": "pair",
        "user": "carol",
        "member_count": 2,
        "capacity": 2,
        "full": True,
    }
    older = UserControlled(OwnerAction.INVITE, "pair", "carol")  # a tracker that does not say
    assert result_to_json(older)["full"] is False
    kicked = UserControlled(OwnerAction.KICK, "pair", "carol")
    assert result_to_json(kicked) == {"event": "kicked", "room": "pair", "user": "carol"}


def test_an_invite_reply_is_validated() -> None:
    base = {"room": "pair", "user": "carol"}
    assert InviteReply.parse(base) == InviteReply("pair", "carol", None, None)
    assert InviteReply.parse({**base, "member_count": 2, "capacity": 2}).full
    for count, capacity in ((3, 2), (-1, 2), (True, 2), ("2", 2), (1, 65), (1, 1)):
        with pytest.raises(ValidationError):
            InviteReply.parse({**base, "member_count": count, "capacity": capacity})
