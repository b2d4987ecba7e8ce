"""Trust on first use: the identity keys a user has seen for each contact.

A :class:`PinStore` is one JSON file in the user's home folder (mode 0600, rewritten
atomically: temp file, fsync, rename). The first key seen for a username is pinned as
``UNVERIFIED``. A different key later does not replace the pin: it is kept as *pending*
and the contact is ``KEY_CHANGED`` until the user either :meth:`~PinStore.accept`\\ s it
(after comparing safety numbers) or :meth:`~PinStore.reject`\\ s it; meanwhile
:meth:`~PinStore.may_send` is ``False``. :meth:`~PinStore.verify` records that the user
compared safety numbers for the pinned key.

File format (version 1)::

    {"version": 1, "contacts": {"bob": {"key": "<b64>", "verified": false,
                                        "pending": "<b64>" | null}}}
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from commons.errors import ValidationError
from commons.models import encode_identity_key, validate_username
from commons.private_file import write_private_file
from crypto.errors import KeyChangedError, KeyFileError, UnknownContactError

PIN_STORE_VERSION = 1
MAX_PIN_STORE_SIZE = 4 * 1024 * 1024


class TrustState(StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    KEY_CHANGED = "key_changed"


class _Contact:
    __slots__ = ("key", "pending", "verified")

    def __init__(self, key: bytes, verified: bool = False, pending: bytes | None = None) -> None:
        self.key = key
        self.verified = verified
        self.pending = pending

    @property
    def state(self) -> TrustState:
        if self.pending is not None:
            return TrustState.KEY_CHANGED
        return TrustState.VERIFIED if self.verified else TrustState.UNVERIFIED


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _decode_key(value: Any) -> bytes:
    if not isinstance(value, str):
        raise KeyFileError("pin store: key must be a string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError("pin store: key is not base64") from None
    if len(raw) != 32:
        raise KeyFileError("pin store: key must be 32 bytes")
    return raw


def _check_key(key: bytes) -> None:
    if len(key) != 32:
        raise ValueError("an identity key is 32 bytes")


class PinStore:
    """The pinned identity keys of one local user; every change is saved at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._contacts: dict[str, _Contact] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        if self.path.stat().st_size > MAX_PIN_STORE_SIZE:
            raise KeyFileError(f"pin store '{self.path}' is too large")
        try:
            document = json.loads(self.path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise KeyFileError(f"pin store '{self.path}' is not valid JSON") from None
        if not isinstance(document, dict) or document.get("version") != PIN_STORE_VERSION:
            raise KeyFileError(f"pin store '{self.path}' has an unsupported version")
        contacts = document.get("contacts")
        if not isinstance(contacts, dict):
            raise KeyFileError(f"pin store '{self.path}' has no contacts table")
        for username, entry in contacts.items():
            try:
                validate_username(username)
            except ValidationError:
                raise KeyFileError("pin store: invalid username") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("verified"), bool):
                raise KeyFileError("pin store: malformed entry")
            pending = entry.get("pending")
            self._contacts[username] = _Contact(
                _decode_key(entry.get("key")),
                entry["verified"],
                None if pending is None else _decode_key(pending),
            )

    def _save(self) -> None:
        document = {
            "version": PIN_STORE_VERSION,
            "contacts": {
                name: {
                    "key": encode_identity_key(c.key),
                    "verified": c.verified,
                    "pending": None if c.pending is None else encode_identity_key(c.pending),
                }
                for name, c in sorted(self._contacts.items())
            },
        }
        data = (json.dumps(document, indent=2) + "\n").encode("utf-8")
        write_private_file(self.path, data)

    def _contact(self, username: str) -> _Contact:
        contact = self._contacts.get(username)
        if contact is None:
            raise UnknownContactError(f"no key pinned for {username!r}")
        return contact

    def observe(self, username: str, key: bytes) -> TrustState:
        """Record that ``username`` presented ``key``; return the resulting state.

        First key: pinned, ``UNVERIFIED``. The pinned key: the current state (still
        ``KEY_CHANGED`` if a change is pending: only the user clears that). Another
        key: remembered as pending (the latest one wins), ``KEY_CHANGED``.
        """
        validate_username(username)
        _check_key(key)
        contact = self._contacts.get(username)
        if contact is None:
            self._contacts[username] = _Contact(key)
            self._save()
            return TrustState.UNVERIFIED
        if _same(contact.key, key):
            return contact.state
        if contact.pending is None or not _same(contact.pending, key):
            contact.pending = key
            self._save()
        return TrustState.KEY_CHANGED

    def state(self, username: str) -> TrustState | None:
        contact = self._contacts.get(username)
        return None if contact is None else contact.state

    def pinned_key(self, username: str) -> bytes | None:
        contact = self._contacts.get(username)
        return None if contact is None else contact.key

    def pending_key(self, username: str) -> bytes | None:
        """The new key behind a ``KEY_CHANGED`` state (for its safety number)."""
        contact = self._contacts.get(username)
        return None if contact is None else contact.pending

    def accept(self, username: str) -> None:
        """Pin the pending key (``UNVERIFIED``); nothing to do if none is pending."""
        contact = self._contact(username)
        if contact.pending is None:
            return
        contact.key, contact.pending, contact.verified = contact.pending, None, False
        self._save()

    def reject(self, username: str) -> None:
        """Forget the pending key and keep trusting the pinned one."""
        contact = self._contact(username)
        if contact.pending is None:
            return
        contact.pending = None
        self._save()

    def verify(self, username: str) -> None:
        """Mark the pinned key verified; refused while a key change is unresolved."""
        contact = self._contact(username)
        if contact.pending is not None:
            raise KeyChangedError(
                f"the key of {username!r} changed: accept or reject the new key first"
            )
        if not contact.verified:
            contact.verified = True
            self._save()

    def may_send(self, username: str) -> bool:
        """``False`` while ``username`` is ``KEY_CHANGED``; unknown contacts are allowed
        (their first key will be pinned by :meth:`observe`)."""
        contact = self._contacts.get(username)
        return contact is None or contact.pending is None

    def usernames(self) -> list[str]:
        return sorted(self._contacts)
