"""Registration and login checks: argon2id hashes, throttling, bound identity keys.

Rules this module enforces:

* the stored secret is an argon2id hash of the client's SHA-256 password digest;
  hashes made with older parameters are replaced on the next successful login;
* unknown user and wrong password are one error (``auth_failed``) that costs the same
  argon2 time, so neither the reply nor its timing tells which it was;
* REGISTER of a taken name costs the same hash as a new one (the name is checked by
  the insert, after hashing), so timing does not enumerate accounts faster than the
  registration rate limit allows;
* who may register, and how fast, is :class:`~tracker.registration.RegistrationPolicy`;
* failed logins are throttled by source (:mod:`tracker.throttle`) and logged with the
  name and address only, never the secret;
* the identity key given at registration is bound to the account: a login with another
  key is ``key_mismatch`` unless it sets ``replace_key``, checked only after the
  password so the key cannot be probed without it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from commons.errors import AuthError, ErrorCode, P2PChatError, RateLimitedError
from commons.rate_limited_log import RateLimitedLog
from tracker.invite_store import InviteStore
from tracker.password_hashing import PasswordHashing
from tracker.registration import RegistrationMode, RegistrationPolicy
from tracker.source import source_key
from tracker.throttle import LoginThrottle
from tracker.user_store import AddResult, UserStore

log = logging.getLogger("tracker.accounts")


@dataclass(frozen=True, slots=True)
class LoginResult:
    username: str
    key_changed: bool


_TAKEN = "that username is taken"
_BAD_INVITE = "that invite code is unknown, used or expired"


class Accounts:
    """Async account operations over the stores, the hasher and the throttles."""

    def __init__(
        self,
        users: UserStore,
        hashing: PasswordHashing,
        throttle: LoginThrottle,
        registration: RegistrationPolicy,
        invites: InviteStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._users = users
        self._hashing = hashing
        self._throttle = throttle
        self._registration = registration
        self._invites = invites
        self._clock = clock
        #: Failed logins are what an attacker repeats: one line per 10 s, with a count.
        self._failures_log = RateLimitedLog(log)

    async def register(
        self,
        username: str,
        password: str,
        identity_key: str,
        host: str,
        invite: str | None = None,
    ) -> None:
        """Create the account durably, or raise the error to answer.

        ``registration_closed``, ``invite_required``, ``rate_limited`` and
        ``invite_invalid`` are answered before any hashing; ``user_exists`` after it.
        """
        policy = self._registration
        policy.admit(host, invite is not None, self._clock())
        if policy.mode is not RegistrationMode.INVITE:
            invite = None
        elif invite is None or not await self._invites.usable(invite, self._clock()):
            raise P2PChatError(_BAD_INVITE, ErrorCode.INVITE_INVALID)
        password_hash = await self._hashing.hash(password)
        result = await self._users.add(username, password_hash, identity_key, invite)
        if result is AddResult.TAKEN:
            raise P2PChatError(_TAKEN, ErrorCode.USER_EXISTS)
        if result is AddResult.INVITE_INVALID:
            raise P2PChatError(_BAD_INVITE, ErrorCode.INVITE_INVALID)
        log.info("registered user %s from %s", username, source_key(host))

    async def login(
        self,
        username: str,
        password: str,
        identity_key: str,
        replace_key: bool,
        host: str,
    ) -> LoginResult:
        """Check a login; raise ``throttled``, ``auth_failed``, ``key_mismatch`` or ``busy``."""
        source = source_key(host)
        wait = self._throttle.retry_after(username, source, self._clock())
        if wait > 0:
            self._failures_log.warning(
                "throttled", "throttled login for %s from %s", username, source
            )
            raise RateLimitedError(
                f"too many failed logins from your address, retry in {wait:.0f} s",
                wait,
                ErrorCode.THROTTLED,
            )
        record = await self._users.get(username)
        matched = await self._hashing.verify(
            None if record is None else record.password_hash, password
        )
        if record is None or not matched:
            hold = self._throttle.failure(username, source, self._clock())
            self._failures_log.warning("failed", "failed login for %s from %s", username, source)
            if hold > 0:
                await asyncio.sleep(hold)
            raise AuthError("unknown user or wrong password")
        self._throttle.success(username, source)
        if self._hashing.needs_rehash(record.password_hash):
            await self._users.set_password_hash(username, await self._hashing.hash(password))
            log.info("rehashed password of %s with current parameters", username)
        key_changed = not hmac.compare_digest(record.identity_key, identity_key)
        if key_changed:
            if not replace_key:
                raise P2PChatError(
                    "identity key differs from the registered one (set replace_key to replace)",
                    ErrorCode.KEY_MISMATCH,
                )
            await self._users.set_identity_key(username, identity_key)
            log.warning("identity key of %s replaced", username)
        return LoginResult(username, key_changed)
