"""Typed errors of the crypto package, each with a stable :class:`ErrorCode`.

Messages never contain key material, passwords or plaintext: they name what failed and,
where it helps the user, what to do about it.
"""

from __future__ import annotations

from commons.errors import ErrorCode, P2PChatError


class CryptoError(P2PChatError):
    """Base of the crypto package's errors."""

    code = ErrorCode.INTERNAL


class HandshakeError(CryptoError):
    """A Noise handshake message was malformed, failed to authenticate, or a DH was weak."""

    code = ErrorCode.HANDSHAKE_FAILED


class DecryptError(CryptoError):
    """An AEAD ciphertext did not authenticate (tampered, replayed, reordered, truncated)."""

    code = ErrorCode.CHANNEL_CLOSED


class ChannelError(CryptoError):
    """The secure channel failed or is closed; a closed channel never reopens."""

    code = ErrorCode.CHANNEL_CLOSED


class ChannelHandshakeError(ChannelError):
    """The channel's handshake failed: nothing from this connection may be trusted."""

    code = ErrorCode.HANDSHAKE_FAILED


class OutdatedPeerError(ChannelHandshakeError):
    """The remote speaks an older channel protocol (no ML-KEM): refused, never spoken.

    The message names both versions and tells the user to update p2pchat.
    """

    code = ErrorCode.UNSUPPORTED_VERSION


class MessageTooLargeError(ChannelError):
    """A plaintext is larger than one Noise transport message can carry."""

    code = ErrorCode.MESSAGE_TOO_LARGE


class KeyMismatchError(CryptoError):
    """The remote presented a static key other than the one the tracker lists for it."""

    code = ErrorCode.KEY_MISMATCH


class KeyChangedError(CryptoError):
    """The remote's key differs from the locally pinned one: the user must decide."""

    code = ErrorCode.KEY_CHANGED


class UnknownContactError(CryptoError):
    """A trust operation names a contact whose key was never seen."""

    code = ErrorCode.INVALID_FIELD


class KeyNotPendingError(CryptoError):
    """A trust decision names a key that is not (or no longer) the one awaiting it.

    The user decided on a key they were shown; if that key is not among those waiting for
    a decision now (the contact's key changed again, or someone else decided first),
    nothing is changed and the user must look again.
    """

    code = ErrorCode.KEY_NOT_PENDING


class KeyNotPinnedError(CryptoError):
    """``/verify USER`` without a fingerprint for a contact with no pinned key: which key
    the user compared is unknown, and the listed one may be anybody's."""

    code = ErrorCode.KEY_NOT_PINNED


class AmbiguousKeyError(CryptoError):
    """A trust command without a fingerprint, while more than one key could be meant."""

    code = ErrorCode.AMBIGUOUS_KEY


class KeyFileError(CryptoError):
    """An identity key file or pin store is unreadable, corrupt or of an unknown version."""

    code = ErrorCode.KEY_FILE_ERROR


class WrongPasswordError(KeyFileError):
    """The password does not decrypt the identity key file."""

    code = ErrorCode.WRONG_PASSWORD


class InsecureKeyFileError(KeyFileError):
    """A key file or pin store that others could read, write or swap: refused.

    Group or other permission bits, another owner, a symbolic link or not a regular file.
    """

    code = ErrorCode.INSECURE_KEY_FILE


class PinStoreTamperedError(KeyFileError):
    """The pin store's MAC does not match its content: it was modified outside p2pchat."""

    code = ErrorCode.PIN_STORE_TAMPERED


class PinStoreFullError(KeyFileError):
    """The pin store holds as many contacts as it may; a new one is not pinned."""

    code = ErrorCode.PIN_STORE_FULL


class PinStoreUnauthenticatedError(KeyFileError):
    """The pin store is in the old format without a MAC (version 1): refused, never
    imported, since anyone who can write the user's folder could have planted it."""

    code = ErrorCode.PIN_STORE_UNAUTHENTICATED


class MailboxError(CryptoError):
    """A mailbox grant, envelope or state was refused; nothing from it may be trusted.

    Every subclass leaves the state it was raised from exactly as it was before the call.
    """

    code = ErrorCode.INVALID_FIELD


class GrantError(MailboxError):
    """A grant is malformed, too large, holds too many or duplicate prekeys, or is unusable
    (its one-time prekeys are spent and its last-resort prekey has expired)."""


class EnvelopeError(MailboxError):
    """An envelope is malformed, of an unknown version or kind, or of an impossible size."""


class EnvelopeAuthenticationError(MailboxError):
    """An envelope did not authenticate: tampered, for another recipient or prekey, or
    sealed with a key this receiver no longer holds (deleted for forward secrecy)."""

    code = ErrorCode.HANDSHAKE_FAILED


class UnknownPrekeyError(MailboxError):
    """An opening names a prekey this receiver does not hold (never issued, or used and
    deleted: a replayed opening of a one-time prekey ends here)."""


class UnknownSessionError(MailboxError):
    """A chained envelope names a session this receiver does not hold (never opened, or
    replaced by a newer session from the same sender)."""


class MailboxReplayError(MailboxError):
    """An envelope was already opened, or comes after a later one (a replay or a reorder):
    its counter is below the session's next, or its session was already opened."""


class MailboxGapError(MailboxError):
    """A chained envelope skips more messages than the receiver will step over."""


class MailboxStateError(MailboxError):
    """A serialised mailbox state is corrupt or of an unknown version."""
