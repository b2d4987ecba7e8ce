"""The word index of the history: held in memory, never stored as rows, sans-I/O.

Why: an index kept in rows of the file, even rows of keyed hashes, is a dictionary for
anyone who can send the user words and later get the file. They know which rows their
own messages added, so they label those rows' terms with the words they sent, then read
the same terms off every other conversation's rows (issue 20: 71 injected messages
recovered 28 of 29 words of a conversation the attacker was never in). So this index
is never written as rows: it lives in memory, built from the decrypted messages the
first time a search needs it, and survives a restart only as one sealed, padded
snapshot (:meth:`WordIndex.to_bytes`, sealed by
:meth:`peer.history.sealing.RowSealer.seal_index`), which shows its size and nothing
else: no term, no count per message, no link from a word to a row.

Contract: a term's postings are the row ids of the messages that have it, in
increasing order (rows are added in id order, :meth:`WordIndex.add` refuses otherwise);
:attr:`WordIndex.covered` is the highest row added, so a loader indexes the rows after
it. Rows deleted from the file leave their postings behind (*stale*) until
:meth:`WordIndex.compact`: search fetches every candidate from the file, so a stale
posting finds nothing and is never a hit; the owner compacts when stale rows could be
as many as live ones, which bounds the memory by the live messages.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence

#: Snapshot layout (little-endian): header, then per term its entry and bytes, then
#: every posting as one int64 array in term order.
_MAGIC = b"p2pchat-index/1\n"
_HEADER = struct.Struct("<QQQQ")  # covered, rows, terms, postings
_TERM = struct.Struct("<HI")  # term length, posting count
#: One posting, in memory (``array('q')``) and in the snapshot.
POSTING_BYTES = 8


class WordIndex:
    """Term → ids of the rows that have it, newest last. Not thread-safe."""

    __slots__ = ("_postings", "covered", "postings", "rows")

    def __init__(self) -> None:
        self._postings: dict[bytes, array[int]] = {}
        #: The highest row added (0: none).
        self.covered = 0
        #: How many rows were added (damaged ones with no terms included), stale or not.
        self.rows = 0
        #: How many postings are held, stale or not.
        self.postings = 0

    def __len__(self) -> int:
        """How many distinct terms are held."""
        return len(self._postings)

    def add(self, row: int, terms: Iterable[bytes]) -> None:
        """Index ``row`` under ``terms`` (distinct). ``row`` must be above :attr:`covered`:
        postings stay sorted without sorting. Raises ``ValueError`` otherwise."""
        if row <= self.covered:
            raise ValueError(f"row {row} is not after the indexed rows ({self.covered})")
        postings = self._postings
        for term in terms:
            found = postings.get(term)
            if found is None:
                postings[term] = array("q", (row,))
            else:
                found.append(row)
            self.postings += 1
        self.covered = row
        self.rows += 1

    def candidates(self, terms: Sequence[bytes]) -> Iterator[int]:
        """Ids of the rows that have every one of ``terms``, newest first (stale ones
        included: the caller reads them from the file). No terms, no candidates."""
        if not terms:
            return iter(())
        lists: list[array[int]] = []
        for term in terms:
            found = self._postings.get(term)
            if found is None:
                return iter(())
            lists.append(found)
        if len(lists) == 1:
            return reversed(lists[0])
        lists.sort(key=len)
        common = set(lists[0]).intersection(*lists[1:])
        return iter(sorted(common, reverse=True))

    def compact(self, is_live: Callable[[int], bool], live_rows: int) -> None:
        """Drop the postings of rows ``is_live`` rejects; ``live_rows`` is how many rows
        the file holds now (what :attr:`rows` becomes)."""
        kept: dict[bytes, array[int]] = {}
        total = 0
        for term, rows in self._postings.items():
            live = array("q", filter(is_live, rows))
            if live:
                kept[term] = live
                total += len(live)
        self._postings = kept
        self.postings = total
        self.rows = live_rows

    def to_bytes(self) -> bytes:
        """The snapshot: every term with its postings, :attr:`covered` and :attr:`rows`."""
        parts = [
            _MAGIC,
            _HEADER.pack(self.covered, self.rows, len(self._postings), self.postings),
        ]
        everything = array("q")
        for term, rows in self._postings.items():
            parts.append(_TERM.pack(len(term), len(rows)))
            parts.append(term)
            everything.extend(rows)
        if sys.byteorder != "little":
            everything.byteswap()
        parts.append(everything.tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> WordIndex:
        """The index of a :meth:`to_bytes` snapshot; bytes after it (padding) are ignored.

        The snapshot comes out of AES-GCM under the file's key, so only this code wrote
        it: the checks here catch a damaged or foreign layout (``ValueError``), not a
        forgery, and the order of postings is trusted rather than re-checked (that would
        cost a pass over every posting at each start).
        """
        view = memoryview(data)
        if bytes(view[: len(_MAGIC)]) != _MAGIC:
            raise ValueError("not a history index snapshot")
        offset = len(_MAGIC)
        try:
            covered, rows, nterms, npostings = _HEADER.unpack_from(view, offset)
            offset += _HEADER.size
            entries: list[tuple[bytes, int]] = []
            counted = 0
            for _ in range(nterms):
                size, count = _TERM.unpack_from(view, offset)
                offset += _TERM.size
                term = bytes(view[offset : offset + size])
                if len(term) != size or count == 0:
                    raise ValueError("damaged term entry")
                offset += size
                entries.append((term, count))
                counted += count
        except struct.error:
            raise ValueError("truncated history index snapshot") from None
        end = offset + POSTING_BYTES * npostings
        if counted != npostings or end > len(data):
            raise ValueError("history index snapshot postings do not add up")
        everything = array("q")
        everything.frombytes(view[offset:end])
        if sys.byteorder != "little":
            everything.byteswap()
        index = cls()
        start = 0
        for term, count in entries:
            postings = everything[start : start + count]
            start += count
            if postings[-1] > covered:
                raise ValueError("history index snapshot postings pass its last row")
            index._postings[term] = postings
        if len(index._postings) != nterms:
            raise ValueError("history index snapshot repeats a term")
        index.covered, index.rows, index.postings = covered, rows, npostings
        return index
