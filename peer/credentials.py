"""What a login needs from the user's password: the tracker's login secret and the key.

The tracker protocol never carries the password. For ``REGISTER`` and ``LOGIN`` the
client asks the tracker for the account's salt and cost (``SALT``) and sends the login
secret of :mod:`crypto.login_secret` (Argon2id over that salt and the group's realm,
then SHA-256). The identity key is unsealed (or created, on the very first run) with the
password through its own Argon2id and its own salt (:mod:`crypto.keystore`). Both run on
a worker thread so that the event loop never waits for them.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path

from commons.errors import ErrorCode, P2PChatError
from crypto.identity import IdentityKey
from crypto.keystore import KdfParams, load_or_create_identity
from crypto.login_secret import LoginKdf, legacy_digest, login_secret
from peer.tracker_messages import SaltReply


@dataclass(frozen=True, slots=True)
class LoginSecrets:
    """What LOGIN carries: the secret, and the old digest only to upgrade an old account."""

    secret: str
    legacy: str | None = None

    def __repr__(self) -> str:
        return "LoginSecrets(<hidden>)"


async def login_secrets(password: str, salt: SaltReply, floor: LoginKdf) -> LoginSecrets:
    """The login secret for ``salt``; refuses a tracker asking for less work than ``floor``
    (a cheap KDF would make the secret a fast hash again)."""
    if not salt.kdf.at_least(floor):
        raise P2PChatError(
            "the tracker asks for a login key derivation weaker than this client accepts"
            f" (memory {salt.kdf.memory_kib} KiB, {salt.kdf.iterations} passes)",
            ErrorCode.AUTH_FAILED,
        )
    derive = functools.partial(login_secret, password, salt.realm, salt.salt, salt.kdf)
    secret = await asyncio.get_running_loop().run_in_executor(None, derive)
    return LoginSecrets(secret, legacy_digest(password) if salt.legacy else None)


async def load_identity(
    home: Path, username: str, password: str, kdf_params: KdfParams | None = None
) -> IdentityKey:
    """The user's identity key from ``home`` (created there on the first run)."""
    load = functools.partial(
        load_or_create_identity, home, username, password, kdf_params=kdf_params
    )
    identity, _created = await asyncio.get_running_loop().run_in_executor(None, load)
    return identity
