"""Validators and the wire shape of the published records."""

from __future__ import annotations

import base64

import pytest

from commons.errors import ValidationError
from commons.models import (
    MemberInfo,
    PeerInfo,
    RoomInfo,
    validate_capacity,
    validate_host,
    validate_identity_key,
    validate_name,
    validate_password_hash,
    validate_port,
    validate_room_name,
)

KEY = base64.b64encode(bytes(range(1, 33))).decode()


@pytest.mark.parametrize("name", ["a", "A_b.c-9", "x" * 32, ".a", "a..", "-", "_"])
def test_good_names(name):
    assert validate_name("username", name) == name


@pytest.mark.parametrize(
    "name", ["", "x" * 33, "sp ace", "é", "a/b", None, 3, ["a"], ".", "..", "." * 32, "\ud800"]
)
def test_bad_names(name):
    with pytest.raises(ValidationError, match="username"):
        validate_name("username", name)


def test_password_hash_and_port_and_capacity():
    assert validate_password_hash("AB" * 32) == "ab" * 32
    for bad in ("ab" * 31, "zz" * 32, 5):
        with pytest.raises(ValidationError):
            validate_password_hash(bad)
    assert validate_port(65535) == 65535
    for bad_port in (0, 65536, True, "1"):
        with pytest.raises(ValidationError):
            validate_port(bad_port)
    assert validate_capacity(64) == 64
    for bad_cap in (1, 65, False):
        with pytest.raises(ValidationError):
            validate_capacity(bad_cap)


def test_identity_key_validation():
    assert validate_identity_key(KEY) == KEY
    for bad in ("!!!", base64.b64encode(b"x" * 31).decode(), base64.b64encode(bytes(32)).decode()):
        with pytest.raises(ValidationError):
            validate_identity_key(bad)


def test_hosts():
    assert validate_host("::1") == "::1"
    assert validate_host("tracker.example.org") == "tracker.example.org"
    with pytest.raises(ValidationError):
        validate_host("bad host")


def test_records_round_trip():
    member = MemberInfo("alice", "127.0.0.1", 4000, KEY)
    assert MemberInfo.from_wire(member.to_wire()) == member
    hidden = MemberInfo("bob", None, None, KEY)
    assert hidden.to_wire() == {"username": "bob", "identity_key": KEY}
    assert MemberInfo.from_wire(hidden.to_wire()) == hidden
    with pytest.raises(ValidationError):  # half an address is no address
        MemberInfo.from_wire({"username": "bob", "identity_key": KEY, "port": 4000})
    peer = PeerInfo("alice", KEY, "lobby")
    assert peer.to_wire() == {"username": "alice", "identity_key": KEY, "room": "lobby"}
    assert PeerInfo.from_wire(peer.to_wire()) == peer
    room = RoomInfo("lobby", "alice", ("alice", "bob"), 3)
    assert room.to_wire()["room"] == "lobby"
    assert RoomInfo.from_wire(room.to_wire()) == room
    with pytest.raises(ValidationError):
        RoomInfo.from_wire({"room": "r", "owner": "o", "members": "x", "capacity": 3})


@pytest.mark.parametrize(
    "host",
    [
        "fe80::1%\ud800",
        "fe80::1%" + "a" * 33_000,
        "fe80::1%" + "a" * 16,
        "fe80::1%a b",
        "fe80::1%\u202e",
        "1.2.3.4%eth0",
        "a" * 254,
        "",
        "\ud800.example",
    ],
)
def test_hosts_are_bounded_in_every_form(host):
    with pytest.raises(ValidationError, match="host"):
        validate_host(host)


def test_ipv6_scope_ids_that_name_an_interface_are_kept():
    assert validate_host("fe80::1%eth0") == "fe80::1%eth0"
    assert validate_host("fe80::1%" + "w" * 15) == "fe80::1%" + "w" * 15
    assert validate_host("FE80::1%7") == "fe80::1%7"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("café", "café"),
        ("cafe\u0301", "café"),  # a macOS keyboard's NFD is stored as NFC
        ("東京", "東京"),
        ("한국어-방", "한국어-방"),
        ("हिन्दी", "हिन्दी"),  # marks on their letters
        ("Zoë_2.0", "Zoë_2.0"),
        ("Москва", "Москва"),  # one script of the look-alike three
        ("Ελλάδα", "Ελλάδα"),
        ("café東京", "café東京"),  # Latin with a script that does not pass for it
        ("ひらがな漢字カタカナ", "ひらがな漢字カタカナ"),
        ("lobby", "lobby"),
        ("東" * 32, "東" * 32),  # 32 code points, 96 bytes
        ("e\u0301" * 32, "é" * 32),  # 64 code points typed, 32 after NFC
    ],
)
def test_room_names_are_nfc_unicode_letters_and_digits(typed: str, canonical: str) -> None:
    assert validate_room_name(typed) == canonical


@pytest.mark.parametrize(
    "name",
    [
        "",
        "x" * 33,  # 33 code points
        "\U00020000" * 25,  # 25 code points but 100 bytes
        "e" + "\u0301" * 200,  # long before normalising
        "two words",
        "#lobby",  # the '#' is the command's, not the name's
        "a/b",
        "👩\u200d💻",  # emoji are not letters
        "lob\u200bby",  # zero-width space
        "\u3164",  # a Hangul filler: a letter that draws nothing
        "a\u034f",  # the invisible combining grapheme joiner
        "\u0301a",  # a mark with no letter under it
        "x\u0301\u0302\u0303",  # stacked past two
        "-\u0301",
        "²",  # a digit that is not a decimal digit
        "p\u0430ypal",  # a Cyrillic a among Latin letters
        "\u03bfk",  # a Greek omicron before a Latin k
        "..",
        "\ud800",
        None,
        3,
    ],
)
def test_room_names_that_are_not_letters_and_digits_are_refused(name: object) -> None:
    with pytest.raises(ValidationError, match="'room'"):
        validate_room_name(name)


def test_every_username_is_a_room_name_and_usernames_stay_ascii() -> None:
    for name in ["a", "A_b.c-9", "x" * 32, "-"]:
        assert validate_room_name(validate_name("username", name)) == name
    with pytest.raises(ValidationError):
        validate_name("username", "café")
