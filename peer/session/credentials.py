"""What a login needs from the user's password: the tracker's login secret and the key.

The tracker protocol never carries the password. For ``REGISTER`` and ``LOGIN`` the
client asks the tracker for the account's salt and cost (``SALT``) and sends the login
secret of :mod:`crypto.login_secret` (Argon2id over that salt and the group's realm,
then SHA-256). The identity key is unsealed (or created, on the very first run) with the
password through its own Argon2id and its own salt (:mod:`crypto.keystore`). Both run on
a worker thread so that the event loop never waits for them.

The old digest (scheme 1) is computed only when the caller decided to send it, after
:func:`peer.session.login_memory.check_legacy_request`; :func:`open_login_memory` and
:func:`remember_login` are that memory's file work, off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from commons.errors import ErrorCode, P2PChatError
from crypto.identity import IdentityKey
from crypto.keystore import KdfParams, load_or_create_identity
from crypto.login_secret import LoginKdf, legacy_digest, login_secret
from peer.session.login_memory import (
    MEMORY_FILE,
    LoginMemory,
    TrackerIdentity,
    load_login_memory,
    save_login_memory,
)
from peer.session.messages import SaltReply

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginSecrets:
    """What LOGIN carries: the secret, and the old digest only to upgrade an old account."""

    secret: str
    legacy: str | None = None

    def __repr__(self) -> str:
        return "LoginSecrets(<hidden>)"


async def login_secrets(
    password: str, salt: SaltReply, floor: LoginKdf, *, send_legacy: bool = False
) -> LoginSecrets:
    """The login secret for ``salt``, and the old digest if ``send_legacy`` and the
    tracker asked for it; refuses a tracker asking for less work than ``floor`` (a cheap
    KDF would make the secret a fast hash again)."""
    if not salt.kdf.at_least(floor):
        raise P2PChatError(
            "the tracker asks for a login key derivation weaker than this client accepts"
            f" (memory {salt.kdf.memory_kib} KiB, {salt.kdf.iterations} passes); nothing"
            " was sent. Lower --min-login-kdf only for a tracker you trust",
            ErrorCode.LOGIN_KDF_TOO_WEAK,
        )
    derive = functools.partial(login_secret, password, salt.realm, salt.salt, salt.kdf)
    secret = await asyncio.get_running_loop().run_in_executor(None, derive)
    legacy = legacy_digest(password) if send_legacy and salt.legacy else None
    return LoginSecrets(secret, legacy)


async def open_login_memory(home: Path) -> LoginMemory:
    """The login memory of ``home`` (a damaged file raises ``TrackerUntrustedError``)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, load_login_memory, home / MEMORY_FILE)


async def remember_login(
    home: Path, memory: LoginMemory, account: str, tracker: TrackerIdentity
) -> None:
    """Record that ``account`` uses the salted secret at ``tracker`` and save it (fsync'ed
    before this returns). A disk error is logged, not raised: the login itself worked."""
    if not memory.remember(account, tracker):
        return
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, save_login_memory, home / MEMORY_FILE, memory)
    except OSError as exc:
        log.warning("could not save the login memory in %s: %s", home, exc.strerror)


async def load_identity(
    home: Path, username: str, password: str, kdf_params: KdfParams | None = None
) -> IdentityKey:
    """The user's identity key from ``home`` (created there on the first run)."""
    load = functools.partial(
        load_or_create_identity, home, username, password, kdf_params=kdf_params
    )
    identity, _created = await asyncio.get_running_loop().run_in_executor(None, load)
    return identity
