"""How a message and a conversation's name become sealed rows of the history file, and
back, sans-I/O.

A message row holds its entry (sender, text, the sender's and the arrival time, the
message id) as JSON sealed with AES-256-GCM and padded to a multiple of :data:`PAD`
bytes, so its length tells little about the text. The associated data binds an entry to
its conversation and the hour it arrived, and a conversation's sealed name to its row
id: a row moved to another conversation or re-dated no longer opens. The blind search
terms of a text come from :mod:`peer.history.search` and the file's term key.
"""

from __future__ import annotations

import json
import math

from crypto.history_seal import HistorySealer
from peer.history import search as history_search
from peer.history.entries import HistoryEntry, validate_label

PAD = 32
#: What one index row costs on disk, roughly, for the byte quota.
TERM_ROW_BYTES = 16
_AD_PREFIX = b"p2pchat-history/1|"


def hour_of(timestamp: float) -> int:
    """Whole hours since the epoch: the only time a row shows in the clear."""
    return int(timestamp // 3600) if math.isfinite(timestamp) else 0


def row_cost(sealed: bytes, terms: int) -> int:
    """What a message row and its ``terms`` index rows count against the byte quota."""
    return len(sealed) + TERM_ROW_BYTES * terms


def encode_entry(entry: HistoryEntry) -> bytes:
    raw = json.dumps(
        [entry.sender, entry.text, entry.sent_at, entry.received_at, entry.msg_id, entry.own],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    return raw + b" " * (-len(raw) % PAD)  # JSON ignores trailing blanks


def decode_entry(conversation: str, plaintext: bytes) -> HistoryEntry:
    """The entry of an opened row; raises ValueError if it is not one."""
    value = json.loads(plaintext)
    if not isinstance(value, list) or len(value) != 6:
        raise ValueError("history entry has the wrong shape")
    sender, text, sent_at, received_at, msg_id, own = value
    if not (isinstance(sender, str) and isinstance(text, str) and isinstance(msg_id, str)):
        raise ValueError("history entry has the wrong types")
    if not (isinstance(sent_at, int | float) and isinstance(received_at, int | float)):
        raise ValueError("history entry has the wrong types")
    return HistoryEntry(
        conversation, sender, text, float(sent_at), float(received_at), msg_id, own is True
    )


def _conversation_ad(cid: int) -> bytes:
    return _AD_PREFIX + b"conversation|" + cid.to_bytes(8, "big")


def _message_ad(cid: int, hour: int) -> bytes:
    return _AD_PREFIX + b"message|" + cid.to_bytes(8, "big") + hour.to_bytes(8, "big", signed=True)


class RowSealer:
    """Seals and opens the rows of one file with its keys. Opening raises
    :class:`crypto.errors.DecryptError` for a row that was tampered with or moved."""

    def __init__(self, sealer: HistorySealer) -> None:
        self._sealer = sealer

    def seal_label(self, cid: int, label: str) -> bytes:
        return self._sealer.seal(label.encode("utf-8"), _conversation_ad(cid))

    def open_label(self, cid: int, sealed: bytes) -> str:
        """The conversation's label; raises (also ValidationError, UnicodeDecodeError)
        if it does not open or is not a label."""
        return validate_label(self._sealer.open(sealed, _conversation_ad(cid)).decode("utf-8"))

    def seal_entry(self, cid: int, hour: int, entry: HistoryEntry) -> bytes:
        return self._sealer.seal(encode_entry(entry), _message_ad(cid, hour))

    def open_entry(self, cid: int, hour: int, sealed: bytes) -> bytes:
        """The padded JSON of a message row (see :func:`decode_entry`)."""
        return self._sealer.open(sealed, _message_ad(cid, hour))

    def terms(self, text: str) -> list[int]:
        """The blind terms a message's text is indexed under."""
        return [self._sealer.term(word) for word in history_search.index_words(text)]

    def lookup_term(self, word: str) -> int:
        """The blind term a query word looks up."""
        return self._sealer.term(history_search.lookup_word(word))
