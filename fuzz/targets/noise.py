"""Target ``noise``: the end-to-end channel's handshake and transport receive.

The first byte picks a mode:

0. a responder reads fuzzed handshake messages 1 and 3;
1. an initiator reads a fuzzed message 2;
2. a forged responder (a correct Noise handshake) sends message 2 with a fuzzed
   payload, so the identity-payload parser is reached behind a valid AEAD;
3. the same for a forged initiator's message 3;
4. an established channel receives real transport messages XORed with fuzzed masks;
5. an established channel receives fuzzed bodies.

Invariants: only ``ChannelError`` (or its handshake subclass) escapes; after one the
channel is closed and stays closed; ``authorize`` is called only with a valid username
and the real remote static key, at most once; a channel established from a forged
payload saw exactly ``{"v": 1, "username": NAME}``; a transport message is delivered
only unmodified, in order, and nothing is delivered after the first failure.
"""

from __future__ import annotations

from commons.codec import decode_object
from commons.models import validate_username
from crypto.channel import PATTERN, PROLOGUE, SecureChannel
from crypto.errors import ChannelError
from crypto.identity import IdentityKey
from crypto.noise import HandshakeState
from fuzz.byte_reader import ByteReader

MAX_LEN = 4096
_ALICE = IdentityKey.from_private_bytes(bytes(range(1, 33)))
_BOB = IdentityKey.from_private_bytes(bytes(range(33, 65)))


class _Authorizations:
    def __init__(self, expected_key: bytes) -> None:
        self.expected_key = expected_key
        self.calls: list[str] = []

    def __call__(self, username: str, key: bytes) -> None:
        assert validate_username(username) == username
        assert key == self.expected_key
        self.calls.append(username)
        assert len(self.calls) == 1


def _channel(initiator: bool) -> tuple[SecureChannel, _Authorizations]:
    me, other = (_ALICE, _BOB) if initiator else (_BOB, _ALICE)
    authorize = _Authorizations(other.public_bytes)
    name = "alice" if initiator else "bob"
    return SecureChannel(initiator=initiator, identity=me, username=name, authorize=authorize), (
        authorize
    )


def _refused(channel: SecureChannel, body: bytes) -> bool:
    """Feed ``body``; True if the channel refused it (and is now closed for good)."""
    try:
        channel.receive(body)
    except ChannelError:
        assert channel.closed
        try:
            channel.receive(b"")
        except ChannelError:
            return True
        raise AssertionError("a closed channel accepted input") from None
    return False


def _chunks(reader: ByteReader) -> list[bytes]:
    first = reader.take(reader.below(200))
    return [first, reader.rest()]


def _forged_payload_is_well_formed(payload: bytes, established: bool, calls: list[str]) -> None:
    if not established:
        return
    obj = decode_object(payload)
    assert obj == {"v": 1, "username": calls[0]}
    assert type(obj["v"]) is int


def _forged_responder(payload: bytes) -> None:
    initiator, authorized = _channel(True)
    forger = HandshakeState(PATTERN, False, PROLOGUE, s=_BOB.private_key)
    forger.read_message(initiator.start())
    message2 = forger.write_message(payload)
    established = not _refused(initiator, message2)
    _forged_payload_is_well_formed(payload, established, authorized.calls)
    assert established == initiator.established


def _forged_initiator(payload: bytes) -> None:
    responder, authorized = _channel(False)
    forger = HandshakeState(PATTERN, True, PROLOGUE, s=_ALICE.private_key)
    output = responder.receive(forger.write_message(b""))
    forger.read_message(output.send[0])
    established = not _refused(responder, forger.write_message(payload))
    _forged_payload_is_well_formed(payload, established, authorized.calls)
    assert established == responder.established


def _established() -> tuple[SecureChannel, SecureChannel]:
    initiator, _ = _channel(True)
    responder, _ = _channel(False)
    message2 = responder.receive(initiator.start()).send[0]
    message3 = initiator.receive(message2).send[0]
    assert responder.receive(message3).established
    return initiator, responder


def _tampered_transport(reader: ByteReader) -> None:
    sender, receiver = _established()
    delivered_all = True
    for index in range(1 + reader.below(6)):
        plaintext = b"message %d" % index
        body = sender.encrypt(plaintext)
        mask = reader.take(len(body))
        tampered = bytes(b ^ m for b, m in zip(body, mask, strict=False)) + body[len(mask) :]
        if reader.below(8) == 0:
            tampered = tampered[: reader.below(len(tampered) + 1)]
        if not delivered_all:
            assert _refused(receiver, tampered) or receiver.closed
            continue
        try:
            output = receiver.receive(tampered)
        except ChannelError:
            assert tampered != body and receiver.closed
            delivered_all = False
            continue
        assert tampered == body and output.messages == [plaintext]


def fuzz_one(data: bytes) -> None:
    reader = ByteReader(data)
    mode = reader.below(6)
    if mode == 0:
        responder, authorized = _channel(False)
        for body in _chunks(reader):
            if _refused(responder, body):
                break
        assert not responder.established or authorized.calls
    elif mode == 1:
        initiator, _ = _channel(True)
        initiator.start()
        _refused(initiator, reader.rest())
        assert not initiator.established
    elif mode == 2:
        _forged_responder(reader.rest())
    elif mode == 3:
        _forged_initiator(reader.rest())
    elif mode == 4:
        _tampered_transport(reader)
    else:
        _, receiver = _established()
        while reader.remaining:
            body = reader.take(1 + reader.below(128))
            assert _refused(receiver, body)


def seeds() -> list[bytes]:
    return [
        bytes([0, 32]) + bytes(range(32)) + bytes(48),
        bytes([1]) + bytes(96),
        bytes([2]) + b'{"v":1,"username":"bob"}',
        bytes([2]) + b'{"v":1.0,"username":"bob"}',
        bytes([2]) + b'{"v":1,"username":"bob","x":1}',
        bytes([3]) + b'{"v":1,"username":"alice"}',
        bytes([3]) + b'{"v":1,"username":"\\ud800"}',
        bytes([4, 3]) + bytes(200),
        bytes([4, 2]) + bytes(30) + b"\x01" + bytes(40),
        bytes([5, 40]) + bytes(41),
    ]
