"""Audit attacks on SecureChannel beyond single-message tampering.

Downgrade (another prologue or payload version on either side), a whole recorded
session replayed to a fresh responder, reflection of a side's own messages, handshake
messages truncated, extended, reordered or replayed, and low-order ephemeral keys. Each
test fails if the channel completes, calls ``authorize`` or yields a plaintext when it
must not.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto.channel import MIN_MSG2_LEN, PATTERN, PROLOGUE, SecureChannel
from crypto.errors import ChannelError, ChannelHandshakeError, HandshakeError
from crypto.noise import HandshakeState
from crypto.primitives import generate_kem_keypair, kem_public_bytes
from tests.crypto.test_channel import ALICE, BOB, DIRECTORY, expecting, handshake, make_pair

OTHER_PROLOGUES = [
    b"p2pchat/1 Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256",
    b"p2pchat/3 Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256",
    b"p2pchat/1 Noise_XX_25519_AESGCM_SHA256",
    b"",
    PROLOGUE + b"\x00",
]


def _responder(seen: list[str] | None = None) -> SecureChannel:
    return SecureChannel(
        initiator=False, identity=BOB, username="bob", authorize=expecting(DIRECTORY, seen)
    )


def _initiator(seen: list[str] | None = None) -> SecureChannel:
    return SecureChannel(
        initiator=True, identity=ALICE, username="alice", authorize=expecting(DIRECTORY, seen)
    )


@pytest.mark.parametrize("prologue", OTHER_PROLOGUES)
def test_responder_refuses_an_initiator_with_another_prologue(prologue: bytes) -> None:
    """A peer speaking another protocol version dials us: our message 2 does not
    authenticate under its prologue, so it cannot produce a message 3 we would accept;
    a message 3 made with its own transcript is refused before authorize."""
    seen: list[str] = []
    bob = _responder(seen)
    ephemeral = X25519PrivateKey.generate()
    other = HandshakeState(PATTERN, True, prologue, s=ALICE.private_key, e=ephemeral)
    msg1 = other.write_message(b"")
    msg2 = bob.receive(msg1).send[0]
    with pytest.raises(HandshakeError):
        other.read_message(msg2)
    # Its best try: complete the handshake with a responder of its own version and
    # send that message 3 (same ephemeral key) to Bob.
    other = HandshakeState(PATTERN, True, prologue, s=ALICE.private_key, e=ephemeral)
    mirror = HandshakeState(PATTERN, False, prologue, s=BOB.private_key)
    mirror.read_message(other.write_message(b""))
    other.read_message(mirror.write_message(b'{"v":2,"username":"bob"}'))
    with pytest.raises(ChannelHandshakeError):
        bob.receive(other.write_message(b'{"v":2,"username":"alice"}'))
    assert seen == [] and bob.closed and bob.remote_username is None


@pytest.mark.parametrize("prologue", OTHER_PROLOGUES)
def test_initiator_refuses_a_responder_with_another_prologue(prologue: bytes) -> None:
    seen: list[str] = []
    alice = _initiator(seen)
    other = HandshakeState(PATTERN, False, prologue, s=BOB.private_key)
    other.read_message(alice.start())
    with pytest.raises(ChannelHandshakeError):
        alice.receive(other.write_message(b'{"v":2,"username":"bob"}'))
    assert seen == [] and alice.closed


BAD_VERSION_PAYLOADS = [
    b'{"v":1,"username":"bob"}',
    b'{"v":3,"username":"bob"}',
    b'{"v":"2","username":"bob"}',
    b'{"v":2.0,"username":"bob"}',
    b'{"v":2,"username":"bob","cipher":"none"}',
    b'{"v":2,"username":"bob","kem":"none"}',
    b'{"username":"bob"}',
]


@pytest.mark.parametrize("payload", BAD_VERSION_PAYLOADS)
def test_initiator_refuses_another_payload_version(payload: bytes) -> None:
    """Message 2 authenticates fine but names another version or adds fields: refused."""
    seen: list[str] = []
    alice = _initiator(seen)
    rogue = HandshakeState(PATTERN, False, PROLOGUE, s=BOB.private_key)
    rogue.read_message(alice.start())
    with pytest.raises(ChannelHandshakeError):
        alice.receive(rogue.write_message(payload))
    assert seen == [] and alice.closed


@pytest.mark.parametrize("payload", [p.replace(b"bob", b"alice") for p in BAD_VERSION_PAYLOADS])
def test_responder_refuses_another_payload_version(payload: bytes) -> None:
    seen: list[str] = []
    bob = _responder(seen)
    rogue = HandshakeState(PATTERN, True, PROLOGUE, s=ALICE.private_key)
    rogue.read_message(bob.receive(rogue.write_message(b"")).send[0])
    with pytest.raises(ChannelHandshakeError):
        bob.receive(rogue.write_message(payload))
    assert seen == [] and bob.closed


def test_recorded_session_replayed_to_a_new_responder_fails() -> None:
    """Replaying every byte Alice once sent gets nowhere: Bob's fresh ephemeral key
    makes the recorded message 3 undecryptable, so authorize never runs and none of the
    recorded transport messages is ever decrypted."""
    alice, bob = make_pair()
    msg1 = alice.start()
    msg3 = alice.receive(bob.receive(msg1).send[0]).send[0]
    bob.receive(msg3)
    recorded = [alice.encrypt(b"transfer 100"), alice.encrypt(b"to mallory")]
    for body in recorded:
        bob.receive(body)

    seen: list[str] = []
    victim = _responder(seen)
    victim.receive(msg1)  # message 1 is an unauthenticated ephemeral key: accepted
    with pytest.raises(ChannelHandshakeError):
        victim.receive(msg3)
    assert seen == [] and not victim.established
    with pytest.raises(ChannelError):
        victim.receive(recorded[0])


def test_transport_frame_replayed_into_a_new_connection_between_the_same_users() -> None:
    alice1, bob1 = make_pair()
    handshake(alice1, bob1)
    recorded = alice1.encrypt(b"pay 10 euros")
    assert bob1.receive(recorded).messages == [b"pay 10 euros"]
    alice2, bob2 = make_pair()
    handshake(alice2, bob2)
    with pytest.raises(ChannelError):
        bob2.receive(recorded)
    assert bob2.closed


def test_reflected_message_is_rejected() -> None:
    """Each direction has its own key: a side's own message sent back does not decrypt."""
    alice, bob = make_pair()
    handshake(alice, bob)
    with pytest.raises(ChannelError):
        bob.receive(bob.encrypt(b"echo"))
    with pytest.raises(ChannelError):
        alice.receive(alice.encrypt(b"echo"))


def test_reflected_handshake_message_is_rejected() -> None:
    """Alice's message 1 bounced back to her as message 2 does not authenticate."""
    alice = _initiator()
    msg1 = alice.start()
    with pytest.raises(ChannelHandshakeError):
        alice.receive(msg1 + bytes(64))
    assert alice.closed


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("change", ["truncate", "extend"])
def test_truncated_or_extended_handshake_message_is_rejected(index: int, change: str) -> None:
    seen: list[str] = []
    alice, bob = _initiator(seen), _responder(seen)

    def tamper(i: int, body: bytes) -> bytes:
        if i != index:
            return body
        return body[:-1] if change == "truncate" else body + b"\x00"

    with pytest.raises(ChannelHandshakeError):
        out2 = bob.receive(tamper(0, alice.start()))
        out3 = alice.receive(tamper(1, out2.send[0]))
        bob.receive(tamper(2, out3.send[0]))
    assert not bob.established
    # Message 2 is where the initiator authorizes the responder; message 3 the reverse.
    assert seen == ([] if index < 2 else ["bob"])


def test_replayed_handshake_message_is_rejected() -> None:
    alice, bob = make_pair()
    msg1 = alice.start()
    out2 = bob.receive(msg1)
    with pytest.raises(ChannelHandshakeError):
        bob.receive(msg1)  # where message 3 was due
    assert bob.closed
    out3 = alice.receive(out2.send[0])
    with pytest.raises(ChannelError):
        bob.receive(out3.send[0])


# X25519 public keys of small order (from RFC 7748 / Wycheproof): the shared secret
# would be all zeros, a value the attacker knows.
LOW_ORDER_POINTS = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


@pytest.mark.parametrize("point", LOW_ORDER_POINTS)
def test_low_order_ephemeral_key_is_refused_by_the_responder(point: bytes) -> None:
    bob = _responder()
    kem_public = kem_public_bytes(generate_kem_keypair())
    with pytest.raises(ChannelHandshakeError, match="all-zero"):
        bob.receive(point + kem_public)
    assert bob.closed


@pytest.mark.parametrize("point", LOW_ORDER_POINTS)
def test_low_order_ephemeral_key_is_refused_by_the_initiator(point: bytes) -> None:
    alice = _initiator()
    alice.start()
    with pytest.raises(ChannelHandshakeError, match="all-zero"):
        alice.receive(point + bytes(MIN_MSG2_LEN))
    assert alice.closed


def test_every_session_has_fresh_keys() -> None:
    """Same two identities, same plaintext: a different transcript hash and ciphertext
    per connection, since the transport keys come from fresh ephemeral keys (the basis
    of forward secrecy; the static keys alone do not determine them)."""
    sessions = [make_pair() for _ in range(3)]
    for alice, bob in sessions:
        handshake(alice, bob)
    hashes = {alice.handshake_hash for alice, _ in sessions}
    bodies = {alice.encrypt(b"same text") for alice, _ in sessions}
    assert len(hashes) == 3 and len(bodies) == 3
