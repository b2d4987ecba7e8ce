"""Who may create an account, and how fast. Sans-I/O.

Registration is the cheapest way to get many identities (the original allowed 98
accounts/s from one address), and every account can hold a session, own rooms and
dial peers. So:

* ``--registration open|invite|closed``: ``invite`` requires a single-use invite code
  made by the operator (``p2pchat-tracker invite new``, :mod:`tracker.admin`);
  ``closed`` refuses every REGISTER;
* every REGISTER that gets past the mode check takes a token from its source's bucket
  (``per_source`` per hour, all at once at most) and from the tracker-wide bucket
  (``total`` per hour), whether it then succeeds or not: a name that is taken costs
  the same as a new one, so probing names is rate-limited too;
* in ``invite`` mode the code is checked first and only the caller pays for a wrong
  one: :meth:`RegistrationPolicy.charge_caller` takes the source's token, the code is
  looked up, and only a usable code takes a token from that *code's* bucket
  (:meth:`RegistrationPolicy.charge_invite`) instead of the tracker-wide one. So
  made-up codes from any number of sources never spend what a real invitee needs (the
  shared bucket, an argon2 hash), and a holder of one code can make at most
  ``per_source`` hashes an hour with it;
* sources inside a trusted network (``--trusted-network``) skip both buckets, so a
  benchmark or a test on loopback can register thousands.

Both buckets are :class:`~tracker.limits.keyed_records.KeyedRecords` tables saved by
:mod:`tracker.storage.throttle_store`.
"""

from __future__ import annotations

from enum import StrEnum

from commons.errors import ErrorCode, P2PChatError, RateLimitedError
from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import KeyedTokenBuckets
from tracker.limits.source import TrustedNetworks, source_key

_HOUR = 3600.0
_TOTAL_KEY = "*"


class RegistrationMode(StrEnum):
    OPEN = "open"
    INVITE = "invite"
    CLOSED = "closed"


class RegistrationPolicy:
    """``admit(host, now)`` before any hashing; raises the error to send back."""

    __slots__ = ("_by_invite", "_by_source", "_total", "_trusted", "mode")

    def __init__(
        self,
        mode: RegistrationMode,
        per_source_per_hour: int,
        total_per_hour: int,
        trusted: TrustedNetworks,
    ) -> None:
        self.mode = mode
        self._trusted = trusted
        self._by_source = KeyedTokenBuckets(
            KeyedRecords("register_source"), per_source_per_hour, per_source_per_hour / _HOUR
        )
        self._total = KeyedTokenBuckets(
            KeyedRecords("register_total", 1), total_per_hour, total_per_hour / _HOUR
        )
        self._by_invite = KeyedTokenBuckets(
            KeyedRecords("register_invite"), per_source_per_hour, per_source_per_hour / _HOUR
        )

    @property
    def tables(self) -> tuple[KeyedRecords, ...]:
        return (self._by_source.records, self._total.records, self._by_invite.records)

    def check_mode(self, has_invite: bool) -> None:
        """Raise ``registration_closed`` or ``invite_required``; charges nothing."""
        if self.mode is RegistrationMode.CLOSED:
            raise P2PChatError(
                "this tracker does not accept new accounts", ErrorCode.REGISTRATION_CLOSED
            )
        if self.mode is RegistrationMode.INVITE and not has_invite:
            raise P2PChatError(
                "this tracker registers new accounts by invite only", ErrorCode.INVITE_REQUIRED
            )

    def charge_caller(self, host: str, now: float) -> None:
        """Invite mode, before the code is looked up: one token of the caller's source
        (``rate_limited`` when it has none). Nobody else's bucket is touched."""
        if self._trusted.contains(host):
            return
        wait = self._by_source.take(source_key(host), now)
        if wait > 0:
            raise RateLimitedError(f"too many registrations, retry in {wait:.0f} s", wait)

    def charge_invite(self, code_key: str, host: str, now: float) -> None:
        """Invite mode, the code is usable: one token of that code's bucket (``code_key``
        is the code's hash), never the tracker-wide one."""
        if self._trusted.contains(host):
            return
        wait = self._by_invite.take(code_key, now)
        if wait > 0:
            raise RateLimitedError(f"too many registrations, retry in {wait:.0f} s", wait)

    def admit(self, host: str, has_invite: bool, now: float) -> None:
        """Open mode: check the mode, then take one token from each bucket (or raise,
        taking none)."""
        self.check_mode(has_invite)
        if self._trusted.contains(host):
            return
        source = source_key(host)
        wait = max(self._by_source.wait(source, now), self._total.wait(_TOTAL_KEY, now))
        if wait > 0:
            raise RateLimitedError(
                f"too many registrations, retry in {wait:.0f} s",
                wait,
            )
        self._by_source.take(source, now)
        self._total.take(_TOTAL_KEY, now)
