"""SecureChannel: the hybrid XX handshake between two identities and the transport after it.

Every attack here is run against the real channel code; each test fails if the channel
ever hands out a plaintext it should not have.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.channel import MAX_PLAINTEXT, PATTERN, PROLOGUE, ChannelOutput, SecureChannel
from crypto.errors import (
    ChannelError,
    ChannelHandshakeError,
    KeyMismatchError,
    MessageTooLargeError,
)
from crypto.identity import IdentityKey
from crypto.noise import HandshakeState

ALICE = IdentityKey.generate()
BOB = IdentityKey.generate()
MALLORY = IdentityKey.generate()


def expecting(
    directory: dict[str, bytes], seen: list[str] | None = None
) -> Callable[[str, bytes], None]:
    """An authorize callback that accepts only the key ``directory`` lists for a name."""

    def authorize(username: str, key: bytes) -> None:
        if seen is not None:
            seen.append(username)
        if directory.get(username) != key:
            raise KeyMismatchError(f"{username} presented an unexpected key")

    return authorize


DIRECTORY = {"alice": ALICE.public_bytes, "bob": BOB.public_bytes}


def make_pair(rekey_interval: int = 1024) -> tuple[SecureChannel, SecureChannel]:
    alice = SecureChannel(
        initiator=True,
        identity=ALICE,
        username="alice",
        authorize=expecting(DIRECTORY),
        rekey_interval=rekey_interval,
    )
    bob = SecureChannel(
        initiator=False,
        identity=BOB,
        username="bob",
        authorize=expecting(DIRECTORY),
        rekey_interval=rekey_interval,
    )
    return alice, bob


def handshake(alice: SecureChannel, bob: SecureChannel) -> None:
    msg1 = alice.start()
    out2 = bob.receive(msg1)
    assert not bob.established
    out3 = alice.receive(out2.send[0])
    assert out3.established and alice.established
    out_final = bob.receive(out3.send[0])
    assert out_final.established and bob.established
    assert out_final.send == [] and out_final.messages == []


def established_pair(rekey_interval: int = 1024) -> tuple[SecureChannel, SecureChannel]:
    alice, bob = make_pair(rekey_interval)
    handshake(alice, bob)
    return alice, bob


def test_handshake_authenticates_both_sides() -> None:
    alice, bob = established_pair()
    assert alice.remote_username == "bob" and alice.remote_static == BOB.public_bytes
    assert bob.remote_username == "alice" and bob.remote_static == ALICE.public_bytes
    assert alice.handshake_hash is not None and alice.handshake_hash == bob.handshake_hash


def test_messages_flow_both_ways() -> None:
    alice, bob = established_pair()
    assert bob.receive(alice.encrypt(b"hello bob")).messages == [b"hello bob"]
    assert alice.receive(bob.encrypt(b"hi alice")).messages == [b"hi alice"]
    assert bob.receive(alice.encrypt(b"")).messages == [b""]


def test_prologue_binds_protocol_name_and_version() -> None:
    assert PROLOGUE == b"p2pchat/2 Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256"
    alice = SecureChannel(
        initiator=True, identity=ALICE, username="alice", authorize=expecting(DIRECTORY)
    )
    other_version = HandshakeState(
        PATTERN, False, b"p2pchat/3 Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256", s=BOB.private_key
    )
    other_version.read_message(alice.start())
    with pytest.raises(ChannelHandshakeError):
        alice.receive(other_version.write_message(b'{"v":2,"username":"bob"}'))
    assert alice.closed


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=2048), min_size=1, max_size=8))
def test_round_trip_any_plaintexts(plaintexts: list[bytes]) -> None:
    alice, bob = established_pair(rekey_interval=3)
    for plaintext in plaintexts:
        assert bob.receive(alice.encrypt(plaintext)).messages == [plaintext]
        assert alice.receive(bob.encrypt(plaintext[::-1])).messages == [plaintext[::-1]]


def test_largest_message_round_trips_and_larger_is_refused() -> None:
    alice, bob = established_pair()
    big = bytes(range(256)) * (MAX_PLAINTEXT // 256) + b"x" * (MAX_PLAINTEXT % 256)
    assert len(big) == MAX_PLAINTEXT
    assert bob.receive(alice.encrypt(big)).messages == [big]
    with pytest.raises(MessageTooLargeError):
        alice.encrypt(big + b"!")
    assert bob.receive(alice.encrypt(b"still open")).messages == [b"still open"]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _assert_dead(channel: SecureChannel) -> None:
    assert channel.closed
    with pytest.raises(ChannelError):
        channel.receive(b"\x00" * 32)
    with pytest.raises(ChannelError):
        channel.encrypt(b"x")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.data())
def test_any_single_flipped_bit_in_transport_is_rejected(
    plaintext: bytes, data: st.DataObject
) -> None:
    alice, bob = established_pair()
    body = alice.encrypt(plaintext)
    bit = data.draw(st.integers(0, len(body) * 8 - 1))
    with pytest.raises(ChannelError):
        bob.receive(_flip(body, bit))
    _assert_dead(bob)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([0, 1, 2]), st.data())
def test_any_single_flipped_bit_in_handshake_is_rejected(which: int, data: st.DataObject) -> None:
    alice, bob = make_pair()
    messages = [alice.start()]

    def tamper(index: int, body: bytes) -> bytes:
        if index != which:
            return body
        return _flip(body, data.draw(st.integers(0, len(body) * 8 - 1)))

    with pytest.raises(ChannelError):
        out2 = bob.receive(tamper(0, messages[0]))
        out3 = alice.receive(tamper(1, out2.send[0]))
        bob.receive(tamper(2, out3.send[0]))
    assert not bob.established
    if which < 2:
        assert not alice.established


def test_replayed_message_is_rejected() -> None:
    alice, bob = established_pair()
    body = alice.encrypt(b"pay 10 euros")
    assert bob.receive(body).messages == [b"pay 10 euros"]
    with pytest.raises(ChannelError):
        bob.receive(body)
    _assert_dead(bob)


def test_reordered_messages_are_rejected() -> None:
    alice, bob = established_pair()
    first = alice.encrypt(b"first")
    second = alice.encrypt(b"second")
    with pytest.raises(ChannelError):
        bob.receive(second)
    with pytest.raises(ChannelError):
        bob.receive(first)
    _assert_dead(bob)


def test_dropped_message_is_detected() -> None:
    alice, bob = established_pair()
    alice.encrypt(b"lost in transit")
    with pytest.raises(ChannelError):
        bob.receive(alice.encrypt(b"next"))


@pytest.mark.parametrize("cut", [0, 1, 15, 16, 20])
def test_truncated_message_is_rejected(cut: int) -> None:
    alice, bob = established_pair()
    body = alice.encrypt(b"twenty bytes of text")
    with pytest.raises(ChannelError):
        bob.receive(body[:cut])
    _assert_dead(bob)


def test_oversized_body_is_rejected() -> None:
    _alice, bob = established_pair()
    with pytest.raises(ChannelError):
        bob.receive(b"\x00" * 65536)
    _assert_dead(bob)


def test_message_from_other_session_is_rejected() -> None:
    alice1, _bob1 = established_pair()
    _alice2, bob2 = established_pair()
    with pytest.raises(ChannelError):
        bob2.receive(alice1.encrypt(b"cross-session"))


def test_rekey_keeps_both_sides_in_step() -> None:
    alice, bob = established_pair(rekey_interval=4)
    bodies = []
    for _ in range(13):
        body = alice.encrypt(b"same plaintext")
        bodies.append(body)
        assert bob.receive(body).messages == [b"same plaintext"]
        assert alice.receive(bob.encrypt(b"reply")).messages == [b"reply"]
    assert len(set(bodies)) == len(bodies)


def test_rekey_schedule_is_per_direction_and_deterministic() -> None:
    fast_alice, fast_bob = make_pair(rekey_interval=2)
    handshake(fast_alice, fast_bob)
    for _ in range(2):
        fast_bob.receive(fast_alice.encrypt(b"a"))
    # Bob's own sending key has not been rekeyed: his first two messages still work.
    for _ in range(5):
        assert fast_alice.receive(fast_bob.encrypt(b"b")).messages == [b"b"]


def test_rekey_mismatch_breaks_the_channel() -> None:
    """Proof the rekey happens: a receiver on another schedule fails right after it."""
    alice = SecureChannel(
        initiator=True,
        identity=ALICE,
        username="alice",
        authorize=expecting(DIRECTORY),
        rekey_interval=2,
    )
    bob = SecureChannel(
        initiator=False,
        identity=BOB,
        username="bob",
        authorize=expecting(DIRECTORY),
        rekey_interval=3,
    )
    handshake(alice, bob)
    assert bob.receive(alice.encrypt(b"1")).messages == [b"1"]
    assert bob.receive(alice.encrypt(b"2")).messages == [b"2"]
    with pytest.raises(ChannelError):
        bob.receive(alice.encrypt(b"3"))


def test_mitm_with_own_static_key_is_detected_by_initiator() -> None:
    """Mallory answers Alice's call to Bob with her own static key, claiming to be Bob."""
    seen: list[str] = []
    alice = SecureChannel(
        initiator=True, identity=ALICE, username="alice", authorize=expecting(DIRECTORY, seen)
    )
    mallory = SecureChannel(
        initiator=False, identity=MALLORY, username="bob", authorize=lambda _u, _k: None
    )
    out2 = mallory.receive(alice.start())
    with pytest.raises(KeyMismatchError):
        alice.receive(out2.send[0])
    assert seen == ["bob"]
    assert alice.closed and not alice.established and alice.remote_static is None
    _assert_dead(alice)


def test_mitm_with_own_static_key_is_detected_by_responder() -> None:
    """Mallory calls Bob claiming to be Alice; Bob's authorize sees Mallory's key."""
    mallory = SecureChannel(
        initiator=True, identity=MALLORY, username="alice", authorize=lambda _u, _k: None
    )
    bob = SecureChannel(
        initiator=False, identity=BOB, username="bob", authorize=expecting(DIRECTORY)
    )
    out3 = mallory.receive(bob.receive(mallory.start()).send[0])
    assert mallory.established
    with pytest.raises(KeyMismatchError):
        bob.receive(out3.send[0])
    _assert_dead(bob)
    # Whatever Mallory sends afterwards is never decrypted.
    with pytest.raises(ChannelError):
        bob.receive(mallory.encrypt(b"trust me"))


def test_relaying_mitm_cannot_read_or_complete() -> None:
    """Mallory relays Alice's handshake to Bob but substitutes her own ephemeral key."""
    alice, bob = make_pair()
    msg1 = alice.start()
    forged = HandshakeState(PATTERN, True, PROLOGUE, s=MALLORY.private_key)
    forged_msg1 = forged.write_message(b"")
    assert len(forged_msg1) == len(msg1)
    out2 = bob.receive(forged_msg1)
    with pytest.raises(ChannelHandshakeError):
        alice.receive(out2.send[0])
    assert not alice.established


def test_no_plaintext_before_authorize_returns() -> None:
    order: list[str] = []
    alice = SecureChannel(
        initiator=True, identity=ALICE, username="alice", authorize=expecting(DIRECTORY)
    )

    def bob_authorize(username: str, key: bytes) -> None:
        order.append("authorize")
        expecting(DIRECTORY)(username, key)

    bob = SecureChannel(initiator=False, identity=BOB, username="bob", authorize=bob_authorize)
    out3 = alice.receive(bob.receive(alice.start()).send[0])
    early = alice.encrypt(b"early")
    out = bob.receive(out3.send[0])
    order.append("established")
    assert out.messages == []
    assert bob.receive(early).messages == [b"early"]
    assert order == ["authorize", "established"]


def test_authorize_non_project_error_is_wrapped_and_closes() -> None:
    def broken(_username: str, _key: bytes) -> None:
        raise RuntimeError("bug in caller")

    alice = SecureChannel(initiator=True, identity=ALICE, username="alice", authorize=broken)
    bob = SecureChannel(
        initiator=False, identity=BOB, username="bob", authorize=expecting(DIRECTORY)
    )
    with pytest.raises(ChannelHandshakeError):
        alice.receive(bob.receive(alice.start()).send[0])
    assert alice.closed


def test_first_message_with_payload_is_rejected() -> None:
    bob = SecureChannel(
        initiator=False, identity=BOB, username="bob", authorize=expecting(DIRECTORY)
    )
    rogue = HandshakeState(PATTERN, True, PROLOGUE, s=ALICE.private_key)
    with pytest.raises(ChannelHandshakeError):
        bob.receive(rogue.write_message(b"hello"))


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b'{"v":1,"username":"alice"}',
        b'{"v":2,"username":"a/b"}',
        b'{"v":2}',
        b'{"v":true,"username":"alice"}',
        b"[]",
    ],
)
def test_bad_identity_payload_is_rejected(payload: bytes) -> None:
    bob = SecureChannel(
        initiator=False, identity=BOB, username="bob", authorize=expecting(DIRECTORY)
    )
    rogue = HandshakeState(PATTERN, True, PROLOGUE, s=ALICE.private_key)
    rogue.read_message(bob.receive(rogue.write_message(b"")).send[0])
    with pytest.raises(ChannelHandshakeError):
        bob.receive(rogue.write_message(payload))
    assert bob.closed


def test_misuse_is_refused() -> None:
    alice, bob = make_pair()
    with pytest.raises(ChannelError):
        alice.encrypt(b"too early")
    with pytest.raises(ChannelError):
        bob.start()
    with pytest.raises(ChannelError):
        alice.receive(b"\x00" * 48)  # before start()
    assert alice.closed


def test_output_type() -> None:
    alice, bob = make_pair()
    out = bob.receive(alice.start())
    assert isinstance(out, ChannelOutput)
    assert len(out.send) == 1 and out.messages == [] and not out.established
