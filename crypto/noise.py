"""The Noise Protocol Framework (revision 34), sans-I/O, for ``25519_AESGCM_SHA256``.

:class:`CipherState`, :class:`SymmetricState` and :class:`HandshakeState` follow the
specification's objects and method names, so the code can be read against section 5.
The handshake patterns NN, KK, XK, IK and XX are supported (all reproduce the cacophony
test vectors). ``XXhfs`` adds the "KEM-based Hybrid Forward Secrecy for Noise" extension
(Perrin, revision 1, 2018): the ``e1`` token sends a fresh ML-KEM-768 public key, the
``ekem1`` token answers with a ciphertext to it, and both sides ``MixKey`` the KEM
output; its protocol name is ``Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256``. The chat
channel uses XXhfs. No PSK modes, no fallback.

Pre-messages may hold ``e`` and ``s`` (Noise section 7.1: ``MixHash`` of the public key,
in that order) and, modelled on HFS, ``e1``: ``MixHash`` of a KEM public key the other
side already holds, exactly what writing ``e1`` before any key is mixed does. The one
pattern that uses them is the mailbox's one-way ``XEKhfs`` (see
:mod:`crypto.mailbox.opening`): ``<- e, e1, s`` (the recipient's prekey, X25519 and
ML-KEM, and identity), then ``-> e, ee, ekem1, es, s, ss``. ``ekem1`` answers the
pre-message ``e1`` and is mixed into the chaining key as HFS mixes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import CryptoError, DecryptError, HandshakeError
from crypto.primitives import (
    DHLEN,
    HASHLEN,
    KEM_CIPHERTEXT_LEN,
    KEM_PUBLIC_KEY_LEN,
    MAX_NONCE,
    TAGLEN,
    aead_decrypt,
    aead_encrypt,
    dh,
    generate_kem_keypair,
    generate_keypair,
    hash_,
    kem_decapsulate,
    kem_encapsulate,
    kem_public_bytes,
    noise_hkdf,
    nonce_bytes,
    public_bytes,
)

MAX_MESSAGE_LEN = 65535
DH_NAME = "25519"
KEM_NAME = "MLKEM768"
CIPHER_AND_HASH = "AESGCM_SHA256"
SUITE = f"{DH_NAME}_{CIPHER_AND_HASH}"
HFS_SUITE = f"{DH_NAME}+{KEM_NAME}_{CIPHER_AND_HASH}"


class NonceExhaustedError(CryptoError):
    """A CipherState used its last nonce; the session must end (2**64 - 1 messages)."""


class CipherState:
    """A key ``k`` (or none) and a nonce counter ``n``; see Noise section 5.1.

    A failed decryption leaves ``n`` unchanged, as the spec requires; callers that
    must not go on after a failure (the transport) discard the state themselves.
    """

    __slots__ = ("_aead", "_k", "n")

    def __init__(self, key: bytes | None = None) -> None:
        self._k: bytes | None = None
        self._aead: AESGCM | None = None
        self.n = 0
        if key is not None:
            self.initialize_key(key)

    def initialize_key(self, key: bytes | None) -> None:
        self._k = key
        self._aead = None if key is None else AESGCM(key)
        self.n = 0

    def has_key(self) -> bool:
        return self._k is not None

    def key_bytes(self) -> bytes:
        """The raw key, for a caller that derives its own key chain from a split (the
        mailbox session's root, :mod:`crypto.mailbox.opening`); it is secret."""
        if self._k is None:
            raise ValueError("no key")
        return self._k

    def set_nonce(self, nonce: int) -> None:
        if not 0 <= nonce <= MAX_NONCE:
            raise ValueError("nonce out of range")
        self.n = nonce

    def _next_nonce(self) -> int:
        if self.n >= MAX_NONCE:
            raise NonceExhaustedError("nonce space exhausted")
        return self.n

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes) -> bytes:
        if self._aead is None:
            return plaintext
        ciphertext = aead_encrypt(self._aead, nonce_bytes(self._next_nonce()), ad, plaintext)
        self.n += 1
        return ciphertext

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes:
        if self._aead is None:
            return ciphertext
        plaintext = aead_decrypt(self._aead, nonce_bytes(self._next_nonce()), ad, ciphertext)
        self.n += 1
        return plaintext

    def rekey(self) -> None:
        """``k = REKEY(k)``: the first 32 bytes of ``ENCRYPT(k, 2**64-1, b"", zeros)``.

        The nonce counter is kept: rekeying is about forward secrecy within a
        session, not about resetting nonces.
        """
        if self._aead is None:
            raise ValueError("rekey needs a key")
        key = aead_encrypt(self._aead, nonce_bytes(MAX_NONCE), b"", bytes(32))[:32]
        self._k = key
        self._aead = AESGCM(key)


class SymmetricState:
    """``ck``, ``h`` and a CipherState; see Noise section 5.2."""

    __slots__ = ("cipher", "ck", "h")

    def __init__(self, protocol_name: bytes) -> None:
        if len(protocol_name) <= HASHLEN:
            self.h = protocol_name.ljust(HASHLEN, b"\x00")
        else:
            self.h = hash_(protocol_name)
        self.ck = self.h
        self.cipher = CipherState()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, temp_k = noise_hkdf(self.ck, ikm, 2)
        self.cipher.initialize_key(temp_k)

    def mix_hash(self, data: bytes) -> None:
        self.h = hash_(self.h + data)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = self.cipher.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        plaintext = self.cipher.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        k1, k2 = noise_hkdf(self.ck, b"", 2)
        return CipherState(k1), CipherState(k2)


class Token(StrEnum):
    """The message tokens of the supported patterns."""

    E = "e"
    S = "s"
    EE = "ee"
    ES = "es"
    SE = "se"
    SS = "ss"
    E1 = "e1"
    EKEM1 = "ekem1"


E, S, EE, ES, SE, SS = Token.E, Token.S, Token.EE, Token.ES, Token.SE, Token.SS
E1, EKEM1 = Token.E1, Token.EKEM1


@dataclass(frozen=True, slots=True)
class HandshakePattern:
    """Pre-messages (initiator's, responder's) and the message token lists."""

    initiator_pre: tuple[Token, ...]
    responder_pre: tuple[Token, ...]
    messages: tuple[tuple[Token, ...], ...]

    @property
    def hybrid(self) -> bool:
        """Whether the pattern carries the HFS KEM tokens (and names the KEM)."""
        every = (self.initiator_pre, self.responder_pre, *self.messages)
        return any(Token.E1 in tokens for tokens in every)


PATTERNS: dict[str, HandshakePattern] = {
    "NN": HandshakePattern((), (), ((E,), (E, EE))),
    "KK": HandshakePattern((S,), (S,), ((E, ES, SS), (E, EE, SE))),
    "XK": HandshakePattern((), (S,), ((E, ES), (E, EE), (S, SE))),
    "IK": HandshakePattern((), (S,), ((E, ES, S, SS), (E, EE, SE))),
    "XX": HandshakePattern((), (), ((E,), (E, EE, S, ES), (S, SE))),
    # HFS section 5: e1 right after the first e, ekem1 right after the first ee.
    "XXhfs": HandshakePattern((), (), ((E, E1), (E, EE, EKEM1, S, ES), (S, SE))),
    # One-way, for the mailbox: the recipient's prekey (e, e1) and identity (s) are known
    # in advance; ekem1 right after ee, as HFS places it, so s travels under hybrid keys.
    "XEKhfs": HandshakePattern((), (E, E1, S), ((E, EE, EKEM1, ES, S, SS),)),
}


def protocol_name(pattern: str) -> bytes:
    suite = HFS_SUITE if PATTERNS[pattern].hybrid else SUITE
    return f"Noise_{pattern}_{suite}".encode("ascii")


class HandshakeState:
    """One side of a Noise handshake; see Noise section 5.3.

    ``s`` is the local static key, ``e`` a fixed ephemeral (tests only: production code
    leaves it ``None`` so a fresh one is generated), ``rs`` the remote static key when
    the pattern has it as a pre-message; ``re`` and ``re1`` are the remote's X25519 and
    ML-KEM public keys when the pattern has them as pre-messages (for a local ``e`` or
    ``e1`` pre-message, ``e`` and ``e1`` are required and are long-lived, not test-only).
    For HFS patterns, ``e1`` is a fixed ML-KEM key pair and ``encapsulation`` a fixed
    ``(ciphertext, kem_output)`` for the ``ekem1`` token; both are for test vectors only
    (``cryptography`` cannot fix the randomness of an encapsulation), production code
    leaves them ``None``. Every malformed or
    unauthentic message raises :class:`HandshakeError`; the state must then be discarded.
    """

    def __init__(
        self,
        pattern: str,
        initiator: bool,
        prologue: bytes,
        s: X25519PrivateKey | None,
        e: X25519PrivateKey | None = None,
        rs: bytes | None = None,
        e1: MLKEM768PrivateKey | None = None,
        encapsulation: tuple[bytes, bytes] | None = None,
        re: bytes | None = None,
        re1: bytes | None = None,
    ) -> None:
        if pattern not in PATTERNS:
            raise ValueError(f"unsupported handshake pattern {pattern!r}")
        self._pattern = PATTERNS[pattern]
        self.initiator = initiator
        self._symmetric = SymmetricState(protocol_name(pattern))
        self._s = s
        self._e = e
        self._rs = rs
        self._re = re
        self._e1 = e1
        self._re1 = re1
        self._encapsulation = encapsulation
        self._step = 0
        self._split: tuple[CipherState, CipherState] | None = None
        self._symmetric.mix_hash(prologue)
        for owner_is_initiator, tokens in (
            (True, self._pattern.initiator_pre),
            (False, self._pattern.responder_pre),
        ):
            for token in tokens:
                self._symmetric.mix_hash(
                    self._pre_message_key(pattern, token, owner_is_initiator == initiator)
                )
        if s is None and self._needs_local_static():
            raise ValueError(f"pattern {pattern} needs the local static key")

    def _pre_message_key(self, pattern: str, token: Token, local: bool) -> bytes:
        """The public key a pre-message token hashes, or ``ValueError`` if it is missing."""
        if token is Token.S:
            if local:
                if self._s is None:
                    raise ValueError(f"pattern {pattern} needs the local static key")
                return public_bytes(self._s)
            value = self._rs
        elif token is Token.E:
            if local:
                if self._e is None:
                    raise ValueError(f"pattern {pattern} needs the local ephemeral key")
                return public_bytes(self._e)
            value = self._re
        elif token is Token.E1:
            if local:
                if self._e1 is None:
                    raise ValueError(f"pattern {pattern} needs the local KEM key pair")
                return kem_public_bytes(self._e1)
            value = self._re1
        else:
            raise ValueError(f"token {token} cannot be a pre-message")
        if value is None:
            raise ValueError(f"pattern {pattern} needs the remote {token} key")
        return value

    def _needs_local_static(self) -> bool:
        for index, tokens in enumerate(self._pattern.messages):
            if (index % 2 == 0) == self.initiator and Token.S in tokens:
                return True
        return False

    @property
    def complete(self) -> bool:
        return self._split is not None

    @property
    def remote_static(self) -> bytes | None:
        return self._rs

    @property
    def handshake_hash(self) -> bytes:
        """``h``: after completion, a unique, authenticated name for this session."""
        return self._symmetric.h

    @property
    def is_my_turn(self) -> bool:
        return not self.complete and (self._step % 2 == 0) == self.initiator

    def _tokens_for(self, writing: bool) -> tuple[Token, ...]:
        if self.complete:
            raise HandshakeError("handshake already complete")
        if self.is_my_turn != writing:
            raise HandshakeError("handshake message out of turn")
        return self._pattern.messages[self._step]

    def _dh_token(self, token: Token) -> bytes:
        e, s, re, rs = self._e, self._s, self._re, self._rs
        if token is Token.EE:
            local, remote = e, re
        elif token is Token.SS:
            local, remote = s, rs
        elif token is Token.ES:
            local, remote = (e, rs) if self.initiator else (s, re)
        else:
            local, remote = (s, re) if self.initiator else (e, rs)
        if local is None or remote is None:
            raise HandshakeError(f"token {token} without the keys it needs")
        return dh(local, remote)

    def _advance(self) -> None:
        self._step += 1
        if self._step == len(self._pattern.messages):
            self._split = self._symmetric.split()

    def write_message(self, payload: bytes) -> bytes:
        """Produce the next handshake message carrying ``payload``."""
        out = bytearray()
        for token in self._tokens_for(writing=True):
            if token is Token.E:
                if self._e is None:
                    self._e = generate_keypair()
                pub = public_bytes(self._e)
                out += pub
                self._symmetric.mix_hash(pub)
            elif token is Token.S:
                if self._s is None:
                    raise HandshakeError("no local static key")
                out += self._symmetric.encrypt_and_hash(public_bytes(self._s))
            elif token is Token.E1:
                if self._e1 is None:
                    self._e1 = generate_kem_keypair()
                out += self._symmetric.encrypt_and_hash(kem_public_bytes(self._e1))
            elif token is Token.EKEM1:
                if self._re1 is None:
                    raise HandshakeError("token ekem1 without a remote KEM public key")
                if self._encapsulation is None:
                    ciphertext, kem_output = kem_encapsulate(self._re1)
                else:
                    ciphertext, kem_output = self._encapsulation
                out += self._symmetric.encrypt_and_hash(ciphertext)
                self._symmetric.mix_key(kem_output)
            else:
                self._symmetric.mix_key(self._dh_token(token))
        out += self._symmetric.encrypt_and_hash(payload)
        if len(out) > MAX_MESSAGE_LEN:
            raise HandshakeError("handshake message exceeds 65535 bytes")
        self._advance()
        return bytes(out)

    def read_message(self, message: bytes) -> bytes:
        """Consume the peer's next handshake message and return its payload."""
        if len(message) > MAX_MESSAGE_LEN:
            raise HandshakeError("handshake message exceeds 65535 bytes")
        try:
            return self._read_message(message)
        except DecryptError:
            raise HandshakeError("handshake message failed authentication") from None

    def _read_message(self, message: bytes) -> bytes:
        view = memoryview(message)
        for token in self._tokens_for(writing=False):
            if token is Token.E:
                if len(view) < DHLEN:
                    raise HandshakeError("handshake message truncated")
                self._re = bytes(view[:DHLEN])
                view = view[DHLEN:]
                self._symmetric.mix_hash(self._re)
            elif token is Token.S:
                self._rs, view = self._read_encrypted(view, DHLEN)
            elif token is Token.E1:
                self._re1, view = self._read_encrypted(view, KEM_PUBLIC_KEY_LEN)
            elif token is Token.EKEM1:
                if self._e1 is None:
                    raise HandshakeError("token ekem1 without a local KEM key pair")
                ciphertext, view = self._read_encrypted(view, KEM_CIPHERTEXT_LEN)
                self._symmetric.mix_key(kem_decapsulate(self._e1, ciphertext))
            else:
                self._symmetric.mix_key(self._dh_token(token))
        if self._symmetric.cipher.has_key() and len(view) < TAGLEN:
            raise HandshakeError("handshake message truncated")
        payload = self._symmetric.decrypt_and_hash(bytes(view))
        self._advance()
        return payload

    def _read_encrypted(self, view: memoryview, size: int) -> tuple[bytes, memoryview]:
        """``DecryptAndHash`` of the next ``size``-byte value (plus a tag if keyed)."""
        if self._symmetric.cipher.has_key():
            size += TAGLEN
        if len(view) < size:
            raise HandshakeError("handshake message truncated")
        return self._symmetric.decrypt_and_hash(bytes(view[:size])), view[size:]

    def split(self) -> tuple[CipherState, CipherState]:
        """The transport CipherStates (initiator-to-responder, responder-to-initiator)."""
        if self._split is None:
            raise HandshakeError("handshake not complete")
        return self._split
