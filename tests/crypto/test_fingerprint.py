"""Fingerprints and safety numbers, including libsignal's published test vector."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.fingerprint import fingerprint, numeric_fingerprint, safety_number
from crypto.identity import IdentityKey

# libsignal NumericFingerprintGeneratorTest (libsignal-protocol-c tests/test_fingerprint.c):
# identity keys in Signal's encoding (0x05 || 32 bytes), identifiers, 5200 iterations.
SIGNAL_ALICE_KEY = bytes.fromhex(
    "0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868"
)
SIGNAL_BOB_KEY = bytes.fromhex("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b")
SIGNAL_ALICE_ID = b"+14152222222"
SIGNAL_BOB_ID = b"+14153333333"
SIGNAL_DISPLAYABLE = "300354477692869396892869876765458257569162576843440918079131"


def test_signal_published_vector() -> None:
    alice_view = numeric_fingerprint(
        SIGNAL_ALICE_ID, SIGNAL_ALICE_KEY, SIGNAL_BOB_ID, SIGNAL_BOB_KEY
    )
    bob_view = numeric_fingerprint(SIGNAL_BOB_ID, SIGNAL_BOB_KEY, SIGNAL_ALICE_ID, SIGNAL_ALICE_KEY)
    assert alice_view == SIGNAL_DISPLAYABLE
    assert bob_view == SIGNAL_DISPLAYABLE


def test_safety_number_uses_signal_encoding() -> None:
    number = safety_number("+14152222222", SIGNAL_ALICE_KEY[1:], "+14153333333", SIGNAL_BOB_KEY[1:])
    assert number.replace(" ", "") == SIGNAL_DISPLAYABLE
    assert re.fullmatch(r"(\d{5} ){11}\d{5}", number)


@settings(max_examples=10, deadline=None)
@given(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.from_regex(r"[a-z]{1,8}", fullmatch=True))
def test_both_sides_compute_the_same_number(alice: str, bob: str) -> None:
    a, b = IdentityKey.generate().public_bytes, IdentityKey.generate().public_bytes
    assert safety_number(alice, a, bob, b) == safety_number(bob, b, alice, a)


def test_a_substituted_key_changes_the_number() -> None:
    alice, bob, mallory = (IdentityKey.generate().public_bytes for _ in range(3))
    assert safety_number("alice", alice, "bob", bob) != safety_number(
        "alice", alice, "bob", mallory
    )
    assert safety_number("alice", alice, "bob", bob) != safety_number("alice", alice, "bobby", bob)


def test_fingerprint_format() -> None:
    key = IdentityKey.generate().public_bytes
    text = fingerprint(key)
    assert re.fullmatch(r"([0-9A-F]{4} ){7}[0-9A-F]{4}", text)
    assert fingerprint(key) == text
    assert fingerprint(IdentityKey.generate().public_bytes) != text
