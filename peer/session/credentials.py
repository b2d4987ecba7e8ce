"""What a login needs from the user's password: the tracker's login secret and the key.

The tracker protocol never carries the password. For ``REGISTER`` and ``LOGIN`` the
client asks the tracker for the account's salt and cost (``SALT``) and sends the login
secret of :mod:`crypto.login_secret` (Argon2id over that salt and the group's realm,
then SHA-256). The identity key is unsealed with the password through its own Argon2id
and its own salt (:mod:`crypto.keystore`); on the very first run it is made in memory and
written, sealed with the password, only after the tracker accepted that password
(:func:`save_identity`). Both derivations run on a worker thread so that the event loop
never waits for them.

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
from crypto.errors import KeyFileError, WrongPasswordError
from crypto.identity import IdentityKey
from crypto.keystore import KdfParams, key_file_path, open_saved_identity, save_new_identity
from crypto.legacy_upgrade import upgrade_proof
from crypto.login_secret import LoginKdf, legacy_digest, login_secret
from peer.session.login_memory import (
    MEMORY_FILE,
    LoginMemory,
    LoginRealm,
    TrackerIdentity,
    load_login_memory,
    save_login_memory,
)
from peer.session.messages import SaltReply

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginSecrets:
    """What LOGIN carries: the secret, and the old digest only to upgrade an old account
    with, beside it, the proof of the identity key that lets the upgrade happen."""

    secret: str
    legacy: str | None = None
    upgrade_proof: str | None = None

    def __repr__(self) -> str:
        return "LoginSecrets(<hidden>)"


@dataclass(frozen=True, slots=True)
class UpgradeSigner:
    """Who proves the identity key if the account turns out to need an upgrade."""

    username: str
    identity: IdentityKey


async def login_secrets(
    password: str, salt: SaltReply, floor: LoginKdf, *, upgrade: UpgradeSigner | None = None
) -> LoginSecrets:
    """The login secret for ``salt``; if ``upgrade`` is given (the caller decided the old
    digest may go) and the tracker asked for it, also the old digest and the proof of
    ``upgrade.identity`` over the new secret for ``SALT``'s ``upgrade_key`` (a tracker
    from before the proof sends no key and gets no proof). Refuses a tracker asking for
    less work than ``floor`` (a cheap KDF would make the secret a fast hash again)."""
    if not salt.kdf.at_least(floor):
        raise P2PChatError(
            "the tracker asks for a login key derivation weaker than this client accepts"
            f" (memory {salt.kdf.memory_kib} KiB, {salt.kdf.iterations} passes); nothing"
            " was sent. Lower --min-login-kdf only for a tracker you trust",
            ErrorCode.LOGIN_KDF_TOO_WEAK,
        )
    derive = functools.partial(login_secret, password, salt.realm, salt.salt, salt.kdf)
    secret = await asyncio.get_running_loop().run_in_executor(None, derive)
    if upgrade is None or not salt.legacy:
        return LoginSecrets(secret)
    proof = None
    if salt.upgrade_key is not None:
        proof = upgrade_proof(
            upgrade.identity, salt.upgrade_key, upgrade.username, salt.realm, secret
        )
    return LoginSecrets(secret, legacy_digest(password), proof)


async def open_login_memory(home: Path) -> LoginMemory:
    """The login memory of ``home`` (a damaged file raises ``TrackerUntrustedError``)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, load_login_memory, home / MEMORY_FILE)


async def remember_login(
    home: Path, memory: LoginMemory, account: str, tracker: TrackerIdentity, salt: SaltReply
) -> None:
    """Record that ``account`` uses the salted secret at ``tracker``, made with the realm
    and salt of ``salt``, and save it (fsync'ed before this returns). A disk error is
    logged, not raised: the login itself worked."""
    if not memory.remember(account, tracker, LoginRealm(salt.realm, salt.salt)):
        return
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, save_login_memory, home / MEMORY_FILE, memory)
    except OSError as exc:
        log.warning("could not save the login memory in %s: %s", home, exc.strerror)


@dataclass(frozen=True, slots=True)
class LoadedIdentity:
    """The identity key a login uses, and whether it still has to be written.

    ``unsaved``: no key file existed, so this run made the key; it is written
    (:func:`save_identity`) only once the tracker accepted the password, so a mistyped
    password on a fresh home leaves nothing behind that the right one cannot open."""

    key: IdentityKey
    unsaved: bool


async def load_identity(home: Path, username: str, password: str) -> LoadedIdentity:
    """The user's identity key from ``home``, or a new one (not written yet) on the first
    run. A file ``password`` does not open raises :class:`WrongPasswordError` saying which
    file it is and what to do."""
    loop = asyncio.get_running_loop()
    try:
        saved = await loop.run_in_executor(None, open_saved_identity, home, username, password)
    except WrongPasswordError:
        path = key_file_path(home, username)
        raise WrongPasswordError(
            f"this password does not open the identity key saved for '{username}' in"
            f" {path}. Try again; if you are sure of the password, that file was sealed"
            " with another one (older p2pchat versions saved it before the tracker had"
            f" checked the password): move it aside (mv {path} {path}.old) and log in"
            " again, then replace your key on the tracker when it asks (your contacts"
            " will see a key change)"
        ) from None
    if saved is not None:
        return LoadedIdentity(saved, unsaved=False)
    return LoadedIdentity(IdentityKey.generate(), unsaved=True)


async def save_identity(
    home: Path,
    username: str,
    loaded: LoadedIdentity,
    password: str,
    kdf_params: KdfParams | None = None,
) -> None:
    """Write a key this run made, sealed with ``password``: call it only after the
    tracker accepted the login or registration. Nothing to do for a key read from disk.
    A file that appeared meanwhile is never replaced (:class:`KeyFileError`)."""
    if not loaded.unsaved:
        return
    save = functools.partial(
        save_new_identity, home, username, loaded.key, password, kdf_params=kdf_params
    )
    try:
        await asyncio.get_running_loop().run_in_executor(None, save)
    except FileExistsError:
        raise KeyFileError(
            f"another p2pchat saved an identity key for '{username}' in"
            f" {key_file_path(home, username)} while this one logged in; log in again"
        ) from None
    log.info("saved a new identity key for %s", username)
