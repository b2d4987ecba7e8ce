"""What the ML-KEM half of the handshake adds, attacked.

* Hybrid secrecy: an eavesdropper given every X25519 secret of a session (both static
  and both ephemeral keys) still cannot derive the transport keys without the ML-KEM
  secret, and one given the ML-KEM secret (even the KEM output itself) cannot without the
  X25519 secrets. Each adversary runs the key schedule itself
  (:func:`tests.crypto.noise_hfs_reference.derive_from_wire`); given both halves the same
  computation yields the real keys, so a difference can only come from the missing half.
* Tampering with the KEM public key or ciphertext breaks the handshake before any
  message, also when the attacker holds the ephemeral X25519 keys and re-encrypts.
* No downgrade: a version-1 (plain XX) handshake, whether from an old peer or from a man
  in the middle stripping the KEM, is refused by both new ends with a message naming the
  versions; a padded version-1 answer that dodges the size check still fails.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commons.errors import ErrorCode
from crypto.channel import MIN_MSG2_LEN, MSG1_LEN, PATTERN, PROLOGUE, SecureChannel
from crypto.errors import ChannelHandshakeError, HandshakeError, OutdatedPeerError
from crypto.noise import HandshakeState
from crypto.primitives import kem_keypair_from_seed
from tests.crypto import noise_hfs_reference as reference
from tests.crypto.test_channel import ALICE, BOB, DIRECTORY, expecting

V1_PROLOGUE = b"p2pchat/1 Noise_XX_25519_AESGCM_SHA256"
PROBE = b"the transport key decides this ciphertext"
KEM_PUBLIC = slice(32, MSG1_LEN)
KEM_CIPHERTEXT = slice(32, 32 + 1088 + 16)


def _secret(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


INIT_E, RESP_E = _secret("alice ephemeral"), _secret("bob ephemeral")
KEM_SEED = hashlib.sha512(b"alice ML-KEM seed").digest()
PUBLIC_INIT_E = reference.x25519_public(INIT_E)
PUBLIC_RESP_E = reference.x25519_public(RESP_E)


@dataclass(frozen=True)
class Recorded:
    """A complete session between Alice and Bob (secrets above) as the wire saw it."""

    messages: tuple[bytes, bytes, bytes]
    # The first transport message each way, both carrying PROBE: what the real keys give.
    real_i2r: bytes
    real_r2i: bytes


@functools.cache
def _session() -> Recorded:
    initiator = HandshakeState(
        PATTERN,
        True,
        PROLOGUE,
        s=ALICE.private_key,
        e=X25519PrivateKey.from_private_bytes(INIT_E),
        e1=kem_keypair_from_seed(KEM_SEED),
    )
    responder = HandshakeState(
        PATTERN,
        False,
        PROLOGUE,
        s=BOB.private_key,
        e=X25519PrivateKey.from_private_bytes(RESP_E),
    )
    msg1 = initiator.write_message(b"")
    responder.read_message(msg1)
    msg2 = responder.write_message(b'{"v":2,"username":"bob"}')
    initiator.read_message(msg2)
    msg3 = initiator.write_message(b'{"v":2,"username":"alice"}')
    responder.read_message(msg3)
    i2r, r2i = initiator.split()
    return Recorded(
        (msg1, msg2, msg3),
        i2r.encrypt_with_ad(b"", PROBE),
        r2i.encrypt_with_ad(b"", PROBE),
    )


def _x25519_results(
    init_static: bytes, init_ephemeral: bytes, resp_static: bytes, resp_ephemeral: bytes
) -> dict[str, bytes | None]:
    """ee, es, se as anyone holding these private keys computes them."""
    return {
        "ee": reference.x25519(resp_ephemeral, reference.x25519_public(init_ephemeral)),
        "es": reference.x25519(resp_static, reference.x25519_public(init_ephemeral)),
        "se": reference.x25519(init_static, reference.x25519_public(resp_ephemeral)),
    }


ALL_X25519 = _x25519_results(ALICE.private_bytes(), INIT_E, BOB.private_bytes(), RESP_E)


def _transport(dh: dict[str, bytes | None], kem_output: bytes | None) -> tuple[bytes, bytes]:
    """The adversary's PROBE ciphertexts under the keys it derives from ``dh`` + ``kem``."""
    _h, k1, k2 = reference.derive_from_wire(
        PROLOGUE, _session().messages, kem_output=kem_output, **dh
    )
    return reference.encrypt_transport(k1, 0, PROBE), reference.encrypt_transport(k2, 0, PROBE)


def _real() -> tuple[bytes, bytes]:
    return _session().real_i2r, _session().real_r2i


def _kem_ciphertext() -> bytes:
    ee = ALL_X25519["ee"]
    assert ee is not None
    ciphertext, _ = reference.kem_ciphertext_from_wire(
        PROLOGUE, _session().messages[0], _session().messages[1], ee
    )
    return ciphertext


def test_both_halves_give_the_real_keys() -> None:
    """The adversaries' computation is right: with both secrets it finds the real keys."""
    kem_output = reference.kem_decapsulate(KEM_SEED, _kem_ciphertext())
    assert _transport(ALL_X25519, kem_output) == _real()


def test_every_x25519_secret_without_the_ml_kem_secret_gives_wrong_keys() -> None:
    test_both_halves_give_the_real_keys()
    # The KEM ciphertext itself is no secret to this adversary (only ee protects it)...
    ciphertext = _kem_ciphertext()
    assert len(ciphertext) == 1088
    # ...but without Alice's ML-KEM private key, its best guesses for the KEM output are
    # decapsulating with another key (FIPS 203 implicit rejection) or guessing outright.
    other_seed = hashlib.sha512(b"mallory's ML-KEM seed").digest()
    guesses: list[bytes | None] = [
        reference.kem_decapsulate(other_seed, ciphertext),
        bytes(32),
        hashlib.sha256(ciphertext).digest(),
        None,  # as if the KEM output had never been mixed in (a plain-XX key schedule)
    ]
    for guess in guesses:
        derived = _transport(ALL_X25519, guess)
        real = _real()
        assert derived[0] != real[0] and derived[1] != real[1]


def test_the_ml_kem_secret_without_the_x25519_secrets_gives_wrong_keys() -> None:
    """Given Alice's ML-KEM key and even the KEM output, but no X25519 private key."""
    test_both_halves_give_the_real_keys()
    # The test hands it the KEM output: without ee it could not even decrypt the ciphertext.
    kem_output = reference.kem_decapsulate(KEM_SEED, _kem_ciphertext())
    mallory = _secret("mallory's own X25519 key")
    # Its best: DH with keys of its own against the public keys on the wire, or guesses.
    own_results: dict[str, bytes | None] = {
        "ee": reference.x25519(mallory, PUBLIC_RESP_E),
        "es": reference.x25519(mallory, BOB.public_bytes),
        "se": reference.x25519(mallory, PUBLIC_INIT_E),
    }
    zeros: dict[str, bytes | None] = {"ee": bytes(32), "es": bytes(32), "se": bytes(32)}
    left_out: dict[str, bytes | None] = {"ee": None, "es": None, "se": None}
    for guess in (own_results, zeros, left_out):
        derived = _transport(guess, kem_output)
        real = _real()
        assert derived[0] != real[0] and derived[1] != real[1]
    # One X25519 result short is as good as none.
    for missing in ("ee", "es", "se"):
        partial = dict(ALL_X25519, **{missing: own_results[missing]})
        derived = _transport(partial, kem_output)
        real = _real()
        assert derived[0] != real[0] and derived[1] != real[1]


# ---------------------------------------------------------------- tampering with the KEM


def _pair(seen: list[str]) -> tuple[SecureChannel, SecureChannel]:
    alice = SecureChannel(
        initiator=True, identity=ALICE, username="alice", authorize=expecting(DIRECTORY, seen)
    )
    bob = SecureChannel(
        initiator=False, identity=BOB, username="bob", authorize=expecting(DIRECTORY, seen)
    )
    return alice, bob


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(KEM_PUBLIC.start * 8, KEM_PUBLIC.stop * 8 - 1))
def test_tampered_kem_public_key_breaks_the_handshake_before_any_message(bit: int) -> None:
    """Message 1 carries the KEM key in clear; a flipped bit makes Bob encapsulate to a
    key Alice does not hold, or is refused outright (unreduced coefficient). Either way
    neither side authorizes anyone or completes."""
    seen: list[str] = []
    alice, bob = _pair(seen)
    with pytest.raises(ChannelHandshakeError):
        out2 = bob.receive(_flip(alice.start(), bit))
        alice.receive(out2.send[0])
    assert seen == [] and not alice.established and not bob.established
    assert alice.closed or bob.closed


def test_unreduced_kem_public_key_is_refused_by_the_responder() -> None:
    """FIPS 203's modulus check: coefficient 0 set to 4095 (>= q = 3329)."""
    seen: list[str] = []
    alice, bob = _pair(seen)
    msg1 = bytearray(alice.start())
    msg1[32] = 0xFF
    msg1[33] |= 0x0F
    with pytest.raises(ChannelHandshakeError, match="ML-KEM-768 public key is malformed"):
        bob.receive(bytes(msg1))
    assert bob.closed and seen == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(KEM_CIPHERTEXT.start * 8, KEM_CIPHERTEXT.stop * 8 - 1))
def test_tampered_kem_ciphertext_breaks_the_handshake_before_any_message(bit: int) -> None:
    seen: list[str] = []
    alice, bob = _pair(seen)
    out2 = bob.receive(alice.start())
    with pytest.raises(ChannelHandshakeError):
        alice.receive(_flip(out2.send[0], bit))
    assert seen == [] and alice.closed and not alice.established
    assert alice.remote_static is None


def _substitute_kem_ciphertext(msg1: bytes, msg2: bytes, ee: bytes, new: bytes) -> bytes:
    """Message 2 with its KEM ciphertext replaced by ``new``, properly re-encrypted: what
    a man in the middle can do who holds the ephemeral X25519 keys but no ML-KEM key."""
    _old, transcript = reference.kem_ciphertext_from_wire(PROLOGUE, msg1, msg2, ee)
    return (
        msg2[: KEM_CIPHERTEXT.start]
        + transcript.encrypt_and_hash(new)
        + msg2[KEM_CIPHERTEXT.stop :]
    )


@pytest.mark.parametrize("substitute", ["fresh_encapsulation", "flipped_bit"])
def test_substituted_kem_ciphertext_breaks_the_handshake_even_with_the_ephemeral_keys(
    substitute: str,
) -> None:
    """The attacker re-encrypts the ciphertext slot correctly, so the AEAD check passes;
    the KEM output then differs (a fresh encapsulation the responder never made, or an
    altered ciphertext decapsulating to FIPS 203's rejection value) and Alice fails on
    the very next field, Bob's encrypted static key, before learning who he is."""
    init_e, resp_e = _secret("alice e (mitm)"), _secret("bob e (mitm)")
    alice = HandshakeState(
        PATTERN, True, PROLOGUE, s=ALICE.private_key, e=X25519PrivateKey.from_private_bytes(init_e)
    )
    bob = HandshakeState(
        PATTERN, False, PROLOGUE, s=BOB.private_key, e=X25519PrivateKey.from_private_bytes(resp_e)
    )
    msg1 = alice.write_message(b"")
    bob.read_message(msg1)
    msg2 = bob.write_message(b'{"v":2,"username":"bob"}')
    ee = reference.x25519(resp_e, reference.x25519_public(init_e))
    original, _ = reference.kem_ciphertext_from_wire(PROLOGUE, msg1, msg2, ee)
    if substitute == "fresh_encapsulation":
        new, _output = reference.kem_encapsulate(msg1[KEM_PUBLIC])
    else:
        new = _flip(original, 5000)
    forged = _substitute_kem_ciphertext(msg1, msg2, ee, new)
    assert len(forged) == len(msg2) and forged != msg2
    with pytest.raises(HandshakeError, match="failed authentication"):
        alice.read_message(forged)
    assert alice.remote_static is None and not alice.complete


# ---------------------------------------------------------------- no downgrade


def _assert_names_versions(error: OutdatedPeerError) -> None:
    assert error.code is ErrorCode.UNSUPPORTED_VERSION
    assert "protocol 2" in error.message and "update p2pchat" in error.message


def test_version_1_initiator_is_refused_with_a_message_naming_the_version() -> None:
    seen: list[str] = []
    _alice, bob = _pair(seen)
    old = HandshakeState("XX", True, V1_PROLOGUE, s=ALICE.private_key)
    with pytest.raises(OutdatedPeerError) as refused:
        bob.receive(old.write_message(b""))
    _assert_names_versions(refused.value)
    assert "protocol 1" in refused.value.message
    assert bob.closed and seen == []


def test_kem_stripped_by_a_man_in_the_middle_is_refused_by_the_responder() -> None:
    seen: list[str] = []
    alice, bob = _pair(seen)
    with pytest.raises(OutdatedPeerError) as refused:
        bob.receive(alice.start()[:32])
    _assert_names_versions(refused.value)
    assert bob.closed and seen == []


def _version_1_answer(msg1: bytes) -> bytes:
    """A plain-XX message 2 to the ephemeral key of ``msg1``, made with Bob's own
    identity key: the best a stripping man in the middle (or a leaked key) can offer."""
    mallory = HandshakeState("XX", False, V1_PROLOGUE, s=BOB.private_key)
    mallory.read_message(msg1[:32])
    return mallory.write_message(b'{"v":1,"username":"bob"}')


def test_kem_stripped_by_a_man_in_the_middle_is_refused_by_the_initiator() -> None:
    seen: list[str] = []
    alice, _bob = _pair(seen)
    with pytest.raises(OutdatedPeerError) as refused:
        alice.receive(_version_1_answer(alice.start()))
    _assert_names_versions(refused.value)
    assert alice.closed and seen == [] and alice.remote_static is None


def test_padded_version_1_answer_still_fails() -> None:
    """The size check only names the problem; the prologue and protocol name are what
    refuse it: a version-1 answer padded past the size check fails to authenticate."""
    seen: list[str] = []
    alice, _bob = _pair(seen)
    answer = _version_1_answer(alice.start())
    padded = answer + bytes(MIN_MSG2_LEN - len(answer) + 8)
    with pytest.raises(ChannelHandshakeError) as refused:
        alice.receive(padded)
    assert not isinstance(refused.value, OutdatedPeerError)
    assert alice.closed and seen == []


def test_stripping_man_in_the_middle_gets_no_channel_with_either_new_client() -> None:
    """Mallory sits between Alice and Bob and strips the KEM both ways: each new client
    refuses, nobody is authorized, no transport key exists on either side."""
    seen: list[str] = []
    alice, bob = _pair(seen)
    msg1 = alice.start()
    with pytest.raises(OutdatedPeerError):
        bob.receive(msg1[:32])
    with pytest.raises(OutdatedPeerError):
        alice.receive(_version_1_answer(msg1))
    assert seen == []
    assert alice.closed and bob.closed and not alice.established and not bob.established
