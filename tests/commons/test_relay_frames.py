"""RELAY frames: every field validated, bounded before anything is decoded further."""

from __future__ import annotations

import pytest

from commons.errors import ValidationError
from commons.relay_frames import (
    MAX_RELAY_BODY,
    RelayEndCode,
    parse_relay,
    parse_relay_end,
    parse_relay_push,
    relay_end_push,
    relay_push,
    relay_request,
)


def test_a_body_and_an_end_round_trip() -> None:
    frame = parse_relay(relay_request("bob", 12, True, b"\x00\xffnoise"))
    assert (frame.to, frame.link, frame.back, frame.size, frame.end) == ("bob", 12, True, 7, False)
    pushed = parse_relay_push(relay_push("alice", frame))
    assert (pushed.sender, pushed.link, pushed.back, pushed.body) == (
        "alice",
        12,
        True,
        b"\x00\xffnoise",
    )
    end = parse_relay(relay_request("bob", 12, False, None))
    assert end.end and end.size == 0
    notice = parse_relay_end(relay_end_push("bob", None, False, RelayEndCode.USER_OFFLINE, "x"))
    assert (notice.user, notice.link, notice.code) == ("bob", None, "user_offline")


def test_the_largest_body_fits_in_a_tracker_frame() -> None:
    from commons.codec import encode_message

    request = relay_request("a" * 32, 2**31 - 1, False, b"\xff" * MAX_RELAY_BODY)
    encode_message(request)  # raises if over the 64 KiB frame limit
    with pytest.raises(ValidationError):
        parse_relay(relay_request("bob", 1, False, b"\xff" * (MAX_RELAY_BODY + 1)))


GOOD = relay_request("bob", 1, False, b"body")


@pytest.mark.parametrize(
    "changes",
    [
        {"id": 1},  # a RELAY gets no reply, so it has no id
        {"to": "no spaces"},
        {"to": None},
        {"link": 0},
        {"link": 2**31},
        {"link": True},
        {"link": "1"},
        {"back": "no"},
        {"back": None},
        {"data": ""},
        {"data": "not base64!"},
        {"data": "Ym9keQ"},  # missing padding: not strict
        {"data": 12},
        {"end": False},
        {"end": True},  # with data
    ],
)
def test_malformed_frames_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_relay({**GOOD, **changes})


def test_pushes_are_validated_too() -> None:
    good = relay_end_push("bob", 3, True, RelayEndCode.CLOSED, "closed")
    for bad in ({"user": "x y"}, {"link": -1}, {"code": ""}, {"msg": "m" * 201}, {"back": 1}):
        with pytest.raises(ValidationError):
            parse_relay_end({**good, **bad})
    with pytest.raises(ValidationError):
        parse_relay_push({"event": "RELAY", "from": "bob", "link": 1, "back": False, "data": "!"})
