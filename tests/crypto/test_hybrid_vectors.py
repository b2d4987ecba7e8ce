"""Deterministic vectors for the hybrid handshake, ``Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256``.

``vectors/p2pchat-xxhfs-25519-mlkem768-aesgcm-sha256.json`` fixes every input: the X25519
static and ephemeral keys of both sides, the initiator's ML-KEM-768 seed and the
responder's encapsulation (ciphertext and KEM output, recorded once: ``cryptography`` cannot
fix the randomness of ``encapsulate()``, so the pair is checked by decapsulating it with the
seed's key). Each vector is checked twice:

* against :mod:`tests.crypto.noise_hfs_reference`, a second implementation written from the
  Noise and HFS specifications that imports nothing from ``crypto/``;
* against the project's :class:`crypto.noise.HandshakeState` (and the transport
  CipherStates after it): every message byte for byte, the payloads, the handshake hash.

The first vector is the real channel (``crypto.channel``'s prologue and identity payloads).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto.channel import PATTERN, PROLOGUE, encode_identity_payload
from crypto.noise import CipherState, HandshakeState, protocol_name
from crypto.primitives import kem_keypair_from_seed
from tests.crypto import noise_hfs_reference as reference

VECTOR_FILE = Path(__file__).parent / "vectors" / "p2pchat-xxhfs-25519-mlkem768-aesgcm-sha256.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTOR_FILE.read_text())["vectors"]
IDS = [bytes.fromhex(v["prologue"]).decode(errors="replace")[:20] for v in VECTORS]


def _b(vector: dict[str, Any], name: str) -> bytes:
    return bytes.fromhex(vector[name])


def _payloads(vector: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(m["payload"]) for m in vector["messages"]]


def _ciphertexts(vector: dict[str, Any]) -> list[bytes]:
    return [bytes.fromhex(m["ciphertext"]) for m in vector["messages"]]


def test_first_vector_is_the_channel_protocol() -> None:
    vector = VECTORS[0]
    assert vector["protocol_name"].encode() == protocol_name(PATTERN) == reference.PROTOCOL_NAME
    assert _b(vector, "prologue") == PROLOGUE
    payloads = _payloads(vector)
    assert payloads[1:3] == [encode_identity_payload("bob"), encode_identity_payload("alice")]


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_recorded_encapsulation_belongs_to_the_seed(vector: dict[str, Any]) -> None:
    ciphertext, output = _b(vector, "resp_kem_ciphertext"), _b(vector, "resp_kem_output")
    assert reference.kem_decapsulate(_b(vector, "init_kem_seed"), ciphertext) == output


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_reference_computation_reproduces_the_vector(vector: dict[str, Any]) -> None:
    payloads = _payloads(vector)
    session = reference.run_handshake(
        _b(vector, "prologue"),
        init_static=_b(vector, "init_static"),
        init_ephemeral=_b(vector, "init_ephemeral"),
        init_kem_seed=_b(vector, "init_kem_seed"),
        resp_static=_b(vector, "resp_static"),
        resp_ephemeral=_b(vector, "resp_ephemeral"),
        kem_ciphertext=_b(vector, "resp_kem_ciphertext"),
        kem_output=_b(vector, "resp_kem_output"),
        payloads=(payloads[0], payloads[1], payloads[2]),
    )
    expected = _ciphertexts(vector)
    assert list(session.messages) == expected[:3]
    assert session.handshake_hash == _b(vector, "handshake_hash")
    for position in range(3, len(expected)):
        key = (
            session.initiator_to_responder if position % 2 == 1 else session.responder_to_initiator
        )
        nonce = (position - 3) // 2
        assert reference.encrypt_transport(key, nonce, payloads[position]) == expected[position]


def _key(vector: dict[str, Any], name: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_b(vector, name))


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_handshake_state_reproduces_the_vector(vector: dict[str, Any]) -> None:
    prologue = _b(vector, "prologue")
    initiator = HandshakeState(
        PATTERN,
        True,
        prologue,
        s=_key(vector, "init_static"),
        e=_key(vector, "init_ephemeral"),
        e1=kem_keypair_from_seed(_b(vector, "init_kem_seed")),
    )
    responder = HandshakeState(
        PATTERN,
        False,
        prologue,
        s=_key(vector, "resp_static"),
        e=_key(vector, "resp_ephemeral"),
        encapsulation=(_b(vector, "resp_kem_ciphertext"), _b(vector, "resp_kem_output")),
    )
    payloads, expected = _payloads(vector), _ciphertexts(vector)
    for index in range(3):
        sender, receiver = (initiator, responder) if index % 2 == 0 else (responder, initiator)
        message = sender.write_message(payloads[index])
        assert message == expected[index], f"message {index}"
        # The initiator decapsulates the recorded ciphertext itself: only the
        # responder's encapsulation is fixed.
        assert receiver.read_message(message) == payloads[index]
    assert initiator.complete and responder.complete
    assert initiator.handshake_hash == responder.handshake_hash == _b(vector, "handshake_hash")
    init_send, init_recv = initiator.split()
    resp_recv, resp_send = responder.split()
    ciphers: dict[bool, tuple[CipherState, CipherState]] = {
        True: (init_send, resp_recv),
        False: (resp_send, init_recv),
    }
    for position in range(3, len(expected)):
        send, recv = ciphers[position % 2 == 1]
        body = send.encrypt_with_ad(b"", payloads[position])
        assert body == expected[position], f"transport message {position}"
        assert recv.decrypt_with_ad(b"", body) == payloads[position]


def test_message_sizes() -> None:
    """Message 1: 32 + 1184; message 2: 32 + (1088 + 16) + (32 + 16) + payload + 16."""
    vector = VECTORS[0]
    payloads, expected = _payloads(vector), _ciphertexts(vector)
    assert len(expected[0]) == 1216 + len(payloads[0])
    assert len(expected[1]) == 1200 + len(payloads[1])
    assert len(expected[2]) == 64 + len(payloads[2])
