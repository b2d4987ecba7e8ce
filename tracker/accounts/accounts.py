"""Registration, login and resumption checks: salts, argon2id, throttles, tickets, keys.

Rules this module enforces:

* the stored verifier is an argon2id hash of the client's login secret
  (:mod:`crypto.login_secret`: Argon2id on the client over a per-account salt, then
  SHA-256); hashes made with older parameters are replaced on the next successful login;
* ``SALT`` gives an account's salt and client cost; for a name without an account it
  gives the salt that name would get (an HMAC of the name under the group's secret),
  so the reply is the same before and after a registration and enumerates nothing;
* an account from before the salted scheme (its verifier is argon2id of SHA-256 of the
  password) is upgraded by a login that carries both the old digest
  (``legacy_password``, checked) and the new secret (stored in its place), and a proof
  of the account's registered identity key over that new secret
  (:mod:`crypto.legacy_upgrade`, against the challenge of the connection's last
  ``SALT``): the old digest alone is a password-equivalent a third party may hold, and
  must not let it choose the secret that locks the owner out. For the same reason such
  an account never replaces its key (``key_replace_refused``), neither on an old-scheme
  login nor on the upgrade itself;
* a successful LOGIN or RESUME hands out a resumption ticket (:meth:`Accounts.resume`):
  192 random bits, stored only as SHA-256 with the user, the identity key and an
  expiry; single use; presenting a used one revokes every ticket of the user; a user
  has one live ticket at a time, so a password login revokes every ticket handed out
  before it (a stolen one dies at the owner's next login instead of renewing itself);
* unknown user and wrong password are one error (``auth_failed``) that costs the same
  argon2 time, so neither the reply nor its timing tells which it was;
* REGISTER of a taken name costs the same hash as a new one (the name is checked by
  the insert, after hashing), so timing does not enumerate accounts faster than the
  registration rate limit allows;
* who may register, and how fast, is :class:`~tracker.accounts.registration.RegistrationPolicy`;
* failed logins are throttled by source (:mod:`tracker.limits.throttle`) and logged with the
  name and address only, never the secret;
* the identity key given at registration is bound to the account: a login with another
  key is ``key_mismatch`` unless it sets ``replace_key``, checked only after the
  password so the key cannot be probed without it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from commons.errors import AuthError, ErrorCode, P2PChatError, RateLimitedError
from commons.rate_limited_log import RateLimitedLog
from crypto.legacy_upgrade import UpgradeChallenge
from crypto.login_secret import ACCOUNT_SALT_SIZE, LoginKdf
from tracker.accounts.hashing import PasswordHashing
from tracker.accounts.registration import RegistrationMode, RegistrationPolicy
from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import KeyedTokenBuckets
from tracker.limits.source import source_key
from tracker.limits.throttle import LoginThrottle
from tracker.storage.base import AddResult, GroupSettings, Redeemed, Storage
from tracker.storage.invites import code_hash

#: 24 random bytes: 192 bits, 32 characters of URL-safe base64.
TICKET_BYTES = 24

log = logging.getLogger("tracker.accounts")


@dataclass(frozen=True, slots=True)
class LoginResult:
    username: str
    key_changed: bool
    #: The verifier moved from the legacy scheme to the salted one.
    upgraded: bool = False
    #: When the account was made (its standing for the rooms' newcomer share).
    created: float | None = None


@dataclass(frozen=True, slots=True)
class SaltReply:
    """What ``SALT`` answers for a name."""

    salt: bytes
    kdf: LoginKdf
    realm: str
    #: The account still has a legacy verifier: send ``legacy_password`` too.
    legacy: bool
    #: For a legacy account only: the fresh key its upgrade must prove the registered
    #: identity key against (kept with the connection, spent by its next ``LOGIN``).
    challenge: UpgradeChallenge | None = None


def account_salt(secret: bytes, username: str) -> bytes:
    """The salt a name gets (ignoring case): HMAC-SHA256 under the group's secret."""
    mac = hmac.new(secret, b"p2pchat login salt\x00" + username.lower().encode(), "sha256")
    return mac.digest()[:ACCOUNT_SALT_SIZE]


def ticket_hash(ticket: str) -> str:
    """What the store keeps of a ticket."""
    return hashlib.sha256(ticket.encode("ascii")).hexdigest()


def new_ticket() -> str:
    return secrets.token_urlsafe(TICKET_BYTES)


_TAKEN = "that username is taken"
_BAD_INVITE = "that invite code is unknown, used or expired"


class Accounts:
    """Async account operations over the stores, the hasher and the throttles."""

    def __init__(
        self,
        storage: Storage,
        hashing: PasswordHashing,
        throttle: LoginThrottle,
        registration: RegistrationPolicy,
        settings: GroupSettings,
        login_kdf: LoginKdf,
        *,
        ticket_lifetime: float,
        resume_failures: KeyedTokenBuckets | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._hashing = hashing
        self._throttle = throttle
        self._registration = registration
        self._settings = settings
        self._login_kdf = login_kdf
        self._ticket_lifetime = ticket_lifetime
        self.resume_failures = resume_failures or KeyedTokenBuckets(
            KeyedRecords("resume_source"), 20, 1.0
        )
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
        ``invite_invalid`` are answered before any hashing; ``user_exists`` after it. In
        invite mode a wrong code is charged to the caller's source alone
        (:class:`~tracker.accounts.registration.RegistrationPolicy`).
        """
        policy = self._registration
        if policy.mode is RegistrationMode.INVITE:
            policy.check_mode(invite is not None)
            assert invite is not None
            # A made-up code costs its caller's source only: the code is looked up (by
            # its SHA-256, so the lookup's time says nothing about the stored codes)
            # before any hash and before any bucket others depend on.
            policy.charge_caller(host, self._clock())
            if not await self._storage.invite_usable(invite, self._clock()):
                raise P2PChatError(_BAD_INVITE, ErrorCode.INVITE_INVALID)
            policy.charge_invite(code_hash(invite), host, self._clock())
        else:
            policy.admit(host, invite is not None, self._clock())
            invite = None
        password_hash = await self._hashing.hash(password)
        salt = account_salt(self._settings.salt_secret, username)
        result = await self._storage.add_user(
            username, password_hash, identity_key, salt, self._login_kdf, invite
        )
        if result is AddResult.TAKEN:
            raise P2PChatError(_TAKEN, ErrorCode.USER_EXISTS)
        if result is AddResult.INVITE_INVALID:
            raise P2PChatError(_BAD_INVITE, ErrorCode.INVITE_INVALID)
        log.info("registered user %s from %s", username, source_key(host))

    async def salt(self, username: str) -> SaltReply:
        """``SALT``: the same shape of answer whether ``username`` has an account or not."""
        record = await self._storage.get_user(username)
        if record is not None and record.salt is not None and record.login_kdf is not None:
            return SaltReply(record.salt, record.login_kdf, self._settings.realm, legacy=False)
        derived = account_salt(self._settings.salt_secret, username)
        if record is None:
            return SaltReply(derived, self._login_kdf, self._settings.realm, legacy=False)
        challenge = UpgradeChallenge(record.username)
        return SaltReply(derived, self._login_kdf, self._settings.realm, True, challenge)

    async def login(
        self,
        username: str,
        password: str,
        identity_key: str,
        replace_key: bool,
        host: str,
        legacy_password: str | None = None,
        upgrade_proof: str | None = None,
        challenge: UpgradeChallenge | None = None,
    ) -> LoginResult:
        """Check a login; raise ``throttled``, ``auth_failed``, ``key_mismatch``,
        ``upgrade_refused``, ``key_replace_refused`` or ``busy``.

        ``password`` is the salted login secret; for an account still in the legacy
        scheme, ``legacy_password`` (the old digest) is what is checked, and the salted
        secret replaces it only if ``upgrade_proof`` proves the registered identity key
        against ``challenge`` (the connection's, already spent by the caller) for this
        name, realm and secret. An old client sends only the old digest as ``password``:
        it is checked as such and nothing is upgraded. Every refusal comes after the
        password check, so none of them tells anything to someone without it.
        """
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
        record = await self._storage.get_user(username)
        legacy = record is not None and record.salt is None
        presented = legacy_password if legacy and legacy_password is not None else password
        matched = await self._hashing.verify(
            None if record is None else record.password_hash, presented
        )
        if record is None or not matched:
            hold = self._throttle.failure(username, source, self._clock())
            self._failures_log.warning("failed", "failed login for %s from %s", username, source)
            if hold > 0:
                await asyncio.sleep(hold)
            raise AuthError("unknown user or wrong password")
        self._throttle.success(username, source)
        key_changed = not hmac.compare_digest(record.identity_key, identity_key)
        upgraded = legacy and legacy_password is not None
        if legacy:
            self._check_legacy_login(
                username,
                source,
                registered_key=record.identity_key,
                replacing=key_changed and replace_key,
                upgrade=(password, upgrade_proof, challenge) if upgraded else None,
            )
        if upgraded:
            salt = account_salt(self._settings.salt_secret, username)
            verifier = await self._hashing.hash(password)
            await self._storage.set_password(username, verifier, salt, self._login_kdf)
            log.info("upgraded the login secret of %s to the salted scheme", username)
        elif self._hashing.needs_rehash(record.password_hash):
            await self._storage.set_password(
                username, await self._hashing.hash(password), record.salt, record.login_kdf
            )
            log.info("rehashed password of %s with current parameters", username)
        if key_changed:
            if not replace_key:
                raise P2PChatError(
                    "identity key differs from the registered one (set replace_key to replace)",
                    ErrorCode.KEY_MISMATCH,
                )
            await self._storage.set_identity_key(username, identity_key)
            log.warning("identity key of %s replaced", username)
        return LoginResult(username, key_changed, upgraded, record.created)

    async def account_created(self, username: str) -> float | None:
        """When ``username``'s account was made (``None``: no such account)."""
        record = await self._storage.get_user(username)
        return None if record is None else record.created

    def _check_legacy_login(
        self,
        username: str,
        source: str,
        *,
        registered_key: str,
        replacing: bool,
        upgrade: tuple[str, str | None, UpgradeChallenge | None] | None,
    ) -> None:
        """The rules of a login to an account still in the old scheme, once its digest
        matched: no key replacement, and an upgrade (``upgrade``: the new secret, the
        proof, the connection's challenge) only with a proof of the registered key (see
        the module's docstring for why)."""
        if replacing:
            log.warning("refused a key replacement of old-scheme account %s", username)
            raise P2PChatError(
                "an account of the old login scheme cannot replace its identity key: its"
                " old password digest is not proof enough. Log in once with the key it was"
                " registered with to upgrade it, then replace the key; without that key,"
                " ask the tracker's operator (see the README, 'Accounts of older versions')",
                ErrorCode.KEY_REPLACE_REFUSED,
            )
        if upgrade is None:
            return
        new_secret, proof, challenge = upgrade
        realm = self._settings.realm
        if (
            proof is None
            or challenge is None
            or not challenge.accepts(registered_key, username, realm, new_secret, proof)
        ):
            self._failures_log.warning(
                "upgrade", "refused the login upgrade of %s from %s", username, source
            )
            raise P2PChatError(
                "upgrading this account to the salted login needs a proof of the identity"
                " key it was registered with, answering the SALT just sent on this"
                " connection; nothing was changed. Without that key, ask the tracker's"
                " operator (see the README, 'Accounts of older versions')",
                ErrorCode.UPGRADE_REFUSED,
            )

    # ------------------------------------------------------------ resumption tickets

    async def issue_ticket(self, username: str, identity_key: str) -> str:
        """A fresh ticket for a session that just logged in with its password (stored
        before it is sent); every live ticket of the user issued before is revoked."""
        ticket = new_ticket()
        expires = self._clock() + self._ticket_lifetime
        await self._storage.issue_ticket(ticket_hash(ticket), username, identity_key, expires)
        return ticket

    async def resume(
        self, username: str, ticket: str, identity_key: str, host: str, trusted: bool = False
    ) -> str:
        """Spend ``ticket`` and return the next one; no argon2.

        Raises ``ticket_invalid`` (unknown, expired, revoked, another user's or another
        key's), ``ticket_reused`` (already spent: every ticket of the user is revoked and
        the caller ends the user's sessions), or ``rate_limited`` when this source has
        presented too many bad tickets (``trusted`` sources are exempt).
        """
        source = source_key(host)
        now = self._clock()
        wait = 0.0 if trusted else self.resume_failures.wait(source, now)
        if wait > 0:
            raise RateLimitedError(f"too many bad tickets, retry in {wait:.0f} s", wait)
        following = new_ticket()
        result = await self._storage.redeem_ticket(
            ticket_hash(ticket),
            username,
            identity_key,
            ticket_hash(following),
            now + self._ticket_lifetime,
            now,
        )
        if result is Redeemed.OK:
            return following
        if not trusted:
            self.resume_failures.take(source, now)
        if result is Redeemed.REUSED:
            log.warning("a spent resumption ticket of %s was presented from %s", username, source)
            raise P2PChatError(
                "this ticket was already used: every session of the account is ended",
                ErrorCode.TICKET_REUSED,
            )
        raise P2PChatError("unknown, expired or revoked ticket", ErrorCode.TICKET_INVALID)

    async def revoke_tickets(self, username: str) -> None:
        await self._storage.revoke_tickets(username)
