"""Client side of the tracker protocol and the TOFU pin logic, without sockets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commons.codec import decode_object, encode_message
from commons.errors import ErrorCode, ProtocolError, RateLimitedError, RoomError
from commons.framing import FrameDecoder
from commons.tracker_protocol import Command
from peer.errors import TrackerUntrustedError
from peer.session.pins import PinDecision, check_pin, endpoint_key, load_pins, save_pins
from peer.session.wire import Push, Reply, TrackerClientProtocol, reply_error

FP1 = ":".join(["AB"] * 32)
FP2 = ":".join(["CD"] * 32)


def test_requests_get_fresh_ids_and_omit_none() -> None:
    proto = TrackerClientProtocol()
    first, frame = proto.request(Command.JOIN_ROOM, room="lobby", host=None)
    second, _ = proto.request(Command.PING)
    assert second == first + 1
    (body,) = FrameDecoder().feed(frame)
    assert decode_object(body) == {"cmd": "JOIN_ROOM", "id": first, "room": "lobby"}


def test_replies_and_pushes_split_across_reads() -> None:
    proto = TrackerClientProtocol()
    data = encode_message({"status": "OK", "id": 1, "time": 5}) + encode_message(
        {"event": "ROOM_DELETED", "room": "x"}
    )
    items = proto.receive(data[:7]) + proto.receive(data[7:])
    assert items == [
        Reply(1, True, {"status": "OK", "id": 1, "time": 5}),
        Push("ROOM_DELETED", {"event": "ROOM_DELETED", "room": "x"}),
    ]


def test_error_reply_becomes_typed_error() -> None:
    error = reply_error(
        Reply(3, False, {"status": "ERROR", "id": 3, "code": "room_full", "msg": "full"})
    )
    assert isinstance(error, RoomError) and error.code is ErrorCode.ROOM_FULL
    unknown = reply_error(Reply(3, False, {"status": "ERROR", "id": 3, "code": "??"}))
    assert unknown.code is ErrorCode.INTERNAL


@pytest.mark.parametrize(
    ("code", "retry_after", "words", "kept"),
    [
        ("rate_limited", 0.3, "try again in 1 second", 0.3),
        ("rate_limited", 12.2, "try again in 13 seconds", 12.2),
        ("throttled", 61, "try again in 2 minutes", 61.0),
        ("throttled", 3 * 3600 + 60, "try again in 3 hours 1 minute", 10860.0),
        ("rate_limited", "soon", "try again in 1 second", 1.0),  # broken: a safe default
        ("throttled", 10**9, "try again in 24 hours", 86_400.0),  # clipped to a day
    ],
)
def test_waits_are_said_in_words(code: str, retry_after: object, words: str, kept: float) -> None:
    body = {"status": "ERROR", "id": 1, "code": code, "msg": "x", "retry_after": retry_after}
    error = reply_error(Reply(1, False, body))
    assert isinstance(error, RateLimitedError) and error.code == code
    assert error.message.endswith(words) and error.retry_after == kept
    if code == "throttled":
        assert "failed logins" in error.message


@pytest.mark.parametrize("obj", [{"status": "MAYBE", "id": 1}, {"event": 5}, {"id": 1, "time": 2}])
def test_malformed_frames_refused(obj: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        TrackerClientProtocol().receive(encode_message(obj))


def test_pin_decisions(tmp_path: Path) -> None:
    path = tmp_path / "known_trackers.json"
    endpoint = endpoint_key("127.0.0.1", 6060)
    assert check_pin({}, endpoint, FP1, path) is PinDecision.NEW
    save_pins(path, {endpoint: FP1})
    pins = load_pins(path)
    assert check_pin(pins, endpoint, FP1.replace(":", "").lower(), path) is PinDecision.MATCH
    with pytest.raises(TrackerUntrustedError, match="HAS CHANGED"):
        check_pin(pins, endpoint, FP2, path)
    assert endpoint_key("::1", 1) == "[::1]:1"


def test_corrupt_pin_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "known_trackers.json"
    path.write_text(json.dumps(["not", "a", "map"]))
    path.chmod(0o600)
    with pytest.raises(TrackerUntrustedError, match="corrupt"):
        load_pins(path)
    assert load_pins(tmp_path / "missing.json") == {}


def test_a_pin_file_others_can_rewrite_or_a_symlink_is_refused(tmp_path: Path) -> None:
    """Whoever can rewrite the tracker pins chooses which certificate is trusted."""
    path = tmp_path / "known_trackers.json"
    save_pins(path, {endpoint_key("127.0.0.1", 6060): FP1})
    path.chmod(0o666)
    with pytest.raises(TrackerUntrustedError):
        load_pins(path)
    path.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to(path)
    with pytest.raises(TrackerUntrustedError, match="symbolic link"):
        load_pins(link)
    assert load_pins(path) == {endpoint_key("127.0.0.1", 6060): FP1}


def test_a_tracker_name_spelled_in_another_case_is_the_same_pin(tmp_path: Path) -> None:
    """Otherwise ``Tracker.example`` would be trusted on first use beside the pinned
    ``tracker.example``: a man in the middle on that spelling would get a login."""
    path = tmp_path / "known_trackers.json"
    save_pins(path, {"Tracker.Example:7000": FP1})  # as an older version wrote it
    pins = load_pins(path)
    endpoint = endpoint_key("TRACKER.example", 7000)
    assert endpoint == "tracker.example:7000"
    with pytest.raises(TrackerUntrustedError, match="HAS CHANGED"):
        check_pin(pins, endpoint, FP2, path)
    save_pins(path, {"Tracker.Example:7000": FP1, "tracker.example:7000": FP2})
    with pytest.raises(TrackerUntrustedError, match="two different certificates"):
        load_pins(path)
