"""The pin store's file: an authenticated snapshot, then an append-only chain of records.

Writing the whole store for every new contact made each handshake cost a rewrite with
fsync, and a store grown by strangers slower with every one. Format version 3 is one
UTF-8 file of lines:

* line 1, the **snapshot**: ``{"format": "p2pchat-pins", "version": 3, "username": ...,
  "epoch": <32 random hex digits>, "contacts": {...}, "mac": M0}`` where ``M0`` is
  HMAC-SHA256 over the canonical JSON (sorted keys, no spaces, ASCII) of every other
  field, as in version 2; the random ``epoch`` makes every snapshot's MAC, and so every
  chain, unique;
* each later line, one **record**: ``{"seq": n, "user": NAME, "entry": {...} or null,
  "mac": Mn}``: the contact's whole entry after a change (``null``: removed), with
  ``Mn = HMAC(key, canonical({"prev": M(n-1), "seq": n, "user": ..., "entry": ...}))``.
  Each record is bound to everything before it: a record changed, dropped from the
  middle, reordered, replayed, or copied from another chain (another store, or this
  store before its last snapshot) fails its MAC.

A change appends one record and fsyncs: the cost no longer grows with the store. After
:data:`MAX_LOG_RECORDS` records the next write is a new snapshot (written atomically,
fsync and rename), which starts a new chain; so a write costs at most one rewrite per
:data:`MAX_LOG_RECORDS` changes, and the file stays small.

A crash while appending leaves a last line without its newline: a *torn* record, which
was never acknowledged to anyone (a decision returns once its write is synced). It is
ignored at load and the next write is a fresh snapshot. Every complete line must verify.
What the chain cannot stop is the same as for version 2: deleting the store, or cutting
whole records off its end / putting back an older authentic copy (a rollback).

:class:`PinFile` is sans-I/O (bytes in, bytes out); :mod:`crypto.pinning` holds the
store's meaning and :mod:`peer.client.trust_gate` does the writing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from commons.codec import decode_object
from commons.errors import P2PChatError

FORMAT = "p2pchat-pins"
LOG_VERSION = 3
MAX_LOG_RECORDS = 256
MAC_FIELD = "mac"


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


class PinFileError(Exception):
    """The file is corrupt (``tampered``: a MAC did not verify)."""

    def __init__(self, message: str, *, tampered: bool = False) -> None:
        super().__init__(message)
        self.tampered = tampered


@dataclass(slots=True)
class ParsedPins:
    """What a pin file holds: the snapshot's fields (``mac`` removed), then the records
    in order. ``chain``/``seq``: where the next record continues. ``torn``: a partial
    last line was ignored. ``legacy``: a version 1 or 2 file (one JSON object)."""

    document: dict[str, Any]
    records: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    chain: str = ""
    seq: int = 0
    torn: bool = False
    legacy: bool = False


class PinFile:
    """Encodes and verifies pin files under one MAC key."""

    def __init__(self, mac_key: bytes) -> None:
        self._key = mac_key

    def mac(self, body: dict[str, Any]) -> str:
        return hmac.new(self._key, canonical(body), hashlib.sha256).hexdigest()

    def snapshot(self, body: dict[str, Any]) -> tuple[bytes, str]:
        """The first line for ``body`` (which holds ``version`` 3) and its MAC."""
        mac = self.mac(body)
        return canonical({**body, MAC_FIELD: mac}) + b"\n", mac

    def record(
        self, chain: str, seq: int, user: str, entry: dict[str, Any] | None
    ) -> tuple[bytes, str]:
        """One record line continuing ``chain`` (the previous MAC) and its own MAC."""
        mac = self.mac({"prev": chain, "seq": seq, "user": user, "entry": entry})
        line = {"seq": seq, "user": user, "entry": entry, MAC_FIELD: mac}
        return canonical(line) + b"\n", mac

    def parse(self, data: bytes) -> ParsedPins:
        """Split and verify ``data``. A version 1 or 2 file comes back ``legacy`` with
        its whole document (the caller checks a version 2 MAC itself)."""
        first, newline, rest = data.partition(b"\n")
        head = _object(first) if first.lstrip().startswith(b'{"') else None
        if head is None or head.get("version") != LOG_VERSION:
            return ParsedPins(_whole(data), legacy=True)
        if head.get("format") != FORMAT:
            raise PinFileError("unsupported format")
        mac = head.pop(MAC_FIELD, None)
        if not isinstance(mac, str) or not hmac.compare_digest(mac, self.mac(head)):
            raise PinFileError("snapshot MAC", tampered=True)
        parsed = ParsedPins(head, chain=mac, torn=not newline)
        lines = rest.split(b"\n") if newline else []
        if lines and lines[-1] != b"":
            parsed.torn = True  # the last append did not finish
        for line in lines[:-1]:
            self._replay(parsed, line)
        return parsed

    def _replay(self, parsed: ParsedPins, line: bytes) -> None:
        record = _object(line)
        if record is None or set(record) != {"seq", "user", "entry", MAC_FIELD}:
            raise PinFileError("malformed record", tampered=True)
        seq, user, entry, mac = (record[k] for k in ("seq", "user", "entry", MAC_FIELD))
        expected = self.mac({"prev": parsed.chain, "seq": seq, "user": user, "entry": entry})
        if not isinstance(mac, str) or not hmac.compare_digest(mac, expected):
            raise PinFileError("record MAC", tampered=True)
        if seq != parsed.seq + 1 or not isinstance(user, str):
            raise PinFileError("record out of sequence", tampered=True)
        if entry is not None and not isinstance(entry, dict):
            raise PinFileError("malformed record", tampered=True)
        parsed.records.append((user, entry))
        parsed.chain, parsed.seq = mac, seq


def _object(line: bytes) -> dict[str, Any] | None:
    try:
        return decode_object(line)
    except P2PChatError:
        return None


def _whole(data: bytes) -> dict[str, Any]:
    document = _object(data)
    if document is None:
        raise PinFileError("not valid JSON")
    return document
