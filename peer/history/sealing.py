"""How a message and a conversation's name become sealed rows of the history file, and
back, sans-I/O.

A message row holds its entry (sender, text, the sender's and the arrival time, the
message id) as JSON sealed with AES-256-GCM and padded to a multiple of :data:`PAD`
bytes, so its length tells little about the text. The associated data binds an entry to
its conversation and the hour it arrived, and a conversation's sealed name to its row
id: a row moved to another conversation or re-dated no longer opens. The word index
(:mod:`peer.history.index`) is sealed whole, padded to a multiple of
:data:`INDEX_PAD` bytes, with its own associated data: no row holds a term.
"""

from __future__ import annotations

import json
import math

from crypto.history_seal import HistorySealer
from peer.history import search as history_search
from peer.history.entries import HistoryEntry, validate_label
from peer.history.index import POSTING_BYTES

PAD = 32
#: The sealed index snapshot is padded to a multiple of this: its size tells the
#: number of postings only to within 8,192.
INDEX_PAD = 64 * 1024
#: The most index terms one message can add: its first
#: :data:`peer.history.search.MAX_WORDS_PER_MESSAGE` words, each a whole-word term or
#: one prefix term per level.
MAX_TERMS_PER_MESSAGE = history_search.MAX_WORDS_PER_MESSAGE * len(history_search.PREFIX_LEVELS)
_AD_PREFIX = b"p2pchat-history/1|"


def hour_of(timestamp: float) -> int:
    """Whole hours since the epoch: the only time a row shows in the clear."""
    return int(timestamp // 3600) if math.isfinite(timestamp) else 0


def row_cost(sealed_size: int) -> int:
    """What a message row of ``sealed_size`` bytes counts against the byte quota: the
    row, plus the index postings its text can add at most.

    Why a bound from the size and not the real count: the file must not hold a count of
    terms per message (it tells short words from long ones through the padding), and
    deleting a row must not need to decrypt it. A word of one character and its separator
    make at most one term, so a text has at most half its bytes' worth of terms, and
    never more than :data:`MAX_TERMS_PER_MESSAGE`. An ordinary 190-byte row counts about
    950 bytes: 256 MiB still hold more messages than the 200,000 quota; a hostile peer's
    4,000-character row counts what its postings really cost in memory.
    """
    terms = min(MAX_TERMS_PER_MESSAGE, sealed_size // 2)
    return sealed_size + POSTING_BYTES * terms


def encode_entry(entry: HistoryEntry) -> bytes:
    """The padded JSON of ``entry``: six fields, and a seventh (an object) only for what
    the conversation frames added (a reply, an action, an edit, a delete, reactions), so
    rows of plain messages are as before and older files read the same."""
    fields: list[object] = [
        entry.sender,
        entry.text,
        entry.sent_at,
        entry.received_at,
        entry.msg_id,
        entry.own,
    ]
    extra: dict[str, object] = {}
    if entry.reply_to is not None:
        extra["reply_to"] = list(entry.reply_to)
    for flag in ("me", "edited", "deleted"):
        if getattr(entry, flag):
            extra[flag] = True
    if entry.reactions:
        extra["reactions"] = [list(pair) for pair in entry.reactions]
    if extra:
        fields.append(extra)
    raw = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return raw + b" " * (-len(raw) % PAD)  # JSON ignores trailing blanks


def decode_entry(conversation: str, plaintext: bytes) -> HistoryEntry:
    """The entry of an opened row; raises ValueError if it is not one."""
    value = json.loads(plaintext)
    if not isinstance(value, list) or len(value) not in (6, 7):
        raise ValueError("history entry has the wrong shape")
    sender, text, sent_at, received_at, msg_id, own = value[:6]
    extra = value[6] if len(value) == 7 else {}
    if not isinstance(extra, dict):
        raise ValueError("history entry has the wrong types")
    if not (isinstance(sender, str) and isinstance(text, str) and isinstance(msg_id, str)):
        raise ValueError("history entry has the wrong types")
    if not (isinstance(sent_at, int | float) and isinstance(received_at, int | float)):
        raise ValueError("history entry has the wrong types")
    return HistoryEntry(
        conversation,
        sender,
        text,
        float(sent_at),
        float(received_at),
        msg_id,
        own is True,
        reply_to=_pair(extra.get("reply_to")),
        me=extra.get("me") is True,
        edited=extra.get("edited") is True,
        deleted=extra.get("deleted") is True,
        reactions=tuple(p for p in map(_pair, extra.get("reactions") or ()) if p is not None),
    )


def _pair(value: object) -> tuple[str, str] | None:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return (value[0], value[1])
    return None


def _conversation_ad(cid: int) -> bytes:
    return _AD_PREFIX + b"conversation|" + cid.to_bytes(8, "big")


def _message_ad(cid: int, hour: int) -> bytes:
    return _AD_PREFIX + b"message|" + cid.to_bytes(8, "big") + hour.to_bytes(8, "big", signed=True)


_INDEX_AD = _AD_PREFIX + b"index"


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

    def seal_index(self, snapshot: bytes) -> bytes:
        """The index snapshot sealed, zero-padded to a multiple of :data:`INDEX_PAD`
        (:meth:`peer.history.index.WordIndex.from_bytes` ignores what follows it)."""
        padded = snapshot + bytes(-len(snapshot) % INDEX_PAD)
        return self._sealer.seal(padded, _INDEX_AD)

    def open_index(self, sealed: bytes) -> bytes:
        """The padded snapshot; raises :class:`crypto.errors.DecryptError` if it does not
        open (another file's, modified)."""
        return self._sealer.open(sealed, _INDEX_AD)
