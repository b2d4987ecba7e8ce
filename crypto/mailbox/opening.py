"""Mailbox envelopes: the one-way hybrid Noise opening, the chained messages, padding.

**Opening** (the first deposit of a session). Noise pattern ``XEKhfs``, protocol
``Noise_XEKhfs_25519+MLKEM768_AESGCM_SHA256`` (:mod:`crypto.noise`)::

    <- e, e1, s                       (the prekey's X25519 and ML-KEM keys, R's identity)
    ...
    -> e, ee, ekem1, es, s, ss        payload: the 16-byte session id

``ee`` needs the prekey's X25519 private key (or the sender's ephemeral one, which is
discarded), ``ekem1`` the prekey's ML-KEM private key: once the recipient deletes the
prekey, its identity key alone (``es``, ``ss``) opens nothing. Every secret enters the
chaining key through ``MixKey``, so the keys stay secret if either X25519 or ML-KEM-768
holds. ``ss`` authenticates the sender's identity key to the recipient. The prologue
(:func:`prologue`) binds the envelope version, the recipient's username, the prekey id
and ``SHA-256(token)``.

**Session chain.** The split's initiator-to-responder key is the root ``ck_0``; message
``n`` is sealed with ``mk_n`` where ``ck_{n+1} || mk_n = HKDF(salt=ck_n, ikm="",
info=CHAIN_LABEL, 64)``. Each side keeps only the next ``ck``, so a key is gone once its
message is sealed or opened (per-message forward secrecy); the opening's own body is
message 0. Bodies are AES-256-GCM (a :class:`~crypto.noise.CipherState` over ``mk_n``,
nonce 0: every key seals one message) with the envelope header as associated data.

**Padding.** A plaintext is prefixed by its length (4 bytes) and zero-padded to the
smallest of :data:`BUCKETS` that holds it, inside the AEAD; the tracker sees the bucket.

Wire formats (all integers big-endian)::

    opening  = 0x01 0x01 prekey_id(8) handshake(1216) body
    message  = 0x01 0x02 session_id(16) n(8) body
    body     = AES-256-GCM(mk_n, ad, pad(plaintext))       (bucket + 16 bytes)
    ad       = the message header; for the opening: its 10-byte header || session_id || n=0
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from commons.models import validate_username
from crypto.errors import (
    DecryptError,
    EnvelopeAuthenticationError,
    EnvelopeError,
    HandshakeError,
)
from crypto.mailbox.prekeys import PREKEY_ID_LEN, Prekey, PrekeyPublic
from crypto.noise import CipherState, HandshakeState, protocol_name
from crypto.primitives import DHLEN, HASHLEN, KEM_CIPHERTEXT_LEN, TAGLEN, hkdf

VERSION = 1
KIND_OPENING = 1
KIND_MESSAGE = 2
PATTERN = "XEKhfs"
PROTOCOL_NAME = protocol_name(PATTERN)
PROLOGUE_LABEL = b"p2pchat mailbox v1 " + PROTOCOL_NAME
CHAIN_LABEL = b"p2pchat mailbox v1: chain"
SESSION_ID_LEN = 16
COUNTER_LEN = 8
BUCKETS = (256, 1024, 4096, 16384, 65536)
LENGTH_PREFIX = 4
MAX_PLAINTEXT = BUCKETS[-1] - LENGTH_PREFIX
#: e, ekem1 (+tag), s (+tag), the session id (+tag).
HANDSHAKE_LEN = DHLEN + (KEM_CIPHERTEXT_LEN + TAGLEN) + (DHLEN + TAGLEN) + (SESSION_ID_LEN + TAGLEN)
OPENING_HEADER_LEN = 2 + PREKEY_ID_LEN
MESSAGE_HEADER_LEN = 2 + SESSION_ID_LEN + COUNTER_LEN
MAX_COUNTER = 2**64 - 1
_BODY_SIZES = frozenset(bucket + TAGLEN for bucket in BUCKETS)


@dataclass(frozen=True, slots=True)
class ParsedOpening:
    """An opening envelope cut at its fields (nothing verified yet)."""

    header: bytes
    prekey_id: bytes
    handshake: bytes
    body: bytes


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """A chained envelope cut at its fields (nothing verified yet)."""

    header: bytes
    session_id: bytes
    n: int
    body: bytes


def prologue(recipient: str, prekey_id: bytes, token_hash: bytes) -> bytes:
    """Version, recipient, prekey id and token hash, each at a fixed or prefixed length."""
    name = validate_username(recipient).encode("utf-8")
    if len(prekey_id) != PREKEY_ID_LEN or len(token_hash) != HASHLEN:
        raise ValueError("bad prekey id or token hash")
    return PROLOGUE_LABEL + bytes([len(name)]) + name + prekey_id + token_hash


def bucket_for(size: int) -> int:
    """The padded size of a plaintext of ``size`` bytes; :class:`EnvelopeError` above 64 KiB."""
    for bucket in BUCKETS:
        if size + LENGTH_PREFIX <= bucket:
            return bucket
    raise EnvelopeError(f"a mailbox message holds at most {MAX_PLAINTEXT} bytes")


def pad(plaintext: bytes) -> bytes:
    bucket = bucket_for(len(plaintext))
    return len(plaintext).to_bytes(LENGTH_PREFIX, "big") + plaintext.ljust(
        bucket - LENGTH_PREFIX, b"\x00"
    )


def unpad(padded: bytes) -> bytes:
    size = int.from_bytes(padded[:LENGTH_PREFIX], "big")
    if len(padded) not in BUCKETS or size > len(padded) - LENGTH_PREFIX:
        raise EnvelopeError("padding is malformed")
    return padded[LENGTH_PREFIX : LENGTH_PREFIX + size]


def chain_step(chain_key: bytes) -> tuple[bytes, bytes]:
    """``(ck_{n+1}, mk_n)`` from ``ck_n``; the caller must forget ``ck_n``."""
    okm = hkdf(chain_key, b"", CHAIN_LABEL, 2 * HASHLEN)
    return okm[:HASHLEN], okm[HASHLEN:]


def message_header(session_id: bytes, n: int) -> bytes:
    if len(session_id) != SESSION_ID_LEN or not 0 <= n <= MAX_COUNTER:
        raise ValueError("bad session id or counter")
    return bytes([VERSION, KIND_MESSAGE]) + session_id + n.to_bytes(COUNTER_LEN, "big")


def opening_header(prekey_id: bytes) -> bytes:
    return bytes([VERSION, KIND_OPENING]) + prekey_id


def opening_body_ad(header: bytes, session_id: bytes) -> bytes:
    return header + session_id + bytes(COUNTER_LEN)


def seal_body(message_key: bytes, ad: bytes, plaintext: bytes) -> bytes:
    return CipherState(message_key).encrypt_with_ad(ad, pad(plaintext))


def open_body(message_key: bytes, ad: bytes, body: bytes) -> bytes:
    try:
        padded = CipherState(message_key).decrypt_with_ad(ad, body)
    except DecryptError:
        raise EnvelopeAuthenticationError("mailbox message failed authentication") from None
    return unpad(padded)


def envelope_kind(envelope: bytes) -> int:
    """:data:`KIND_OPENING` or :data:`KIND_MESSAGE`; :class:`EnvelopeError` otherwise."""
    if len(envelope) < 2 or envelope[0] != VERSION:
        raise EnvelopeError("not a version 1 mailbox envelope")
    if envelope[1] not in (KIND_OPENING, KIND_MESSAGE):
        raise EnvelopeError("unknown mailbox envelope kind")
    return envelope[1]


def parse_opening(envelope: bytes) -> ParsedOpening:
    if envelope_kind(envelope) != KIND_OPENING:
        raise EnvelopeError("not an opening")
    body = envelope[OPENING_HEADER_LEN + HANDSHAKE_LEN :]
    if len(body) not in _BODY_SIZES:
        raise EnvelopeError("opening has an impossible size")
    return ParsedOpening(
        envelope[:OPENING_HEADER_LEN],
        envelope[2:OPENING_HEADER_LEN],
        envelope[OPENING_HEADER_LEN : OPENING_HEADER_LEN + HANDSHAKE_LEN],
        body,
    )


def parse_message(envelope: bytes) -> ParsedMessage:
    if envelope_kind(envelope) != KIND_MESSAGE:
        raise EnvelopeError("not a chained message")
    body = envelope[MESSAGE_HEADER_LEN:]
    if len(body) not in _BODY_SIZES:
        raise EnvelopeError("message has an impossible size")
    return ParsedMessage(
        envelope[:MESSAGE_HEADER_LEN],
        envelope[2 : 2 + SESSION_ID_LEN],
        int.from_bytes(envelope[2 + SESSION_ID_LEN : MESSAGE_HEADER_LEN], "big"),
        body,
    )


def write_opening(
    sender: X25519PrivateKey,
    recipient: str,
    recipient_static: bytes,
    prekey: PrekeyPublic,
    token_hash: bytes,
    session_id: bytes,
) -> tuple[bytes, bytes]:
    """``(header || handshake, ck_0)``: the sender's side of the ``XEKhfs`` message."""
    state = HandshakeState(
        PATTERN,
        initiator=True,
        prologue=prologue(recipient, prekey.id, token_hash),
        s=sender,
        rs=recipient_static,
        re=prekey.x25519,
        re1=prekey.mlkem,
    )
    try:
        handshake = state.write_message(session_id)
    except HandshakeError:
        raise EnvelopeError("the prekey or the recipient's key is unusable") from None
    return opening_header(prekey.id) + handshake, state.split()[0].key_bytes()


def read_opening(
    identity: X25519PrivateKey,
    recipient: str,
    prekey: Prekey,
    token_hash: bytes,
    handshake: bytes,
) -> tuple[bytes, bytes, bytes]:
    """``(sender_static, session_id, ck_0)``, or :class:`EnvelopeAuthenticationError`."""
    state = HandshakeState(
        PATTERN,
        initiator=False,
        prologue=prologue(recipient, prekey.id, token_hash),
        s=identity,
        e=prekey.x25519,
        e1=prekey.mlkem,
    )
    try:
        session_id = state.read_message(handshake)
    except HandshakeError:
        raise EnvelopeAuthenticationError("mailbox opening failed authentication") from None
    sender_static = state.remote_static
    if sender_static is None or len(session_id) != SESSION_ID_LEN:
        raise EnvelopeAuthenticationError("mailbox opening is malformed")
    return sender_static, session_id, state.split()[0].key_bytes()
