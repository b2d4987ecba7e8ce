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

The store lives in memory; the caller persists it: :meth:`~PinStore.take_write` gives
what to write next, either a record to append (one changed contact, MAC-chained to the
rest) or a whole new snapshot (:mod:`crypto.pin_log` describes the file, format version
3), and :meth:`~PinStore.load` reads a file back. :attr:`~PinStore.revision` grows with
every change. At most :data:`MAX_CONTACTS` contacts are pinned, and only contacts: the caller pins a
first key once the user answered that person or shares a room with them, never for a
stranger who merely wrote (:mod:`peer.client.trust_gate`), so a crowd of one-message
accounts cannot fill the store. Once it is full a new contact is not pinned
(:attr:`~PinStore.full`): the caller refuses to send to them until the user makes room
with :meth:`~PinStore.forget`; no pin is ever pushed out, so nobody can evict a
contact's pinned key and then change it silently.

A contact's entry::

    "bob": {"key": "<b64>", "verified": false, "pending": ["<b64>", ...],
            "rejected": ["<b64>", ...]}

Every MAC (the snapshot's and each record's) is HMAC-SHA256 under a key derived from the
user's identity key with HKDF-SHA256 and its own label (:data:`PIN_STORE_MAC_LABEL`).
Someone who can write the user's folder but does not hold the identity key (it is
encrypted under the password) cannot swap a pinned key or set ``verified`` without
:meth:`~PinStore.load` refusing the whole store (:class:`PinStoreTamperedError`). The file
is read with :func:`commons.private_file.read_private_file` (no symlinks; owner and mode
checked on the open descriptor). Version 2 files (one JSON object with the same fields
and a MAC) are read as they are and rewritten as version 3 at the first write.

Version 1 files (no MAC) are refused (:class:`PinStoreUnauthenticatedError`), never
imported: the format predates the authenticated store (every client since version 2 was
introduced writes a MAC), so a version 1 file found now is far more likely planted over
the real store than left over, and importing it would make its author's keys the pinned
ones (then a ``/reject`` of the key the tracker lists keeps the planted key). The
refusal says how to move the file away and start over with no pins, which is all a
writer of the folder can force anyway (by deleting the store).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from commons.errors import ValidationError
from commons.models import encode_identity_key, validate_username
from commons.private_file import read_private_file
from crypto.errors import (
    AmbiguousKeyError,
    InsecureKeyFileError,
    KeyFileError,
    KeyNotPendingError,
    KeyNotPinnedError,
    PinStoreFullError,
    PinStoreTamperedError,
    PinStoreUnauthenticatedError,
    UnknownContactError,
)
from crypto.fingerprint import fingerprint, parse_fingerprint
from crypto.identity import IdentityKey
from crypto.pin_log import FORMAT, LOG_VERSION, MAC_FIELD, MAX_LOG_RECORDS, PinFile, PinFileError
from crypto.primitives import hkdf

PIN_STORE_VERSION = LOG_VERSION
MAX_PIN_STORE_SIZE = 4 * 1024 * 1024
MAX_PENDING_KEYS = 4
MAX_REJECTED_KEYS = 8
MAX_CONTACTS = 2000
PIN_STORE_MAC_LABEL = b"p2pchat/1 pin store MAC key"


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


def _entry_json(contact: _Contact) -> dict[str, Any]:
    return {
        "key": encode_identity_key(contact.key),
        "verified": contact.verified,
        "pending": _b64_list(contact.pending),
        "rejected": _b64_list(contact.rejected),
    }


def _entry_from(entry: Any) -> _Contact:
    if not isinstance(entry, dict) or not isinstance(entry.get("verified"), bool):
        raise KeyFileError("pin store: malformed entry")
    return _Contact(
        _decode_key(entry.get("key")),
        entry["verified"],
        _decode_keys(entry.get("pending"), MAX_PENDING_KEYS),
        _decode_keys(entry.get("rejected"), MAX_REJECTED_KEYS),
    )


@dataclass(frozen=True, slots=True)
class PinWrite:
    """What to write: ``data`` appended to the file, or (``append`` false) the whole
    file replaced by ``data``."""

    data: bytes
    append: bool


class PinStore:
    """The pinned identity keys of one local user (in memory; see :meth:`dump`)."""

    def __init__(self, path: Path, identity: IdentityKey, username: str) -> None:
        self.path = path
        self.username = validate_username(username)
        self._file = PinFile(pin_store_mac_key(identity))
        self._contacts: dict[str, _Contact] = {}
        #: Grows with every change: compare before and after to know whether to save.
        self.revision = 0
        self._chain = ""  # MAC the next record continues from
        self._seq = 0  # records since the snapshot
        self._dirty: dict[str, None] = {}  # contacts changed since the last write
        self._snapshot_due = True  # the file is missing, old or torn: rewrite it whole

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
        return store

    def _tampered(self) -> PinStoreTamperedError:
        return PinStoreTamperedError(
            f"@@@ WARNING: the contact pin store '{self.path}' failed its integrity "
            "check. @@@ It was changed outside p2pchat (or was written with another "
            "identity key): someone who can write your files may have swapped a "
            "contact's key. It will not be used. Check it, then move it away to start "
            f"over with no pinned contacts: mv '{self.path}' '{self.path}.bad'"
        )

    def _parse(self, data: bytes) -> None:
        try:
            parsed = self._file.parse(data)
        except PinFileError as exc:
            if exc.tampered:
                raise self._tampered() from None
            raise KeyFileError(f"pin store '{self.path}' is not valid ({exc})") from None
        document = parsed.document
        version = document.get("version")
        if parsed.legacy and version == 1 and MAC_FIELD not in document:
            raise PinStoreUnauthenticatedError(
                f"the contact pin store '{self.path}' is in the old unauthenticated format "
                "(version 1), which p2pchat no longer reads: anyone who can write your "
                "files could have written it. If you did not expect this, someone may have "
                "replaced your store. To start over with no pinned contacts: "
                f"mv '{self.path}' '{self.path}.v1'"
            )
        if parsed.legacy:
            if document.get("format") != FORMAT or version != 2:
                raise KeyFileError(f"pin store '{self.path}' has an unsupported format or version")
            mac = document.pop(MAC_FIELD, None)
            if not isinstance(mac, str) or not hmac.compare_digest(mac, self._file.mac(document)):
                raise self._tampered()
        if document.get("username") != self.username:
            raise KeyFileError(f"pin store '{self.path}' belongs to another user")
        for username, entry in self._entries(document):
            self._contacts[username] = _entry_from(entry)
        for username, record in parsed.records:
            validate_username(username)
            if record is None:
                self._contacts.pop(username, None)
            else:
                self._contacts[username] = _entry_from(record)
        self._chain, self._seq = parsed.chain, parsed.seq
        self._snapshot_due = parsed.legacy or parsed.torn

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

    def _changed(self, username: str) -> None:
        self.revision += 1
        self._dirty.pop(username, None)
        self._dirty[username] = None

    def dump(self) -> bytes:
        """The whole file for the current state: a snapshot, MAC included, no records."""
        body: dict[str, Any] = {
            "format": FORMAT,
            "version": PIN_STORE_VERSION,
            "username": self.username,
            # A fresh value per snapshot: records chained to an earlier snapshot never
            # fit a later one, even one with the very same contacts.
            "epoch": secrets.token_hex(16),
            "contacts": {name: _entry_json(c) for name, c in sorted(self._contacts.items())},
        }
        data, self._chain = self._file.snapshot(body)
        self._seq = 0
        return data

    def take_write(self) -> PinWrite | None:
        """What to write for the changes since the last call (``None``: nothing), in
        the order the writes must happen: records to append, or, when the file must be
        rewritten or holds :data:`MAX_LOG_RECORDS` records, a new snapshot. Taken on the
        event loop; the bytes are then written in order by one thread."""
        if self._snapshot_due or self._seq + len(self._dirty) > MAX_LOG_RECORDS:
            self._dirty.clear()
            self._snapshot_due = False
            return PinWrite(self.dump(), append=False)
        if not self._dirty:
            return None
        lines = []
        for username in self._dirty:
            contact = self._contacts.get(username)
            entry = None if contact is None else _entry_json(contact)
            line, self._chain = self._file.record(self._chain, self._seq + 1, username, entry)
            self._seq += 1
            lines.append(line)
        self._dirty.clear()
        return PinWrite(b"".join(lines), append=True)

    def write_failed(self) -> None:
        """A write did not complete: the next one rewrites the whole file."""
        self._snapshot_due = True

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

    def contacts(self) -> frozenset[str]:
        """The pinned names, unsorted (cheap enough to ask for every message shown)."""
        return frozenset(self._contacts)

    @property
    def full(self) -> bool:
        """Whether :data:`MAX_CONTACTS` contacts are pinned (new ones are not)."""
        return len(self._contacts) >= MAX_CONTACTS

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
            if self.full:
                raise PinStoreFullError(f"the pin store holds {MAX_CONTACTS} contacts")
            self._contacts[username] = _Contact(key)
            self._changed(username)
            return TrustState.UNVERIFIED
        if (
            hmac.compare_digest(contact.key, key)
            or _find(contact.pending, key) is not None
            or _find(contact.rejected, key) is not None
        ):
            return contact.state
        contact.pending.append(key)
        del contact.pending[:-MAX_PENDING_KEYS]
        self._changed(username)
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
        self._changed(username)

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
        self._changed(username)

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
        self._changed(username)
        return refused

    def forget(self, username: str) -> None:
        """Remove ``username`` and everything known about their keys (``/forget``): the
        next key they present is a first key again, pinned only once they are a contact
        again. :class:`UnknownContactError` if nothing is pinned for them."""
        self._contact(validate_username(username))
        del self._contacts[username]
        self._changed(username)

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
        pinned key, refused with :class:`AmbiguousKeyError` while a new key is pending and
        with :class:`KeyNotPinnedError` when none is pinned (whatever the tracker lists at
        that moment is not what the user compared).
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
        if contact is None:
            raise KeyNotPinnedError(
                f"no key of {username} is pinned, so there is nothing to mark verified "
                f"without knowing which key you compared: ask {username} to read you their "
                f"fingerprint, then /verify {username} FINGERPRINT"
            )
        if contact.pending:
            raise self._ambiguous(username, [contact.key, *contact.pending], "verify")
        return contact.key

    @staticmethod
    def _ambiguous(username: str, keys: list[bytes], command: str) -> AmbiguousKeyError:
        shown = "; ".join(fingerprint(k) for k in keys)
        return AmbiguousKeyError(
            f"{len(keys)} keys of {username} have been seen ({shown}): say which one you "
            f"compared with /{command} {username} FINGERPRINT"
        )
