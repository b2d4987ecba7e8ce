"""The failures found by fuzzing the tracker, replayed on a live TLS tracker.

A lone surrogate (JSON's ``"\\ud800"``) in a field once passed validation, and every
reply or push that repeated it then failed to encode: other users' ``LIST_PEERS``
dropped them, ``DELETE_ROOM`` skipped its ``ROOM_DELETED`` pushes, a replaced session
was never told. Now the codec refuses such strings (first line) and a send that still
fails affects only its own connection and never skips the pushes of the same state
change (second line). Each test checks what the *other* users see.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from commons.framing import HEADER
from commons.tracker_protocol import Command, Request
from tests.tracker_client import TrackerTestClient, password_digest
from tracker.server.connection import TrackerConnection
from tracker.server.request_decoder import MAX_REJECTED_IN_A_ROW
from tracker.server.server import TrackerServer

SURROGATE = "\ud800"


async def send_hostile(client: TrackerTestClient, obj: dict[str, object]) -> None:
    """Send ``obj`` as JSON with ``\\u`` escapes, which can carry lone surrogates."""
    body = json.dumps(obj).encode("ascii")
    await client.send_raw(HEADER.pack(len(body)) + body)


def login_request(client: TrackerTestClient, username: str, **extra: object) -> dict[str, object]:
    return {
        "cmd": "LOGIN",
        "id": 7,
        "username": username,
        "password": password_digest("correct horse"),
        "identity_key": client.identity_key,
        "port": 40000,
        **extra,
    }


def server_side(tracker: TrackerServer, username: str) -> TrackerConnection:
    return tracker.connections[tracker.state.online[username].session]


async def assert_works(client: TrackerTestClient) -> None:
    reply = await client.request("LIST_PEERS")
    assert reply["status"] == "OK", reply
    assert not client.eof.is_set()


@pytest.fixture
def tracker_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="tracker")
    return caplog


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    tracebacks = [r for r in caplog.records if r.exc_info or r.exc_text]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


async def test_lone_surrogate_in_an_ipv6_scope_id_cannot_break_list_peers(
    tracker, connect, user, tracker_log
):
    bystander = await user(tracker, "bystander")
    attacker = await connect(tracker)
    assert (await attacker.register("mallory"))["status"] == "OK"
    await send_hostile(attacker, login_request(attacker, "mallory", host=f"fe80::1%{SURROGATE}"))
    reply = await attacker.reply()
    assert reply["status"] == "ERROR" and reply["code"] == "bad_json"
    assert "mallory" not in tracker.state.online
    # The attacker's connection is still usable, and the others never noticed.
    assert (await attacker.login("mallory"))["status"] == "OK"
    for _ in range(3):
        await assert_works(bystander)
    assert_no_traceback(tracker_log)


@pytest.mark.parametrize(
    "host",
    [
        "fe80::1%" + "a" * 33_000,  # the ~33 KB host of the report
        "fe80::1%" + "a" * 16,  # longer than an interface name
        "fe80::1%eth 0",
        "fe80::1%\u202eeth0",
        "a" * 254,
        "a." * 127,
    ],
)
async def test_hosts_of_every_form_are_bounded(tracker, connect, user, host):
    bystander = await user(tracker, "bystander")
    client = await connect(tracker)
    assert (await client.register("alice"))["status"] == "OK"
    reply = await client.login("alice", host=host)
    assert reply["code"] == "invalid_field" and "host" in reply["msg"]
    await assert_works(bystander)


async def test_an_interface_scope_id_is_still_accepted(tracker, connect):
    client = await connect(tracker)
    assert (await client.register("alice"))["status"] == "OK"
    reply = await client.login("alice", host="fe80::1%eth0")
    assert reply["status"] == "OK" and reply["host"] == "fe80::1%eth0"


async def test_two_long_hosts_in_one_room_do_not_break_room_updates(tracker, connect):
    host = ".".join(["a" * 63] * 3) + "." + "b" * 61  # 253 characters, the maximum
    alice, bob = await connect(tracker), await connect(tracker)
    for name, client in (("alice", alice), ("bob", bob)):
        assert (await client.register(name))["status"] == "OK"
        assert (await client.login(name, host=host))["status"] == "OK"
    assert (await alice.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    assert len((await alice.push("ROOM_UPDATE"))["members"]) == 1
    assert (await bob.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    update = await alice.push("ROOM_UPDATE")
    assert [m["host"] for m in update["members"]] == [host, host]


async def test_lone_surrogate_id_before_login_is_answered_and_logs_no_traceback(
    tracker, connect, user, tracker_log
):
    bystander = await user(tracker, "bystander")
    client = await connect(tracker)
    for _ in range(3):
        await send_hostile(client, {"cmd": "PING", "id": SURROGATE})
        reply = await client.reply()
        assert reply == {"status": "ERROR", "id": None, "code": "bad_json", "msg": reply["msg"]}
    assert (await client.register("survivor"))["status"] == "OK"
    await assert_works(bystander)
    assert_no_traceback(tracker_log)


async def test_delete_room_with_a_lone_surrogate_id_leaves_the_room_alone(tracker, user):
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    assert (await alice.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    assert (await bob.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    await send_hostile(alice, {"cmd": "DELETE_ROOM", "id": SURROGATE, "room": "lobby"})
    assert (await alice.reply())["code"] == "bad_json"
    assert "lobby" in tracker.state.rooms
    assert (await alice.request("DELETE_ROOM", room="lobby"))["status"] == "OK"
    assert (await bob.push("ROOM_DELETED"))["room"] == "lobby"


async def test_members_get_room_deleted_even_when_the_owners_reply_cannot_be_sent(tracker, user):
    """Second line: an id that skipped the codec (a bug) costs only the reply."""
    alice = await user(tracker, "alice")
    bob = await user(tracker, "bob")
    assert (await alice.request("CREATE_ROOM", room="lobby"))["status"] == "OK"
    assert (await bob.request("JOIN_ROOM", room="lobby"))["status"] == "OK"
    conn = server_side(tracker, "alice")
    request = Request(id=SURROGATE, cmd=Command.DELETE_ROOM, room="lobby")
    outcome = tracker.state.handle(conn.session, request, time.time())
    await tracker.persist_then_deliver(conn, outcome)
    assert (await bob.push("ROOM_DELETED"))["room"] == "lobby"
    reply = await alice.reply()
    assert reply == {"status": "ERROR", "id": None, "code": "internal_error", "msg": reply["msg"]}
    await assert_works(alice)
    await assert_works(bob)


async def test_login_with_a_lone_surrogate_id_does_not_disturb_the_session(tracker, connect, user):
    alice = await user(tracker, "alice")
    second = await connect(tracker)
    second.identity_key = alice.identity_key
    await send_hostile(second, {**login_request(second, "alice"), "id": SURROGATE})
    assert (await second.reply())["code"] == "bad_json"
    await assert_works(alice)
    assert alice.pending_pushes() == []


async def test_replaced_session_is_told_and_closed_even_when_the_reply_cannot_be_sent(
    tracker, connect, user
):
    alice = await user(tracker, "alice")
    second = await connect(tracker)
    second.identity_key = alice.identity_key
    await second.request("PING")  # not logged in: just to be sure the connection is up
    secret, _ = await second.secrets("alice", "correct horse")
    conn = tracker.connections[max(tracker.connections)]
    request = Request(
        id=SURROGATE,
        cmd=Command.LOGIN,
        username="alice",
        password=secret,
        identity_key=alice.identity_key,
        port=40000,
    )
    await tracker.account_commands.login(conn, request)
    await alice.push("SESSION_REPLACED")
    await alice.wait_closed()
    assert (await second.reply())["code"] == "internal_error"
    await assert_works(second)


@pytest.mark.parametrize(
    "body", [b'{"cmd":"PING","id":1e999}', b'{"cmd":"PING","id":1,"a":[-1E400]}']
)
async def test_non_finite_numbers_are_refused(tracker, connect, body):
    client = await connect(tracker)
    await client.send_raw(HEADER.pack(len(body)) + body)
    assert (await client.reply())["code"] == "bad_json"
    assert (await client.request("PING"))["code"] == "not_authenticated"


async def test_a_burst_of_empty_frames_gets_a_bounded_number_of_replies(
    tracker, connect, user, tracker_log
):
    bystander = await user(tracker, "bystander")
    client = await connect(tracker)
    await client.send_raw(HEADER.pack(0) * 4096)  # 16 KiB of zero-length frames
    await client.wait_closed()
    replies = []
    while not client.replies.empty():
        reply = client.replies.get_nowait()
        if reply is not None:
            replies.append(reply)
    assert len(replies) == MAX_REJECTED_IN_A_ROW
    assert [r["code"] for r in replies[:-1]] == ["bad_json"] * (MAX_REJECTED_IN_A_ROW - 1)
    assert replies[-1]["code"] == "too_many_errors"
    await assert_works(bystander)
    assert_no_traceback(tracker_log)


async def test_bad_frames_between_valid_requests_do_not_close(tracker, connect):
    client = await connect(tracker)
    for _ in range(3):
        await client.send_raw(HEADER.pack(0) * (MAX_REJECTED_IN_A_ROW - 1))
        for _ in range(MAX_REJECTED_IN_A_ROW - 1):
            assert (await client.reply())["code"] == "bad_json"
        assert (await client.request("PING"))["code"] == "not_authenticated"
    assert not client.eof.is_set()


async def test_a_flood_of_hostile_frames_logs_a_bounded_number_of_lines(
    tracker, connect, user, tracker_log
):
    await user(tracker, "bystander")
    for _ in range(20):
        client = await connect(tracker)
        await send_hostile(client, {"cmd": "LOGIN", "id": SURROGATE, "host": SURROGATE})
        await client.send_raw(HEADER.pack(0) * 64)
        await client.wait_closed()
        await client.close()
    await asyncio.sleep(0)
    assert_no_traceback(tracker_log)
    lines = [r for r in tracker_log.records if r.levelno >= logging.WARNING]
    assert len(lines) <= 2, [r.getMessage() for r in lines]
