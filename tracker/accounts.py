"""Registration and login checks: argon2id hashes, throttling, bound identity keys.

Rules this module enforces:

* the stored secret is an argon2id hash of the client's SHA-256 password digest;
  hashes made with older parameters are replaced on the next successful login;
* unknown user and wrong password are one error (``auth_failed``) that costs the same
  argon2 time, so neither the reply nor its timing tells which it was;
* failed logins are throttled per username and per client address (``throttled``) and
  logged with the name and address only, never the secret;
* the identity key given at registration is bound to the account: a login with another
  key is ``key_mismatch`` unless it sets ``replace_key``, checked only after the
  password so the key cannot be probed without it.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from commons.errors import AuthError, ErrorCode, P2PChatError
from tracker.password_hashing import PasswordHashing
from tracker.throttle import LoginThrottle
from tracker.user_store import UserStore

log = logging.getLogger("tracker.accounts")


@dataclass(frozen=True, slots=True)
class LoginResult:
    username: str
    key_changed: bool


class Accounts:
    """Async account operations over the user store, the hasher and the throttle."""

    def __init__(
        self,
        users: UserStore,
        hashing: PasswordHashing,
        throttle: LoginThrottle,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = users
        self._hashing = hashing
        self._throttle = throttle
        self._clock = clock

    async def register(self, username: str, password: str, identity_key: str) -> None:
        """Create the account durably, or raise ``user_exists`` / ``busy``."""
        if await self._users.get(username) is not None:
            raise P2PChatError("that username is taken", ErrorCode.USER_EXISTS)
        password_hash = await self._hashing.hash(password)
        if not await self._users.add(username, password_hash, identity_key):
            raise P2PChatError("that username is taken", ErrorCode.USER_EXISTS)
        log.info("registered user %s", username)

    async def login(
        self,
        username: str,
        password: str,
        identity_key: str,
        replace_key: bool,
        address: str,
    ) -> LoginResult:
        """Check a login; raise ``throttled``, ``auth_failed``, ``key_mismatch`` or ``busy``."""
        wait = self._throttle.retry_after(username, address, self._clock())
        if wait > 0:
            log.warning("throttled login for %s from %s", username, address)
            raise AuthError(f"too many failed logins, retry in {wait:.0f} s", ErrorCode.THROTTLED)
        record = await self._users.get(username)
        matched = await self._hashing.verify(
            None if record is None else record.password_hash, password
        )
        if record is None or not matched:
            self._throttle.failure(username, address, self._clock())
            log.warning("failed login for %s from %s", username, address)
            raise AuthError("unknown user or wrong password")
        self._throttle.success(username)
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
