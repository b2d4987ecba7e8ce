"""What this client remembers about logins, so a tracker cannot downgrade or redirect them.

Why, twice. First, for an account the tracker still holds in the old scheme (``SALT``
says ``legacy: true``) the client sends the old login digest, SHA-256 of the password,
once, so the tracker can upgrade the account to the salted login secret
(:mod:`crypto.login_secret`). That digest is fast to crack on a GPU and the same at every
tracker where the password is reused. Without a memory, a hostile tracker, one restored
from an old backup, or a man in the middle holding the tracker's key could answer
``legacy: true`` at every login and collect it. Second, the login secret is bound to the
realm and salt that ``SALT`` names; a tracker that names another group's realm and the
salt that group gives the account receives that group's secret, which logs in there if
the password is reused. A serious messenger pins what it has seen work (XMPP clients pin
the SASL mechanism an account last used, SCRAM clients the salt); so does this.

The contract:

* After a successful ``REGISTER`` or ``LOGIN`` (every LOGIN this client sends leaves the
  account in the salted scheme), the pair (tracker, account) is remembered with the
  realm and salt the secret was made with.
* A tracker is named by the address the user gave (``host:port``, as
  ``known_trackers.json`` names it) and by its certificate's SHA-256 fingerprint; at
  either of them, for a remembered account, a legacy request is a downgrade
  (:func:`check_legacy_request` raises :class:`~peer.errors.LoginDowngradeError`) and
  another realm or salt is a redirection (:func:`check_login_realm` raises
  :class:`~peer.errors.LoginRealmChangedError`); the caller then sends nothing. Without a
  memory the old digest is sent only if the user allowed it (``--allow-legacy-login``),
  otherwise :class:`~peer.errors.LegacyLoginRefusedError`; the realm of a first login is
  taken on trust, as the certificate is.
* The file (``HOME/login_memory.json``) holds addresses, fingerprints, usernames, realms
  and salts (the salt is public: ``SALT`` gives it to anyone), never password material;
  it is written atomically with mode 0600 and holds at most :data:`MAX_ENTRIES` pairs
  (the least recently remembered go first). A file that does not parse is refused, as
  the pin file is: treating it as empty would re-open the downgrade. Version 1 files
  (no realm) are read, and their pairs pinned at their next login.

This module is sans-I/O except :func:`load_login_memory` and :func:`save_login_memory`,
which block (call them from an executor).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commons.errors import P2PChatError
from commons.models import validate_username
from commons.private_file import read_private_file, write_private_file
from commons.tls_fingerprint import fingerprints_match, normalize_fingerprint
from crypto.login_secret import ACCOUNT_SALT_SIZE, MAX_REALM_LENGTH
from peer.errors import (
    LegacyLoginRefusedError,
    LoginDowngradeError,
    LoginRealmChangedError,
    TrackerUntrustedError,
)

MEMORY_FILE = "login_memory.json"
FORMAT_VERSION = 2
#: Versions this module reads (1: before realms were pinned).
READABLE_VERSIONS = (1, 2)
#: Pairs kept; one person rarely has more than a few accounts.
MAX_ENTRIES = 1000
#: An address is at most a 253-byte name, brackets and a port.
MAX_ENDPOINT_LENGTH = 270
#: A generous bound on the file: MAX_ENTRIES entries of the longest fields.
MAX_FILE_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class TrackerIdentity:
    """Who the client is talking to: the address asked for (``host:port``, any case),
    and the certificate's fingerprint seen on this connection."""

    endpoint: str
    fingerprint: str | None


@dataclass(frozen=True, slots=True)
class LoginRealm:
    """What a login secret is bound to besides the password (``SALT`` names both)."""

    realm: str
    salt: bytes


@dataclass(frozen=True, slots=True)
class _Entry:
    endpoint: str
    fingerprint: str | None
    account: str
    #: ``None``: remembered by a version that did not pin realms.
    realm: LoginRealm | None = None

    def names(self, account: str, tracker: TrackerIdentity) -> bool:
        if self.account != account:
            return False
        if self.endpoint == tracker.endpoint.lower():
            return True
        return (
            self.fingerprint is not None
            and tracker.fingerprint is not None
            and fingerprints_match(self.fingerprint, tracker.fingerprint)
        )

    def to_json(self) -> dict[str, Any]:
        pinned = self.realm
        return {
            "tracker": self.endpoint,
            "fingerprint": self.fingerprint,
            "account": self.account,
            "realm": None if pinned is None else pinned.realm,
            "salt": None if pinned is None else pinned.salt.hex(),
        }


def _fold(account: str) -> str:
    """Usernames are unique ignoring case at the tracker; so are they here."""
    return validate_username(account).lower()


class LoginMemory:
    """The (tracker, account) pairs known to use the salted login secret, oldest first."""

    def __init__(self, entries: list[_Entry] | None = None) -> None:
        self._entries: list[_Entry] = list(entries or [])

    def __len__(self) -> int:
        return len(self._entries)

    def upgraded(self, account: str, tracker: TrackerIdentity) -> bool:
        """Whether ``account`` logged in (or was created) with the salted secret at
        ``tracker``, reached at the same address or showing the same certificate."""
        folded = _fold(account)
        return any(entry.names(folded, tracker) for entry in self._entries)

    def pinned_realms(self, account: str, tracker: TrackerIdentity) -> set[LoginRealm]:
        """The realms and salts ``account`` logged in with at ``tracker`` (by address or
        certificate); empty for a first login."""
        folded = _fold(account)
        return {
            entry.realm
            for entry in self._entries
            if entry.realm is not None and entry.names(folded, tracker)
        }

    def remember(self, account: str, tracker: TrackerIdentity, realm: LoginRealm) -> bool:
        """Record a salted login made with ``realm``; returns whether anything changed
        (then save it)."""
        endpoint = tracker.endpoint.lower()
        entry = _Entry(endpoint, _normalized(tracker.fingerprint), _fold(account), realm)
        if entry in self._entries:
            return False
        self._entries = [
            old
            for old in self._entries
            if (old.endpoint, old.account) != (entry.endpoint, entry.account)
        ]
        self._entries.append(entry)
        del self._entries[:-MAX_ENTRIES]
        return True

    def encode(self) -> bytes:
        body = {"version": FORMAT_VERSION, "accounts": [e.to_json() for e in self._entries]}
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> LoginMemory:
        """Parse the file's bytes; ``ValueError`` for anything this module did not write."""
        body = json.loads(data.decode("utf-8"))
        version = body.get("version") if isinstance(body, dict) else None
        if type(version) is not int or version not in READABLE_VERSIONS:
            raise ValueError("unknown format")
        accounts = body.get("accounts")
        if not isinstance(accounts, list) or len(accounts) > MAX_ENTRIES:
            raise ValueError("bad account list")
        return cls([_entry_from_json(item, version) for item in accounts])


def _normalized(fingerprint: str | None) -> str | None:
    return None if fingerprint is None else normalize_fingerprint(fingerprint)


_V1_FIELDS = {"tracker", "fingerprint", "account"}
_V2_FIELDS = _V1_FIELDS | {"realm", "salt"}


def _entry_from_json(item: Any, version: int) -> _Entry:
    fields = _V1_FIELDS if version == 1 else _V2_FIELDS
    if not isinstance(item, dict) or set(item) != fields:
        raise ValueError("bad entry")
    endpoint, fingerprint, account = item["tracker"], item["fingerprint"], item["account"]
    if not isinstance(endpoint, str) or not 0 < len(endpoint) <= MAX_ENDPOINT_LENGTH:
        raise ValueError("bad tracker")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise ValueError("bad fingerprint")
    if not isinstance(account, str):
        raise ValueError("bad account")
    realm = None if version == 1 else _realm_from_json(item["realm"], item["salt"])
    try:
        return _Entry(endpoint.lower(), _normalized(fingerprint), _fold(account), realm)
    except P2PChatError as exc:
        raise ValueError(exc.message) from None


def _realm_from_json(realm: Any, salt: Any) -> LoginRealm | None:
    if realm is None and salt is None:
        return None
    if not isinstance(realm, str) or not 0 < len(realm.encode("utf-8")) <= MAX_REALM_LENGTH:
        raise ValueError("bad realm")
    if not isinstance(salt, str) or len(salt) != 2 * ACCOUNT_SALT_SIZE:
        raise ValueError("bad salt")
    return LoginRealm(realm, bytes.fromhex(salt))


def check_login_realm(
    memory: LoginMemory,
    account: str,
    tracker: TrackerIdentity,
    claimed: LoginRealm,
    *,
    memory_path: Path,
) -> None:
    """Called with what ``SALT`` said, before any secret is derived: return if the
    secret may be made for ``claimed``, else raise (the caller sends nothing)."""
    pinned = memory.pinned_realms(account, tracker)
    if not pinned or pinned == {claimed}:
        return
    known = ", ".join(sorted(f"'{p.realm}'" for p in pinned))
    raise LoginRealmChangedError(
        f"login refused: the tracker at {tracker.endpoint} now names realm '{claimed.realm}'"
        f" (or another salt) for '{account}', but this client logged in to that account"
        f" there in realm {known}. The login secret it asks for would be another tracker"
        " group's, which logs in there if you use the same password: a hostile tracker or"
        " a man in the middle, or a tracker whose database was reset. Nothing of your"
        " password was sent. If the operator confirms a reset, remove the"
        f" '{account}' entries for this tracker from {memory_path} and log in again."
    )


def check_legacy_request(
    memory: LoginMemory,
    account: str,
    tracker: TrackerIdentity,
    *,
    allowed: bool,
    memory_path: Path,
) -> None:
    """Called when ``SALT`` said ``legacy: true``: return if the old digest may be sent,
    else raise (and the caller sends nothing at all, not even the salted secret)."""
    if memory.upgraded(account, tracker):
        raise LoginDowngradeError(
            f"login refused: the tracker at {tracker.endpoint} asks for the old, unsalted"
            f" password digest of '{account}', but this client already logged in to that"
            " account there with the salted login secret. A tracker does not go back to"
            " the old scheme: this is a downgrade attack (or the tracker was restored from"
            " an old backup). Nothing of your password was sent. If the operator confirms"
            f" such a restore, remove the '{account}' entries for this tracker from"
            f" {memory_path} and log in again with --allow-legacy-login."
        )
    if not allowed:
        raise LegacyLoginRefusedError(
            f"login refused: the tracker at {tracker.endpoint} holds '{account}' in the old"
            " login scheme. Upgrading it sends SHA-256 of your password once, which is fast"
            " to crack if this tracker is not the one you think. Nothing of it was sent."
            " If you created this account with an older p2pchat and trust this tracker,"
            " log in once with --allow-legacy-login."
        )


def _refuse(message: str) -> Exception:
    return TrackerUntrustedError(message)


def load_login_memory(path: Path) -> LoginMemory:
    """The memory at ``path`` (empty if there is none); a damaged file is refused with
    :class:`~peer.errors.TrackerUntrustedError` rather than forgotten (blocking)."""
    try:
        data = read_private_file(path, what="login memory", max_size=MAX_FILE_SIZE, refuse=_refuse)
    except FileNotFoundError:
        return LoginMemory()
    try:
        return LoginMemory.decode(data)
    except (ValueError, UnicodeDecodeError):
        raise TrackerUntrustedError(
            f"{path} is damaged; refusing to guess which accounts were upgraded (move it"
            " aside to start a new one)"
        ) from None


def save_login_memory(path: Path, memory: LoginMemory) -> None:
    """Write atomically, owner-only, fsync'ed (blocking: call from an executor)."""
    write_private_file(path, memory.encode())
