"""Trust on first use: the identity keys a user has seen for each contact, and the
user's decisions about them.

Per contact a :class:`PinStore` keeps

* the **pinned** key (the first one seen, or one the user accepted) and whether the
  user **verified** it (compared safety numbers out of band);
* the **pending** keys: other keys seen since, waiting for the user's decision, oldest
  first. A new one never replaces an undecided one; both stay visible (at most
  :data:`MAX_PENDING_KEYS`; beyond that the oldest is dropped). While any is pending the
  contact is ``KEY_CHANGED`` and :meth:`~PinStore.may_send` is ``False``;
* the **rejected** keys: refused with :meth:`~PinStore.reject` (at most
  :data:`MAX_REJECTED_KEYS`). A rejected key is never pending again, so a tracker that
  keeps listing it cannot bring the question back; only an explicit
  :meth:`~PinStore.accept` naming it undoes the refusal.

Every decision names the exact key it is about (:meth:`~PinStore.accept`,
:meth:`~PinStore.verify`), found among the keys in question with constant-time
comparisons; a key that is not (or no longer) one of them is refused with
:class:`KeyNotPendingError` and nothing changes. :meth:`~PinStore.key_to_trust` and
:meth:`~PinStore.key_to_verify` turn what a user typed (a fingerprint, or nothing) into
that key, refusing the short form whenever more than one key could be meant.

The store lives in memory; the caller persists it: :meth:`~PinStore.dump` gives the
file's bytes (write them with :func:`commons.private_file.write_private_file`, in an
executor) and :meth:`~PinStore.load` reads one back. :attr:`~PinStore.revision` grows
with every change, so the caller knows when there is something to write.

File format (version 2)::

    {"format": "p2pchat-pins", "version": 2, "username": "alice",
     "contacts": {"bob": {"key": "<b64>", "verified": false,
                          "pending": ["<b64>", ...], "rejected": ["<b64>", ...]}},
     "mac": "<64 hex digits>"}

``mac`` is HMAC-SHA256 over the canonical JSON (sorted keys, no spaces, ASCII) of every
other field, under a key derived from the user's identity key with HKDF-SHA256 and its
own label (:data:`PIN_STORE_MAC_LABEL`). Someone who can write the user's folder but does
not hold the identity key (it is encrypted under the password) cannot swap a pinned key
or set ``verified`` without :meth:`~PinStore.load` refusing the whole store
(:class:`PinStoreTamperedError`). The file is read with
:func:`commons.private_file.read_private_file` (no symlinks; owner and mode checked on
the open descriptor).

Version 1 files (no MAC) are imported once: pinned keys are kept, unverified; verified
marks and pending keys are dropped, since anyone could have written them; the caller
writes the result back as version 2 (:attr:`~PinStore.imported_v1` says how many
contacts came over). A version 1 file planted later gets the same treatment, which gives
its author no more than deleting the store would: pins that are unverified and still
have to match what the tracker lists.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from commons.codec import decode_object
from commons.errors import P2PChatError, ValidationError
from commons.models import encode_identity_key, validate_username
from commons.private_file import read_private_file
from crypto.errors import (
    AmbiguousKeyError,
    InsecureKeyFileError,
    KeyFileError,
    KeyNotPendingError,
    PinStoreTamperedError,
    UnknownContactError,
)
from crypto.fingerprint import fingerprint, parse_fingerprint
from crypto.identity import IdentityKey
from crypto.primitives import hkdf

FORMAT = "p2pchat-pins"
PIN_STORE_VERSION = 2
MAX_PIN_STORE_SIZE = 4 * 1024 * 1024
MAX_PENDING_KEYS = 4
MAX_REJECTED_KEYS = 8
PIN_STORE_MAC_LABEL = b"p2pchat/1 pin store MAC key"
_MAC_FIELD = "mac"


class TrustState(StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    KEY_CHANGED = "key_changed"


def pin_store_mac_key(identity: IdentityKey) -> bytes:
    """The pin store's MAC key: HKDF-SHA256 of the identity private key, own label."""
    return hkdf(b"", identity.private_bytes(), PIN_STORE_MAC_LABEL, 32)


def _find(keys: Sequence[bytes], key: bytes) -> int | None:
    """Index of ``key`` in ``keys``; every element is compared, each in constant time."""
    found: int | None = None
    for index, candidate in enumerate(keys):
        if hmac.compare_digest(candidate, key) and found is None:
            found = index
    return found


def _find_fingerprint(keys: Sequence[bytes], typed: str) -> bytes | None:
    wanted = parse_fingerprint(typed)
    found: bytes | None = None
    for key in keys:
        if hmac.compare_digest(fingerprint(key), wanted) and found is None:
            found = key
    return found


class _Contact:
    __slots__ = ("key", "pending", "rejected", "verified")

    def __init__(
        self,
        key: bytes,
        verified: bool = False,
        pending: list[bytes] | None = None,
        rejected: list[bytes] | None = None,
    ) -> None:
        self.key = key
        self.verified = verified
        self.pending = pending or []
        self.rejected = rejected or []

    @property
    def state(self) -> TrustState:
        if self.pending:
            return TrustState.KEY_CHANGED
        return TrustState.VERIFIED if self.verified else TrustState.UNVERIFIED

    def pin(self, key: bytes, verified: bool) -> None:
        """``key`` becomes the pinned key; every other undecided key is dropped."""
        self.key, self.verified, self.pending = key, verified, []
        index = _find(self.rejected, key)
        if index is not None:
            del self.rejected[index]


def _b64_list(keys: list[bytes]) -> list[str]:
    return [encode_identity_key(k) for k in keys]


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


def _decode_keys(value: Any, limit: int) -> list[bytes]:
    if not isinstance(value, list) or len(value) > limit:
        raise KeyFileError("pin store: malformed key list")
    return [_decode_key(item) for item in value]


def _check_key(key: bytes) -> None:
    if len(key) != 32:
        raise ValueError("an identity key is 32 bytes")


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


class PinStore:
    """The pinned identity keys of one local user (in memory; see :meth:`dump`)."""

    def __init__(self, path: Path, identity: IdentityKey, username: str) -> None:
        self.path = path
        self.username = validate_username(username)
        self._mac_key = pin_store_mac_key(identity)
        self._contacts: dict[str, _Contact] = {}
        #: Grows with every change: compare before and after to know whether to save.
        self.revision = 0
        #: How many contacts a version 1 file held, when this store was imported from one.
        self.imported_v1: int | None = None
        #: Whether :meth:`load` found a file in the current format (else: write one).
        self.current_on_disk = False

    # ---------------------------------------------------------------- at rest

    @classmethod
    def load(cls, path: Path, identity: IdentityKey, username: str) -> PinStore:
        """The store in ``path`` (empty if there is none). Blocks: run it in an executor.

        Raises :class:`InsecureKeyFileError` (symlink, other owner, loose permissions),
        :class:`PinStoreTamperedError` (MAC mismatch) or :class:`KeyFileError` (corrupt).
        """
        store = cls(path, identity, username)
        try:
            data = read_private_file(
                path,
                what="contact pin store",
                max_size=MAX_PIN_STORE_SIZE,
                refuse=InsecureKeyFileError,
            )
        except FileNotFoundError:
            return store
        store._parse(data)
        store.current_on_disk = store.imported_v1 is None
        return store

    def _mac(self, body: dict[str, Any]) -> str:
        return hmac.new(self._mac_key, _canonical(body), hashlib.sha256).hexdigest()

    def _parse(self, data: bytes) -> None:
        try:
            document = decode_object(data)
        except P2PChatError:
            raise KeyFileError(f"pin store '{self.path}' is not valid JSON") from None
        version = document.get("version")
        if version == 1 and _MAC_FIELD not in document:
            self._import_v1(document)
            return
        if document.get("format") != FORMAT or version != PIN_STORE_VERSION:
            raise KeyFileError(f"pin store '{self.path}' has an unsupported format or version")
        mac = document.pop(_MAC_FIELD, None)
        if not isinstance(mac, str) or not hmac.compare_digest(mac, self._mac(document)):
            raise PinStoreTamperedError(
                f"@@@ WARNING: the contact pin store '{self.path}' failed its integrity "
                "check. @@@ It was changed outside p2pchat (or was written with another "
                "identity key): someone who can write your files may have swapped a "
                "contact's key. It will not be used. Check it, then move it away to start "
                f"over with no pinned contacts: mv '{self.path}' '{self.path}.bad'"
            )
        if document.get("username") != self.username:
            raise KeyFileError(f"pin store '{self.path}' belongs to another user")
        for username, entry in self._entries(document):
            if not isinstance(entry.get("verified"), bool):
                raise KeyFileError("pin store: malformed entry")
            self._contacts[username] = _Contact(
                _decode_key(entry.get("key")),
                entry["verified"],
                _decode_keys(entry.get("pending"), MAX_PENDING_KEYS),
                _decode_keys(entry.get("rejected"), MAX_REJECTED_KEYS),
            )

    def _entries(self, document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        contacts = document.get("contacts")
        if not isinstance(contacts, dict):
            raise KeyFileError(f"pin store '{self.path}' has no contacts table")
        entries = []
        for username, entry in contacts.items():
            try:
                validate_username(username)
            except ValidationError:
                raise KeyFileError("pin store: invalid username") from None
            if not isinstance(entry, dict):
                raise KeyFileError("pin store: malformed entry")
            entries.append((username, entry))
        return entries

    def _import_v1(self, document: dict[str, Any]) -> None:
        """Keep the pinned keys only, unverified: nothing authenticated the rest."""
        for username, entry in self._entries(document):
            self._contacts[username] = _Contact(_decode_key(entry.get("key")))
        self.imported_v1 = len(self._contacts)
        self.revision += 1

    def dump(self) -> bytes:
        """The file's bytes for the current state, MAC included."""
        body: dict[str, Any] = {
            "format": FORMAT,
            "version": PIN_STORE_VERSION,
            "username": self.username,
            "contacts": {
                name: {
                    "key": encode_identity_key(c.key),
                    "verified": c.verified,
                    "pending": _b64_list(c.pending),
                    "rejected": _b64_list(c.rejected),
                }
                for name, c in sorted(self._contacts.items())
            },
        }
        document = {**body, _MAC_FIELD: self._mac(body)}
        return (json.dumps(document, indent=2) + "\n").encode("utf-8")

    # ---------------------------------------------------------------- what is known

    def _contact(self, username: str) -> _Contact:
        contact = self._contacts.get(username)
        if contact is None:
            raise UnknownContactError(f"no key pinned for {username!r}")
        return contact

    def state(self, username: str) -> TrustState | None:
        contact = self._contacts.get(username)
        return None if contact is None else contact.state

    def pinned_key(self, username: str) -> bytes | None:
        contact = self._contacts.get(username)
        return None if contact is None else contact.key

    def pending_keys(self, username: str) -> tuple[bytes, ...]:
        """The keys waiting for a decision, oldest first (empty if none)."""
        contact = self._contacts.get(username)
        return () if contact is None else tuple(contact.pending)

    def rejected_keys(self, username: str) -> tuple[bytes, ...]:
        contact = self._contacts.get(username)
        return () if contact is None else tuple(contact.rejected)

    def is_pinned(self, username: str, key: bytes) -> bool:
        contact = self._contacts.get(username)
        return contact is not None and hmac.compare_digest(contact.key, key)

    def is_pending(self, username: str, key: bytes) -> bool:
        return _find(self.pending_keys(username), key) is not None

    def is_rejected(self, username: str, key: bytes) -> bool:
        return _find(self.rejected_keys(username), key) is not None

    def may_send(self, username: str) -> bool:
        """``False`` while ``username`` is ``KEY_CHANGED``; unknown contacts are allowed
        (their first key will be pinned when a channel to them is accepted)."""
        contact = self._contacts.get(username)
        return contact is None or not contact.pending

    def usernames(self) -> list[str]:
        return sorted(self._contacts)

    # ---------------------------------------------------------------- what was seen

    def observe(self, username: str, key: bytes) -> TrustState:
        """Record that ``username`` presented (or the tracker listed) ``key``.

        First key: pinned, ``UNVERIFIED`` (call this only once a channel with that key
        was accepted). The pinned key, a pending or a rejected one: nothing changes.
        Another key: added to the pending keys, ``KEY_CHANGED``.
        """
        validate_username(username)
        _check_key(key)
        contact = self._contacts.get(username)
        if contact is None:
            self._contacts[username] = _Contact(key)
            self.revision += 1
            return TrustState.UNVERIFIED
        if (
            hmac.compare_digest(contact.key, key)
            or _find(contact.pending, key) is not None
            or _find(contact.rejected, key) is not None
        ):
            return contact.state
        contact.pending.append(key)
        del contact.pending[:-MAX_PENDING_KEYS]
        self.revision += 1
        return TrustState.KEY_CHANGED

    # ---------------------------------------------------------------- the user's decisions

    def accept(self, username: str, key: bytes, *, verified: bool = False) -> None:
        """Pin ``key``, one of the pending (or rejected) keys; the others are dropped.

        :class:`KeyNotPendingError` if ``key`` is not among them: the user decided on a
        key that is no longer in question, so nothing changes.
        """
        contact = self._contact(username)
        if _find(contact.pending, key) is None and _find(contact.rejected, key) is None:
            if hmac.compare_digest(contact.key, key):
                raise KeyNotPendingError(
                    f"that is the key already pinned for {username}; /reject {username} "
                    "keeps it and refuses the new one"
                )
            raise KeyNotPendingError(
                f"the key of {username} you decided on is no longer the one waiting for a "
                f"decision (it changed again): nothing was changed. Look again with "
                f"/fingerprint {username}"
            )
        contact.pin(key, verified)
        self.revision += 1

    def verify(self, username: str, key: bytes) -> None:
        """Record that the user compared safety numbers for exactly ``key``.

        The pinned key: marked verified (keys still pending stay pending). A pending or
        rejected key: pinned and verified at once. A contact never pinned: ``key`` is
        pinned, verified. Any other key: :class:`KeyNotPendingError`, nothing changes.
        """
        validate_username(username)
        _check_key(key)
        contact = self._contacts.get(username)
        if contact is None:
            self._contacts[username] = _Contact(key, verified=True)
        elif hmac.compare_digest(contact.key, key):
            if contact.verified:
                return
            contact.verified = True
        else:
            self.accept(username, key, verified=True)
            return
        self.revision += 1

    def reject(self, username: str) -> tuple[bytes, ...]:
        """Refuse every pending key and keep the pinned one; returns the refused keys."""
        contact = self._contact(username)
        if not contact.pending:
            raise KeyNotPendingError(f"no new key of {username} is waiting for a decision")
        refused = tuple(contact.pending)
        for key in refused:
            if _find(contact.rejected, key) is None:
                contact.rejected.append(key)
        del contact.rejected[:-MAX_REJECTED_KEYS]
        contact.pending = []
        self.revision += 1
        return refused

    # ---------------------------------------------------------------- what the user typed

    def key_to_trust(self, username: str, typed: str | None) -> bytes:
        """The key ``/trust USER [FINGERPRINT]`` means.

        With a fingerprint: the pending (or rejected) key that has it. Without: the one
        pending key, refused with :class:`AmbiguousKeyError` while more than one new key
        has been seen.
        """
        contact = self._contact(username)
        if typed is not None:
            key = _find_fingerprint([*contact.pending, *contact.rejected], typed)
            if key is None:
                raise KeyNotPendingError(
                    f"no new key of {username} has that fingerprint (the key may have "
                    f"changed since you looked): see /fingerprint {username}"
                )
            return key
        if not contact.pending:
            raise KeyNotPendingError(f"no new key of {username} is waiting for a decision")
        if len(contact.pending) > 1:
            raise self._ambiguous(username, contact.pending, "trust")
        return contact.pending[0]

    def key_to_verify(self, username: str, typed: str | None, listed: bytes | None) -> bytes:
        """The key ``/verify USER [FINGERPRINT]`` means.

        With a fingerprint: the pinned, a pending or a rejected key with it (or
        ``listed``, the key the tracker lists, for a contact never pinned). Without: the
        pinned key, refused with :class:`AmbiguousKeyError` while a new key is pending.
        """
        contact = self._contacts.get(username)
        if contact is None:
            candidates = [] if listed is None else [listed]
        else:
            candidates = [contact.key, *contact.pending, *contact.rejected]
        if typed is not None:
            key = _find_fingerprint(candidates, typed)
            if key is None:
                raise KeyNotPendingError(
                    f"no key of {username} has that fingerprint (it may have changed "
                    f"since you looked): see /fingerprint {username}"
                )
            return key
        if contact is not None and contact.pending:
            raise self._ambiguous(username, [contact.key, *contact.pending], "verify")
        if not candidates:
            raise UnknownContactError(f"no key known for {username}: /peers first")
        return candidates[0]

    @staticmethod
    def _ambiguous(username: str, keys: list[bytes], command: str) -> AmbiguousKeyError:
        shown = "; ".join(fingerprint(k) for k in keys)
        return AmbiguousKeyError(
            f"{len(keys)} keys of {username} have been seen ({shown}): say which one you "
            f"compared with /{command} {username} FINGERPRINT"
        )
