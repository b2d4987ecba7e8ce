"""The peer's own typed errors (each with a stable :class:`commons.errors.ErrorCode`)."""

from __future__ import annotations

from commons.errors import ErrorCode, P2PChatError


class TrackerUntrustedError(P2PChatError):
    """The tracker's certificate did not verify, or differs from the pinned one."""

    code = ErrorCode.TRACKER_UNTRUSTED


class LoginDowngradeError(P2PChatError):
    """The tracker asked for the old, unsalted login digest for an account this client
    already logged in to (or created) with the salted login secret there: a downgrade
    attack, or a tracker restored from an old backup. Only SALT was sent."""

    code = ErrorCode.LOGIN_DOWNGRADE


class LegacyLoginRefusedError(P2PChatError):
    """The tracker holds the account in the old login scheme, and this client was not
    told (``--allow-legacy-login``) to send the old digest that upgrades it. Nothing
    was sent."""

    code = ErrorCode.LEGACY_LOGIN_REFUSED


class NotConnectedError(P2PChatError):
    """There is no tracker connection (not yet connected, lost, or closed)."""

    code = ErrorCode.NOT_CONNECTED


class RequestTimeoutError(P2PChatError):
    """The tracker or a peer did not answer in time."""

    code = ErrorCode.TIMEOUT


class UserOfflineError(P2PChatError):
    """The user to reach is not online (per the tracker)."""

    code = ErrorCode.USER_OFFLINE


class NotLoggedInError(P2PChatError):
    """The command needs a logged-in session."""

    code = ErrorCode.NOT_AUTHENTICATED


class NotInRoomError(P2PChatError):
    code = ErrorCode.NOT_IN_ROOM


class ChannelRefusedError(P2PChatError):
    """No channel to that user could be opened (the message says why)."""

    code = ErrorCode.HANDSHAKE_FAILED
