"""The cacophony test vectors for every Noise_*_25519_AESGCM_SHA256 pattern in the file.

Both sides run with the vector's fixed keys; each handshake message must match the
expected ciphertext byte for byte, the payload must come back out, the handshake hashes
must match, and the transport messages after the handshake must match too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto.noise import CipherState, HandshakeState

VECTOR_FILE = Path(__file__).parent / "vectors" / "noise-cacophony-25519-aesgcm-sha256.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTOR_FILE.read_text())["vectors"]


def _key(vector: dict[str, Any], name: str) -> X25519PrivateKey | None:
    value = vector.get(name)
    return None if value is None else X25519PrivateKey.from_private_bytes(bytes.fromhex(value))


def _raw(vector: dict[str, Any], name: str) -> bytes | None:
    value = vector.get(name)
    return None if value is None else bytes.fromhex(value)


def test_file_covers_xx() -> None:
    names = {v["protocol_name"] for v in VECTORS}
    assert "Noise_XX_25519_AESGCM_SHA256" in names
    assert len(names) == len(VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["protocol_name"] for v in VECTORS])
def test_cacophony_vector(vector: dict[str, Any]) -> None:
    pattern = vector["protocol_name"].split("_")[1]
    initiator = HandshakeState(
        pattern,
        True,
        bytes.fromhex(vector["init_prologue"]),
        s=_key(vector, "init_static"),
        e=_key(vector, "init_ephemeral"),
        rs=_raw(vector, "init_remote_static"),
    )
    responder = HandshakeState(
        pattern,
        False,
        bytes.fromhex(vector["resp_prologue"]),
        s=_key(vector, "resp_static"),
        e=_key(vector, "resp_ephemeral"),
        rs=_raw(vector, "resp_remote_static"),
    )
    messages = vector["messages"]
    index = 0
    while not initiator.complete:
        sender, receiver = (initiator, responder) if index % 2 == 0 else (responder, initiator)
        payload = bytes.fromhex(messages[index]["payload"])
        ciphertext = sender.write_message(payload)
        assert ciphertext.hex() == messages[index]["ciphertext"]
        assert receiver.read_message(ciphertext) == payload
        index += 1
    assert responder.complete
    assert initiator.handshake_hash.hex() == vector["handshake_hash"]
    assert responder.handshake_hash.hex() == vector["handshake_hash"]

    init_send, init_recv = initiator.split()
    resp_recv, resp_send = responder.split()
    ciphers: dict[bool, tuple[CipherState, CipherState]] = {
        True: (init_send, resp_recv),
        False: (resp_send, init_recv),
    }
    # Cacophony keeps alternating after the handshake: even positions are the initiator's.
    for position in range(index, len(messages)):
        send, recv = ciphers[position % 2 == 0]
        payload = bytes.fromhex(messages[position]["payload"])
        ciphertext = send.encrypt_with_ad(b"", payload)
        assert ciphertext.hex() == messages[position]["ciphertext"]
        assert recv.decrypt_with_ad(b"", ciphertext) == payload
