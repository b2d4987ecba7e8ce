"""Typed errors shared by the tracker, the peer and the wire protocol.

Every error that can cross the wire carries a stable :class:`ErrorCode`. The code is the
contract (clients branch on it); the message is for humans and may change. Messages must
never contain secrets: no passwords, password hashes, keys or chat text.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable error codes sent in the ``code`` field of an ``ERROR`` response."""

    FRAME_TOO_LARGE = "frame_too_large"
    BAD_FRAME = "bad_frame"
    BAD_JSON = "bad_json"
    BAD_REQUEST = "bad_request"
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_FIELD = "invalid_field"
    NOT_AUTHENTICATED = "not_authenticated"
    ALREADY_AUTHENTICATED = "already_authenticated"
    AUTH_FAILED = "auth_failed"
    THROTTLED = "throttled"
    USER_EXISTS = "user_exists"
    KEY_MISMATCH = "key_mismatch"
    FORBIDDEN = "forbidden"
    ROOM_EXISTS = "room_exists"
    ROOM_NOT_FOUND = "room_not_found"
    ROOM_FULL = "room_full"
    NOT_IN_ROOM = "not_in_room"
    NOT_OWNER = "not_owner"
    BUSY = "busy"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    TOO_MANY_ERRORS = "too_many_errors"
    RATE_LIMITED = "rate_limited"
    REGISTRATION_CLOSED = "registration_closed"
    INVITE_REQUIRED = "invite_required"
    INVITE_INVALID = "invite_invalid"
    QUOTA_EXCEEDED = "quota_exceeded"
    BANNED = "banned"
    NOT_INVITED = "not_invited"
    INTERNAL = "internal_error"
    HANDSHAKE_FAILED = "handshake_failed"
    UNSUPPORTED_VERSION = "unsupported_version"
    CHANNEL_CLOSED = "channel_closed"
    MESSAGE_TOO_LARGE = "message_too_large"
    KEY_CHANGED = "key_changed"
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 (an error code, not a secret)
    INSECURE_KEY_FILE = "insecure_key_file"
    KEY_FILE_ERROR = "key_file_error"
    PIN_STORE_TAMPERED = "pin_store_tampered"
    PIN_STORE_FULL = "pin_store_full"
    PIN_STORE_UNAUTHENTICATED = "pin_store_unauthenticated"
    KEY_NOT_PINNED = "key_not_pinned"
    KEY_NOT_PENDING = "key_not_pending"
    AMBIGUOUS_KEY = "ambiguous_key"
    TRACKER_UNTRUSTED = "tracker_untrusted"
    NOT_CONNECTED = "not_connected"
    TIMEOUT = "timeout"
    USER_OFFLINE = "user_offline"
    RELAY_UNAVAILABLE = "relay_unavailable"
    MESSAGE_TOO_LONG = "message_too_long"
    TICKET_INVALID = "ticket_invalid"
    TICKET_REUSED = "ticket_reused"
    LOGIN_DOWNGRADE = "login_downgrade"
    LOGIN_REALM_CHANGED = "login_realm_changed"
    LEGACY_LOGIN_REFUSED = "legacy_login_refused"
    LOGIN_KDF_TOO_WEAK = "login_kdf_too_weak"
    UPGRADE_REFUSED = "upgrade_refused"
    KEY_REPLACE_REFUSED = "key_replace_refused"
    MAILBOX_REFUSED = "mailbox_refused"
    MAILBOX_FULL = "mailbox_full"


class P2PChatError(Exception):
    """Base of every error the project raises on purpose.

    ``code`` is the stable wire code; ``str(err)`` is the human message.
    """

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ProtocolError(P2PChatError):
    """A peer sent something that breaks the wire protocol (framing, JSON, fields)."""

    code = ErrorCode.BAD_REQUEST


class FrameTooLargeError(ProtocolError):
    """An announced frame length exceeds the configured maximum; nothing was buffered."""

    code = ErrorCode.FRAME_TOO_LARGE


class ValidationError(ProtocolError):
    """A field is missing, has the wrong type, or holds a value outside its domain."""

    code = ErrorCode.INVALID_FIELD


class AuthError(P2PChatError):
    """Authentication failed, or a command needs a session that does not exist."""

    code = ErrorCode.AUTH_FAILED


class ForbiddenError(P2PChatError):
    """The session's user may not do this (acting as someone else, not the owner, ...)."""

    code = ErrorCode.FORBIDDEN


class RoomError(P2PChatError):
    """A room operation failed: unknown room, full room, not a member, ..."""

    code = ErrorCode.ROOM_NOT_FOUND


class BusyError(P2PChatError):
    """The server is saturated; the request was not carried out and may be retried."""

    code = ErrorCode.BUSY


class RateLimitedError(P2PChatError):
    """Too many requests of one kind from one source or session; nothing was done.

    ``retry_after`` (seconds) says when the same request may succeed; the tracker sends
    it in the ``ERROR`` reply. The code is ``rate_limited``, or ``throttled`` for failed
    logins.
    """

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after: float, code: ErrorCode | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = max(0.0, retry_after)
