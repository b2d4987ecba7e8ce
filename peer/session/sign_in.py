"""Signing up and signing in: the exchanges with the tracker that carry a login secret.

Both go the same way: ``SALT`` for the name, refused (nothing more sent) if it names
another realm or salt than the login memory pinned for the account at this tracker
(:func:`peer.session.login_memory.check_login_realm`); then the login secret, derived off
the event loop (:func:`peer.session.credentials.login_secrets`); then ``REGISTER`` or
``LOGIN``; and only once the tracker accepted, the identity key is written (a first run)
and the login memory remembers the realm and salt. The old digest of the legacy scheme
goes only when the tracker asks for it and neither the login memory nor the user's choice
forbids it (:func:`peer.session.login_memory.check_legacy_request`).

These are functions over a :class:`~peer.session.session.TrackerSession`, so the client
(:class:`peer.client.chat_client.ChatClient`) keeps only what follows a login: its core,
its channels and its trust gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from crypto.keystore import KdfParams
from crypto.login_secret import LoginKdf
from peer.session.credentials import (
    LoadedIdentity,
    LoginSecrets,
    UpgradeSigner,
    login_secrets,
    open_login_memory,
    remember_login,
    save_identity,
)
from peer.session.login_memory import (
    MEMORY_FILE,
    LoginMemory,
    LoginRealm,
    check_legacy_request,
    check_login_realm,
)
from peer.session.messages import LoginReply, SaltReply
from peer.session.session import TrackerSession


@dataclass(frozen=True, slots=True)
class Home:
    """Where the account's files are and how hard its secrets are to derive: ``floor``,
    the weakest login KDF this client accepts from a tracker; ``kdf_params``, the cost of
    sealing the identity key (``None``: the keystore's default)."""

    path: Path
    floor: LoginKdf
    kdf_params: KdfParams | None = None


@dataclass(frozen=True, slots=True)
class SignIn:
    """One ``LOGIN``: who, with which key, announcing which port and address."""

    username: str
    password: str = field(repr=False)
    loaded: LoadedIdentity
    port: int | None
    host: str | None = None
    replace_key: bool = False
    allow_legacy: bool = False


async def pinned_salt(
    session: TrackerSession, home: Home, username: str, memory: LoginMemory
) -> SaltReply:
    """``SALT``, refused if it names another realm or salt than the pinned ones."""
    salt = await session.salt(username)
    check_login_realm(
        memory,
        username,
        session.tracker_identity,
        LoginRealm(salt.realm, salt.salt),
        memory_path=home.path / MEMORY_FILE,
    )
    return salt


async def sign_up(
    session: TrackerSession, home: Home, username: str, password: str, loaded: LoadedIdentity
) -> None:
    """``REGISTER`` with ``loaded``'s public key; the key is written (sealed with
    ``password``) only once the tracker created the account."""
    memory = await open_login_memory(home.path)
    salt = await pinned_salt(session, home, username, memory)
    secrets = await login_secrets(password, salt, home.floor)
    await session.register(username, secrets.secret, loaded.key.public_b64)
    await save_identity(home.path, username, loaded, password, home.kdf_params)
    await remember_login(home.path, memory, username, session.tracker_identity, salt)


async def sign_in(session: TrackerSession, home: Home, request: SignIn) -> LoginReply:
    """``LOGIN``; then the key is saved and the login memory updated."""
    memory = await open_login_memory(home.path)
    identity = request.loaded.key
    signer = UpgradeSigner(request.username, identity)
    secrets, salt = await _secrets(session, home, signer, request, memory)
    reply = await session.login(
        request.username,
        secrets.secret,
        identity.public_b64,
        request.port,
        host=request.host,
        replace_key=request.replace_key,
        legacy=secrets.legacy,
        upgrade_proof=secrets.upgrade_proof,
    )
    username, password = request.username, request.password
    await save_identity(home.path, username, request.loaded, password, home.kdf_params)
    await remember_login(home.path, memory, username, session.tracker_identity, salt)
    return reply


async def _secrets(
    session: TrackerSession,
    home: Home,
    upgrade: UpgradeSigner,
    request: SignIn,
    memory: LoginMemory,
) -> tuple[LoginSecrets, SaltReply]:
    """SALT, then the login secret; the old digest only if the tracker asks for it and
    neither the login memory nor the user's choice forbids it, and only for the realm
    pinned at this tracker (else nothing is sent), with the proof of the identity key
    the tracker needs to let the account upgrade."""
    salt = await pinned_salt(session, home, request.username, memory)
    if salt.legacy:
        check_legacy_request(
            memory,
            request.username,
            session.tracker_identity,
            allowed=request.allow_legacy,
            memory_path=home.path / MEMORY_FILE,
        )
    secrets = await login_secrets(request.password, salt, home.floor, upgrade=upgrade)
    return secrets, salt
