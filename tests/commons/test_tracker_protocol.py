"""Request parsing and the reply/push envelope."""

from __future__ import annotations

import base64

import pytest

from commons.errors import ErrorCode, P2PChatError
from commons.tracker_protocol import (
    Command,
    Event,
    error,
    is_push,
    ok,
    parse_request,
    push,
    request,
)

KEY = base64.b64encode(bytes(range(1, 33))).decode()


def test_login_parses_every_field():
    req = parse_request(
        request(
            Command.LOGIN,
            3,
            username="alice",
            password="a" * 64,
            identity_key=KEY,
            port=4000,
            host="10.0.0.1",
            replace_key=True,
        )
    )
    assert (req.id, req.cmd, req.username, req.port, req.host, req.replace_key) == (
        3,
        Command.LOGIN,
        "alice",
        4000,
        "10.0.0.1",
        True,
    )


@pytest.mark.parametrize(
    ("obj", "code"),
    [
        ({"cmd": "PING"}, ErrorCode.INVALID_FIELD),
        ({"cmd": "PING", "id": "x" * 65}, ErrorCode.INVALID_FIELD),
        ({"cmd": "NOPE", "id": 1}, ErrorCode.UNKNOWN_COMMAND),
        ({"cmd": "JOIN_ROOM", "id": 1}, ErrorCode.INVALID_FIELD),
        ({"cmd": "LIST_PEERS", "id": 1, "username": ""}, ErrorCode.INVALID_FIELD),
    ],
)
def test_parse_errors_have_codes(obj, code):
    with pytest.raises(P2PChatError) as info:
        parse_request(obj)
    assert info.value.code is code


def test_replies_and_pushes_never_look_alike():
    assert not is_push(ok(1))
    assert not is_push(error(1, ErrorCode.BUSY, "busy"))
    assert is_push(push(Event.ROOM_DELETED, room="r"))
    assert "id" not in push(Event.SESSION_REPLACED)
