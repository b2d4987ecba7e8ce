"""What a history search matches, sans-I/O: words, the terms indexed for them, queries.

A query matches a message when every query word *starts* a word of the message,
case-insensitively (``lunch`` finds "Lunch?" and "lunchtime"). Words are runs of
letters, digits and ``_`` after Unicode NFKC normalisation and case folding. A query
made only of words of one or two letters (``hi``, ``4``) matches them as whole words:
the index has no shorter prefixes; next to a longer word they are prefixes again
(``story 4`` finds "story 42").

The index (:mod:`peer.history.index`, in memory, stored only sealed) maps terms to
messages. A message word of ``n`` letters gives
one *prefix* term per level ``l`` in :data:`PREFIX_LEVELS` with ``l <= n`` (its first
``l`` letters), and a word shorter than every level gives a *whole-word* term. A query
word of length ``m`` looks up the prefix term of the longest level ``<= m`` (or its
whole-word term when ``m`` is below every level): every message word it starts has
that term, so nothing is missed, and the candidates are then checked on the decrypted
text (:func:`matches`), so nothing wrong is shown. The levels keep candidate sets small:
a 9-letter query word looks in the bucket of its first 8 letters, not of its first 3.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

PREFIX_LEVELS: tuple[int, ...] = (3, 5, 8)
#: Longer runs are indexed and compared by their first this many characters.
MAX_WORD_CHARS = 48
#: A message longer than this many distinct words is indexed by its first ones only:
#: a bound on the index postings one message (a hostile peer's 4,000 characters) can add.
MAX_WORDS_PER_MESSAGE = 160
MAX_QUERY_WORDS = 8
_WORD = re.compile(r"\w+")
_WHOLE = b"w\x00"
_PREFIX = b"p\x00"


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str, limit: int | None = None) -> list[str]:
    """Distinct normalised words of ``text`` in order of appearance (cut to the limits)."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer(normalise(text)):
        seen.setdefault(match.group()[:MAX_WORD_CHARS], None)
        if limit is not None and len(seen) >= limit:
            break
    return list(seen)


def _whole(word: str) -> bytes:
    return _WHOLE + word.encode("utf-8")


def _prefix(word: str, level: int) -> bytes:
    return _PREFIX + level.to_bytes(1, "big") + word[:level].encode("utf-8")


def index_words(text: str) -> list[bytes]:
    """The terms to index a message under, without duplicates."""
    found: dict[bytes, None] = {}
    for word in words(text, MAX_WORDS_PER_MESSAGE):
        if len(word) < PREFIX_LEVELS[0]:
            found.setdefault(_whole(word), None)
        for level in PREFIX_LEVELS:
            if level <= len(word):
                found.setdefault(_prefix(word, level), None)
    return list(found)


def query_words(query: str) -> list[str]:
    """The words of a query (at most :data:`MAX_QUERY_WORDS`)."""
    return words(query, MAX_QUERY_WORDS)


def indexed_query_words(query: Sequence[str]) -> list[str]:
    """The query words to look up in the index: those long enough to have a prefix term,
    or, if there are none, the short words themselves (as whole words). The others are
    checked on the decrypted candidates (:func:`matches`)."""
    long_enough = [word for word in query if len(word) >= PREFIX_LEVELS[0]]
    return long_enough or list(query)


def lookup_word(word: str) -> bytes:
    """The term that every message with a word that ``word`` starts has."""
    level = max((lvl for lvl in PREFIX_LEVELS if lvl <= len(word)), default=None)
    return _whole(word) if level is None else _prefix(word, level)


def matches(text: str, query: Sequence[str]) -> bool:
    """True if every word of ``query`` (from :func:`query_words`) starts a word of ``text``."""
    if not query:
        return False
    present = words(text)
    return all(any(w.startswith(q) for w in present) for q in query)


def prefilter(query: Sequence[str]) -> Callable[[str], bool]:
    """A cheap test that is False only for texts :func:`matches` would reject: every
    query word must occur somewhere in the normalised text (as a word start or not)."""

    def may_match(text: str) -> bool:
        folded = normalise(text)
        return all(q in folded for q in query)

    return may_match


def highlight_spans(text: str, query: Iterable[str]) -> list[tuple[int, int]]:
    """``(start, end)`` of the parts of ``text`` that matched, for drawing the hit.

    Positions are in ``text`` itself; words whose normalised form changes length
    (ligatures, some scripts) are simply not highlighted.
    """
    wanted = list(query)
    spans: list[tuple[int, int]] = []
    for match in _WORD.finditer(text):
        word = match.group()
        folded = normalise(word)
        if len(folded) != len(word):
            continue
        for q in wanted:
            if folded.startswith(q):
                spans.append((match.start(), match.start() + len(q)))
                break
    return spans
