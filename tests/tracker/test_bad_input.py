"""Hostile or broken input: each gets an ERROR code (or a closed connection when no frame
can be read), and a bystander session keeps working throughout."""

from __future__ import annotations

import asyncio
import ssl
import struct
import warnings

import pytest

from commons.framing import HEADER
from tests.tracker_client import password_digest


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


@pytest.fixture
async def bystander(tracker, user):
    client = await user(tracker, "bystander")
    yield client
    assert (await client.request("PING"))["status"] == "OK"
    assert not client.eof.is_set()


async def test_oversized_frame_is_refused_before_buffering(tracker, connect, bystander):
    client = await connect(tracker)
    await client.send_raw(struct.pack(">I", tracker.config.max_frame_size + 1))
    reply = await client.reply()
    assert reply["code"] == "frame_too_large"
    assert reply["id"] is None
    await client.wait_closed()


async def test_frame_of_exactly_max_size_is_read(tracker_factory, connect):
    tracker = await tracker_factory(max_frame_size=1024)
    client = await connect(tracker)
    body = b'{"cmd":"PING","id":1,"pad":"' + b"x" * 1024
    body = body[: 1024 - 2] + b'"}'
    await client.send_raw(frame(body))
    assert (await client.reply())["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff\xfe not utf-8", "bad_json"),
        (b"{not json", "bad_json"),
        (b"[1, 2, 3]", "bad_json"),
        (b'"just a string"', "bad_json"),
        (b'{"cmd": "PING", "id": 1, "id": 2}', "bad_json"),
        (b'{"cmd": "PING", "id": NaN}', "bad_json"),
        (b"", "bad_json"),
        (b'{"cmd": "FLY", "id": 1}', "unknown_command"),
        (b'{"cmd": 7, "id": 1}', "invalid_field"),
        (b'{"id": 1}', "invalid_field"),
        (b'{"cmd": "PING"}', "invalid_field"),
        (b'{"cmd": "PING", "id": true}', "invalid_field"),
        (b'{"cmd": "PING", "id": -1}', "invalid_field"),
        (b'{"cmd": "PING", "id": 9223372036854775808}', "bad_json"),
        (b'{"cmd": "PING", "id": "' + b"i" * 65 + b'"}', "invalid_field"),
        (b'{"cmd": "PING", "id": "\\ud800"}', "bad_json"),
        (b'{"cmd": "PING", "id": 1e999}', "bad_json"),
        (b"{}", "invalid_field"),
        (b'{"cmd": "REGISTER", "id": 1, "username": "a"}', "invalid_field"),
        (b'{"cmd": "REGISTER", "id": 1, "username": "no spaces"}', "invalid_field"),
        (b'{"cmd": "LOGIN", "id": 1, "username": 5}', "invalid_field"),
        (b'{"cmd": "PING", "id": 1}', "not_authenticated"),
        (b'{"cmd": "LIST_PEERS", "id": 1}', "not_authenticated"),
        (b'{"cmd": "LIST_ROOMS", "id": 1}', "not_authenticated"),
        (b'{"cmd": "CREATE_ROOM", "id": 1, "room": "r"}', "not_authenticated"),
        (b'{"cmd": "JOIN_ROOM", "id": 1, "room": "r"}', "not_authenticated"),
        (b'{"cmd": "LEAVE_ROOM", "id": 1}', "not_authenticated"),
        (b'{"cmd": "DELETE_ROOM", "id": 1, "room": "r"}', "not_authenticated"),
        (b'{"cmd": "LOGOUT", "id": 1}', "not_authenticated"),
    ],
)
async def test_bad_frames_get_error_codes_and_connection_survives(
    tracker, connect, bystander, body, code
):
    client = await connect(tracker)
    await client.send_raw(frame(body))
    reply = await client.reply()
    assert reply["status"] == "ERROR"
    assert reply["code"] == code
    assert isinstance(reply["msg"], str)
    # The stream is still in sync: a valid request on the same connection works.
    assert (await client.register("survivor"))["status"] == "OK"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"room": ""}, "room"),
        ({"room": "x" * 33}, "room"),
        ({"room": "bad/name"}, "room"),
        ({"room": "\u6771" * 33}, "room"),  # 33 code points
        ({"room": "\U00020000" * 25}, "room"),  # 25 code points, 100 bytes
        ({"room": "p\u0430ypal"}, "room"),  # a Cyrillic a among Latin letters
        ({"room": "lob\u200bby"}, "room"),  # an invisible character
        ({"room": "\U0001f469\u200d\U0001f4bb"}, "room"),  # an emoji
        ({"room": ["list"]}, "room"),
        ({}, "room"),
    ],
)
async def test_bad_room_fields_after_login(tracker, user, bystander, fields, field):
    alice = await user(tracker, "alice")
    reply = await alice.request("CREATE_ROOM", **fields)
    assert reply["code"] == "invalid_field"
    assert field in reply["msg"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"port": 0},
        {"port": "80"},
        {"port": 70000},
        {"identity_key": "not base64!"},
        {"identity_key": "AAAA"},
        {"password": "plaintext-password"},
        {"replace_key": "yes"},
        {"host": "bad host"},
    ],
)
async def test_bad_login_fields(tracker, connect, bystander, overrides):
    client = await connect(tracker)
    request = {
        "cmd": "LOGIN",
        "id": 9,
        "username": "alice",
        "password": password_digest("pw"),
        "identity_key": client.identity_key,
        "port": 4000,
    }
    request.update(overrides)
    await client.send(request)
    reply = await client.reply()
    assert reply == {"status": "ERROR", "id": 9, "code": "invalid_field", "msg": reply["msg"]}


async def test_split_and_merged_frames_are_handled(tracker, connect, bystander):
    client = await connect(tracker)
    payload = b"".join(frame(b'{"cmd":"PING","id":%d}' % i) for i in range(1, 6))
    for i in range(0, len(payload), 3):
        await client.send_raw(payload[i : i + 3])
    ids = [(await client.reply())["id"] for _ in range(5)]
    assert ids == [1, 2, 3, 4, 5]


async def test_plain_tcp_on_the_tls_port_is_closed(tracker, bystander):
    reader, writer = await asyncio.open_connection("127.0.0.1", tracker.port)
    writer.write(frame(b'{"cmd":"PING","id":1}'))
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    assert b"PING" not in data and b"status" not in data
    writer.close()


async def test_old_tls_versions_are_refused(tracker, bystander):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", tracker.port, ssl=context), 10)


async def test_tls12_without_forward_secrecy_is_refused(tracker, bystander):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("AES128-SHA:AES256-SHA:AES128-GCM-SHA256")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", tracker.port, ssl=context), 10)


async def test_tls12_cbc_suites_are_refused_even_with_forward_secrecy(tracker, bystander):
    """A downgrade to ECDHE with a CBC (MAC-then-encrypt) suite must fail: AEAD only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(
        "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA"
        ":ECDHE-ECDSA-AES256-SHA"
    )
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", tracker.port, ssl=context), 10)


async def test_tls13_is_preferred(tracker, connect):
    client = await connect(tracker)
    assert client.writer.get_extra_info("ssl_object").version() == "TLSv1.3"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(tracker.cert_path)
    context.check_hostname = False
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    _, writer = await asyncio.open_connection("127.0.0.1", tracker.port, ssl=context)
    cipher = writer.get_extra_info("ssl_object").cipher()
    assert cipher[1] == "TLSv1.2"
    assert cipher[0].startswith("ECDHE-") and ("GCM" in cipher[0] or "CHACHA" in cipher[0])
    writer.close()


async def test_connections_that_never_log_in_are_closed(tracker_factory, connect, user):
    tracker = await tracker_factory(auth_timeout=0.3)
    idle = await connect(tracker)
    await idle.wait_closed(5)


async def test_connection_cap(tracker_factory, connect):
    tracker = await tracker_factory(max_connections=2)
    first = await connect(tracker)
    await connect(tracker)
    third = await connect(tracker)
    reply = await third.reply()
    assert reply["code"] == "too_many_connections"
    await third.wait_closed()
    assert (await first.register("alice"))["status"] == "OK"


async def test_client_that_never_reads_does_not_hurt_others(tracker_factory, user, connect):
    tracker = await tracker_factory(max_send_buffer=64 * 1024)
    bystander = await user(tracker, "bystander")
    hog = await user(tracker, "hog")
    hog._task.cancel()  # stop reading: its replies pile up on the tracker side
    ping = frame(b'{"cmd":"LIST_PEERS","id":1}') * 200
    try:
        for _ in range(200):
            hog.writer.write(ping)
            await asyncio.wait_for(hog.writer.drain(), 5)
    except (ConnectionError, TimeoutError):
        pass

    async def hog_dropped() -> None:
        while "hog" in {p["username"] for p in (await bystander.request("LIST_PEERS"))["peers"]}:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(hog_dropped(), 10)
    assert (await bystander.request("PING"))["status"] == "OK"
