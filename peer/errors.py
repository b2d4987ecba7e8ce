"""The peer's own typed errors (each with a stable :class:`commons.errors.ErrorCode`), and
:func:`describe_connect_error`, the words for a failed connect: the TLS link and the
login screen both show them, and the screen should not need the link module for that.
"""

from __future__ import annotations

import errno
import socket

from commons.errors import ErrorCode, P2PChatError


class TrackerUntrustedError(P2PChatError):
    """The tracker's certificate did not verify, or differs from the pinned one."""

    code = ErrorCode.TRACKER_UNTRUSTED


class LoginDowngradeError(P2PChatError):
    """The tracker asked for the old, unsalted login digest for an account this client
    already logged in to (or created) with the salted login secret there: a downgrade
    attack, or a tracker restored from an old backup. Only SALT was sent."""

    code = ErrorCode.LOGIN_DOWNGRADE


class LoginRealmChangedError(P2PChatError):
    """The tracker names another realm or salt for an account than the ones this client
    logged in with there: the secret it asks for would be another group's (a hostile
    tracker or a man in the middle collecting it), or the tracker was reset. Only SALT
    was sent."""

    code = ErrorCode.LOGIN_REALM_CHANGED


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


class RelayUnavailableError(P2PChatError):
    """A relay-only room asked of a tracker that does not relay: nobody could be reached."""

    code = ErrorCode.RELAY_UNAVAILABLE


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


def describe_connect_error(exc: OSError) -> str:
    """What a failed TCP connect means, in words (not ``[Errno 111] Connect call failed``)."""
    if isinstance(exc, socket.gaierror):
        return "that host name is unknown (check the spelling, or the network)"
    # Several addresses tried (localhost: ::1 then 127.0.0.1) give one OSError with no
    # errno whose text lists each failure.
    if isinstance(exc, ConnectionRefusedError) or f"[Errno {errno.ECONNREFUSED}]" in str(exc):
        return "nothing is listening there (is p2pchat-tracker running, on that port?)"
    reasons = {
        errno.EHOSTUNREACH: "no route to that host (is the network up?)",
        errno.ENETUNREACH: "the network is unreachable (is it up?)",
        errno.ETIMEDOUT: "no answer (a firewall, or the wrong address?)",
        errno.EADDRNOTAVAIL: "that address is not available here",
        errno.ECONNRESET: "the connection was reset",
    }
    reason = reasons.get(exc.errno or -1)
    if reason is not None:
        return reason
    return exc.strerror.lower() if exc.strerror else type(exc).__name__
