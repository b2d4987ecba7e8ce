"""What this client remembers about logins, so a tracker cannot downgrade them later.

Why: for an account the tracker still holds in the old scheme (``SALT`` says
``legacy: true``) the client sends the old login digest, SHA-256 of the password, once,
so the tracker can upgrade the account to the salted login secret
(:mod:`crypto.login_secret`). That digest is fast to crack on a GPU and the same at every
tracker where the password is reused. Without a memory, a hostile tracker, one restored
from an old backup, or a man in the middle holding the tracker's key could answer
``legacy: true`` at every login and collect it. A serious messenger pins what it has
seen work (XMPP clients pin the SASL mechanism an account last used); so does this.

The contract:

* After a successful ``REGISTER`` or ``LOGIN`` (every LOGIN this client sends leaves the
  account in the salted scheme), the pair (tracker, account) is remembered.
* A tracker is named by the address the user gave (``host:port``, as
  ``known_trackers.json`` names it) and by its certificate's SHA-256 fingerprint; a
  legacy request at either of them, for a remembered account, is a downgrade:
  :func:`check_legacy_request` raises :class:`~peer.errors.LoginDowngradeError` and
  the caller sends nothing. Without a memory the old digest is sent only if the user
  allowed it (``--allow-legacy-login``), otherwise
  :class:`~peer.errors.LegacyLoginRefusedError`.
* The file (``HOME/login_memory.json``) holds addresses, fingerprints and usernames,
  never password material; it is written atomically with mode 0600 and holds at most
  :data:`MAX_ENTRIES` pairs (the least recently remembered go first). A file that does
  not parse is refused, as the pin file is: treating it as empty would re-open the
  downgrade.

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
from peer.errors import LegacyLoginRefusedError, LoginDowngradeError, TrackerUntrustedError

MEMORY_FILE = "login_memory.json"
FORMAT_VERSION = 1
#: Pairs kept; one person rarely has more than a few accounts.
MAX_ENTRIES = 1000
#: An address is at most a 253-byte name, brackets and a port.
MAX_ENDPOINT_LENGTH = 270
#: A generous bound on the file: MAX_ENTRIES entries of the longest fields.
MAX_FILE_SIZE = 512 * 1024


@dataclass(frozen=True, slots=True)
class TrackerIdentity:
    """Who the client is talking to: the address asked for (``host:port``, any case),
    and the certificate's fingerprint seen on this connection."""

    endpoint: str
    fingerprint: str | None


@dataclass(frozen=True, slots=True)
class _Entry:
    endpoint: str
    fingerprint: str | None
    account: str

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
        return {"tracker": self.endpoint, "fingerprint": self.fingerprint, "account": self.account}


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

    def remember(self, account: str, tracker: TrackerIdentity) -> bool:
        """Record a salted login; returns whether anything changed (then save it)."""
        endpoint = tracker.endpoint.lower()
        entry = _Entry(endpoint, _normalized(tracker.fingerprint), _fold(account))
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
        if not isinstance(body, dict) or body.get("version") != FORMAT_VERSION:
            raise ValueError("unknown format")
        accounts = body.get("accounts")
        if not isinstance(accounts, list) or len(accounts) > MAX_ENTRIES:
            raise ValueError("bad account list")
        return cls([_entry_from_json(item) for item in accounts])


def _normalized(fingerprint: str | None) -> str | None:
    return None if fingerprint is None else normalize_fingerprint(fingerprint)


def _entry_from_json(item: Any) -> _Entry:
    if not isinstance(item, dict) or set(item) != {"tracker", "fingerprint", "account"}:
        raise ValueError("bad entry")
    endpoint, fingerprint, account = item["tracker"], item["fingerprint"], item["account"]
    if not isinstance(endpoint, str) or not 0 < len(endpoint) <= MAX_ENDPOINT_LENGTH:
        raise ValueError("bad tracker")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise ValueError("bad fingerprint")
    if not isinstance(account, str):
        raise ValueError("bad account")
    try:
        return _Entry(endpoint.lower(), _normalized(fingerprint), _fold(account))
    except P2PChatError as exc:
        raise ValueError(exc.message) from None


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
