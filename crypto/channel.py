"""The end-to-end encrypted peer-to-peer channel: hybrid Noise XX, sans-I/O.

One :class:`SecureChannel` per TCP connection. The peer feeds it one frame body at a
time (:mod:`commons.framing`) and sends whatever it returns; no socket ever enters here.

Handshake (``Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256``, prologue :data:`PROLOGUE`)::

    initiator -> responder   e, e1                   payload: empty
    responder -> initiator   e, ee, ekem1, s, es     payload: {"v": 2, "username": ...}
    initiator -> responder   s, se                   payload: {"v": 2, "username": ...}

``e1`` is a fresh ML-KEM-768 public key, ``ekem1`` a ciphertext to it; the KEM output is
mixed into the keys next to the X25519 results, so the transport keys stay secret if
either X25519 or ML-KEM-768 holds. Identities stay X25519 (authentication is classical).
This is protocol version 2; version 1 (plain XX) is refused, never spoken: a first
message of exactly version 1's size raises :class:`OutdatedPeerError` naming both
versions, so neither a stale peer nor a man in the middle can make a channel without
the KEM.

Each side learns the other's static key and claimed username together, and calls
``authorize(remote_username, remote_static)`` at that moment. If ``authorize`` raises,
the channel closes and the error propagates; no transport message is ever decrypted,
and for the initiator no third message is even produced, before it has returned.

With ``defer_authorize=True`` the channel stops at that moment instead: ``receive``
returns ``ChannelOutput(identified=(username, key))`` and nothing else, and the caller
runs ``authorize`` later with :meth:`SecureChannel.authorize_remote`, after whatever
asynchronous look-up its policy needs (the peer refreshes an old tracker listing). The
guarantees are the same: nothing is sent or accepted before ``authorize`` returns.

Transport: each body is one Noise transport message (AES-256-GCM, empty associated
data, the nonce is the per-direction message counter). Nothing is ever skipped or
reordered, so a tampered, replayed, reordered, truncated or oversized body fails to
authenticate or is refused by size, and any failure closes the channel for good.
Every :data:`REKEY_INTERVAL` messages in one direction both ends apply Noise ``Rekey``
to that direction's key, after the message that completes the interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, auto

from commons.codec import decode_object, encode_object
from commons.errors import P2PChatError
from commons.models import validate_username
from crypto.errors import (
    ChannelError,
    ChannelHandshakeError,
    CryptoError,
    DecryptError,
    HandshakeError,
    MessageTooLargeError,
    OutdatedPeerError,
)
from crypto.identity import IdentityKey
from crypto.noise import MAX_MESSAGE_LEN, CipherState, HandshakeState, protocol_name
from crypto.primitives import (
    DHLEN,
    KEM_CIPHERTEXT_LEN,
    KEM_PUBLIC_KEY_LEN,
    TAGLEN,
)

PROTOCOL_VERSION = 2
PATTERN = "XXhfs"
PROLOGUE = b"p2pchat/%d " % PROTOCOL_VERSION + protocol_name(PATTERN)
# Version 1's first message was a bare ephemeral key (plain XX, empty payload).
LEGACY_MSG1_LEN = DHLEN
MSG1_LEN = DHLEN + KEM_PUBLIC_KEY_LEN
# e, encrypted KEM ciphertext, encrypted static key, then the payload and its tag.
MIN_MSG2_LEN = DHLEN + (KEM_CIPHERTEXT_LEN + TAGLEN) + (DHLEN + TAGLEN) + TAGLEN
UPDATE_ADVICE = "update p2pchat"
# What a connection closed by the remote mid-handshake may mean, for the dialling user.
CLOSED_DURING_HANDSHAKE_HINT = (
    f"an older p2pchat closes the connection here, as it cannot speak channel protocol "
    f"{PROTOCOL_VERSION}; if the peer has not updated, it must {UPDATE_ADVICE}"
)
REKEY_INTERVAL = 1024
MAX_BODY = MAX_MESSAGE_LEN
MAX_PLAINTEXT = MAX_MESSAGE_LEN - TAGLEN
MAX_HANDSHAKE_PAYLOAD = 1024
_IDENTITY_FIELDS = frozenset({"v", "username"})

Authorize = Callable[[str, bytes], None]


@dataclass(slots=True)
class ChannelOutput:
    """What one :meth:`SecureChannel.receive` produced.

    ``send``: frame bodies to transmit, in order. ``messages``: decrypted plaintexts, in
    order. ``established``: the handshake completed during this call. ``identified``
    (``defer_authorize`` only): the remote's claimed username and proven static key,
    waiting for :meth:`SecureChannel.authorize_remote`.
    """

    send: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    established: bool = False
    identified: tuple[str, bytes] | None = None


class _Phase(Enum):
    NEW = auto()
    AWAIT_MSG1 = auto()
    AWAIT_MSG2 = auto()
    AWAIT_MSG3 = auto()
    AWAIT_AUTHORIZE = auto()
    ESTABLISHED = auto()
    CLOSED = auto()


def encode_identity_payload(username: str) -> bytes:
    """The handshake payload that names its sender."""
    return encode_object({"v": PROTOCOL_VERSION, "username": username})


def decode_identity_payload(payload: bytes) -> str:
    """The username from a remote's handshake payload, or :class:`HandshakeError`.

    Exactly ``{"v": 2, "username": ...}``: another version, another type for ``v`` or
    any extra field fails closed, so a later version cannot be negotiated down to this
    one by fields this version would silently ignore.
    """
    if len(payload) > MAX_HANDSHAKE_PAYLOAD:
        raise HandshakeError("handshake payload too large")
    try:
        obj = decode_object(payload)
        version = obj.get("v")
        # ``type() is int``: 2.0 compares equal to 2 but is not this version.
        if type(version) is not int or version != PROTOCOL_VERSION:
            raise HandshakeError("unsupported channel protocol version")
        if obj.keys() != _IDENTITY_FIELDS:
            raise HandshakeError("handshake payload has unexpected fields")
        return validate_username(obj.get("username"))
    except HandshakeError:
        raise
    except P2PChatError:
        raise HandshakeError("malformed handshake payload") from None


class SecureChannel:
    """One end of a mutually authenticated, encrypted peer connection.

    ``rekey_interval`` exists for tests; both ends must use the same value, so
    production code keeps the default :data:`REKEY_INTERVAL`.
    """

    MAX_PLAINTEXT = MAX_PLAINTEXT

    def __init__(
        self,
        *,
        initiator: bool,
        identity: IdentityKey,
        username: str,
        authorize: Authorize,
        rekey_interval: int = REKEY_INTERVAL,
        defer_authorize: bool = False,
    ) -> None:
        if rekey_interval < 1:
            raise ValueError("rekey_interval must be positive")
        self.initiator = initiator
        self.username = validate_username(username)
        self._authorize = authorize
        self._defer_authorize = defer_authorize
        self._claimed: tuple[str, bytes] | None = None
        self._rekey_interval = rekey_interval
        self._handshake: HandshakeState | None = HandshakeState(
            PATTERN, initiator, PROLOGUE, s=identity.private_key
        )
        self._phase = _Phase.NEW if initiator else _Phase.AWAIT_MSG1
        self._send_cipher: CipherState | None = None
        self._recv_cipher: CipherState | None = None
        self._handshake_hash: bytes | None = None
        self.remote_username: str | None = None
        self.remote_static: bytes | None = None

    @property
    def established(self) -> bool:
        return self._phase is _Phase.ESTABLISHED

    @property
    def closed(self) -> bool:
        return self._phase is _Phase.CLOSED

    @property
    def handshake_hash(self) -> bytes | None:
        """Noise's ``h`` once established: identical on both ends, unique per session."""
        return self._handshake_hash

    def close(self) -> None:
        """Forget every key; all later calls raise :class:`ChannelError`."""
        self._phase = _Phase.CLOSED
        self._handshake = None
        self._send_cipher = None
        self._recv_cipher = None

    def _require_open(self) -> None:
        if self._phase is _Phase.CLOSED:
            raise ChannelError("channel is closed")

    def start(self) -> bytes:
        """Initiator only: the first handshake message."""
        self._require_open()
        if not self.initiator or self._phase is not _Phase.NEW or self._handshake is None:
            raise ChannelError("start() is for a new initiator channel only")
        try:
            message = self._handshake.write_message(b"")
        except CryptoError as exc:
            self.close()
            raise ChannelHandshakeError(exc.message) from None
        self._phase = _Phase.AWAIT_MSG2
        return message

    def receive(self, body: bytes) -> ChannelOutput:
        """Feed one frame body from the remote.

        Raises :class:`ChannelError` (and closes the channel) for anything that is not
        the next authentic message; re-raises whatever ``authorize`` raised, after
        closing the channel.
        """
        self._require_open()
        try:
            if len(body) > MAX_BODY:
                raise ChannelError(f"frame body of {len(body)} bytes exceeds {MAX_BODY}")
            if self._phase is _Phase.ESTABLISHED:
                return ChannelOutput(messages=[self._decrypt(body)])
            return self._receive_handshake(body)
        except Exception as exc:
            error = self._failed(exc)
            raise error from error.__cause__

    def authorize_remote(self) -> ChannelOutput:
        """``defer_authorize`` only: run ``authorize`` on the identified remote and, if it
        returns, finish the handshake (the initiator's third message is in ``send``).
        Errors as for :meth:`receive`."""
        self._require_open()
        try:
            if self._phase is not _Phase.AWAIT_AUTHORIZE or self._handshake is None:
                raise ChannelError("no remote is waiting for authorization")
            return self._authorized(self._handshake)
        except Exception as exc:
            error = self._failed(exc)
            raise error from error.__cause__

    def _failed(self, exc: Exception) -> Exception:
        """Close the channel; the error to raise for ``exc`` (its cause kept if unexpected)."""
        self.close()
        if isinstance(exc, HandshakeError):
            return ChannelHandshakeError(exc.message)
        if isinstance(exc, DecryptError):
            return ChannelError(
                "message failed authentication (tampered, replayed, reordered or truncated)"
            )
        if isinstance(exc, P2PChatError):
            return exc
        refused = ChannelHandshakeError("remote identity refused")
        refused.__cause__ = exc
        return refused

    def encrypt(self, plaintext: bytes) -> bytes:
        """One transport message (a frame body) carrying ``plaintext``."""
        self._require_open()
        if self._phase is not _Phase.ESTABLISHED or self._send_cipher is None:
            raise ChannelError("channel is not established yet")
        if len(plaintext) > MAX_PLAINTEXT:
            raise MessageTooLargeError(
                f"message of {len(plaintext)} bytes exceeds the maximum of {MAX_PLAINTEXT}"
            )
        cipher = self._send_cipher
        try:
            body = cipher.encrypt_with_ad(b"", plaintext)
        except CryptoError as exc:
            self.close()
            raise ChannelError(exc.message) from None
        if cipher.n % self._rekey_interval == 0:
            cipher.rekey()
        return body

    def _decrypt(self, body: bytes) -> bytes:
        cipher = self._recv_cipher
        if cipher is None:
            raise ChannelError("channel has no receive key")
        if len(body) < TAGLEN:
            raise DecryptError("transport message truncated")
        plaintext = cipher.decrypt_with_ad(b"", body)
        if cipher.n % self._rekey_interval == 0:
            cipher.rekey()
        return plaintext

    def _refuse_older_protocol(self, body: bytes) -> None:
        """Name the version when a message has the size of an older protocol's."""
        if self._phase is _Phase.AWAIT_MSG1 and len(body) == LEGACY_MSG1_LEN:
            raise OutdatedPeerError(
                "the remote speaks p2pchat channel protocol 1 (Noise XX without ML-KEM); "
                f"this p2pchat requires protocol {PROTOCOL_VERSION}: {UPDATE_ADVICE} "
                "on the other side"
            )
        if self._phase is _Phase.AWAIT_MSG2 and len(body) < MIN_MSG2_LEN:
            raise OutdatedPeerError(
                f"the remote's answer is too short for channel protocol {PROTOCOL_VERSION} "
                "(an older p2pchat, or a man in the middle stripping the ML-KEM exchange): "
                f"refused; if the remote runs an older p2pchat, {UPDATE_ADVICE} there"
            )

    def _receive_handshake(self, body: bytes) -> ChannelOutput:
        handshake = self._handshake
        if handshake is None:
            raise HandshakeError("no handshake in progress")
        self._refuse_older_protocol(body)
        if self._phase is _Phase.AWAIT_MSG1:
            if handshake.read_message(body) != b"":
                raise HandshakeError("first handshake message must carry no payload")
            reply = handshake.write_message(encode_identity_payload(self.username))
            self._phase = _Phase.AWAIT_MSG3
            return ChannelOutput(send=[reply])
        if self._phase in (_Phase.AWAIT_MSG2, _Phase.AWAIT_MSG3):
            self._claimed = self._identify(handshake, handshake.read_message(body))
            if self._defer_authorize:
                self._phase = _Phase.AWAIT_AUTHORIZE
                return ChannelOutput(identified=self._claimed)
            return self._authorized(handshake)
        if self._phase is _Phase.AWAIT_AUTHORIZE:
            raise HandshakeError("message received before the remote was authorized")
        raise HandshakeError("unexpected message before start()")

    def _identify(self, handshake: HandshakeState, payload: bytes) -> tuple[str, bytes]:
        remote_static = handshake.remote_static
        if remote_static is None:
            raise HandshakeError("remote static key missing")
        return decode_identity_payload(payload), remote_static

    def _authorized(self, handshake: HandshakeState) -> ChannelOutput:
        """Run ``authorize`` on the claimed identity, then finish the handshake."""
        assert self._claimed is not None
        remote_username, remote_static = self._claimed
        self._authorize(remote_username, remote_static)
        self.remote_username = remote_username
        self.remote_static = remote_static
        if self.initiator:
            final = handshake.write_message(encode_identity_payload(self.username))
            self._establish(handshake)
            return ChannelOutput(send=[final], established=True)
        self._establish(handshake)
        return ChannelOutput(established=True)

    def _establish(self, handshake: HandshakeState) -> None:
        first, second = handshake.split()
        self._send_cipher, self._recv_cipher = (
            (first, second) if self.initiator else (second, first)
        )
        self._handshake_hash = handshake.handshake_hash
        self._handshake = None
        self._phase = _Phase.ESTABLISHED
