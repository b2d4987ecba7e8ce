"""The encrypted history file: round trips, search, retention, quotas, and what is at rest."""

from __future__ import annotations

import sqlite3
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from crypto.history_seal import HistoryKeys, HistorySealer, derive_history_keys
from crypto.identity import IdentityKey
from peer.history.entries import HistoryEntry, HistoryLimits
from peer.history.file import (
    HISTORY_FILE_NAME,
    HistoryError,
    HistoryKeyError,
    remove_history_files,
)
from peer.history.index import POSTING_BYTES, WordIndex
from peer.history.sealing import RowSealer
from peer.history.search import MAX_WORDS_PER_MESSAGE, PREFIX_LEVELS
from peer.history.store import HistoryStore

NOW = 1_800_000_000.0
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def keys_of(identity: IdentityKey, user: str = "alice") -> Callable[[bytes], HistoryKeys]:
    return lambda salt: derive_history_keys(identity, user, salt)


def entry(
    text: str, conversation: str = "#lobby", sender: str = "bob", at: float = NOW
) -> HistoryEntry:
    return HistoryEntry(conversation, sender, text, at - 1.0, at, "s-1", sender == "alice")


def _sealed_index(path: Path) -> bytes | None:
    conn = sqlite3.connect(path)
    found = conn.execute("SELECT value FROM meta WHERE name = 'index'").fetchone()
    conn.close()
    return None if found is None else bytes(found[0])


def _keys_of_file(identity: IdentityKey, path: Path) -> HistoryKeys:
    conn = sqlite3.connect(path)
    salt = conn.execute("SELECT value FROM meta WHERE name = 'salt'").fetchone()[0]
    conn.close()
    return derive_history_keys(identity, "alice", salt)


@pytest.fixture
def identity() -> IdentityKey:
    return IdentityKey.generate()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "alice" / HISTORY_FILE_NAME


def test_round_trip_and_reopen(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity))
    store.append([entry("first"), entry("second", sender="alice"), entry("psst", "@bob")])
    assert [s.entry.text for s in store.recent("#lobby", 10)] == ["first", "second"]
    assert store.recent("#lobby", 1)[0].entry.text == "second"
    got = store.recent("@bob", 10)[0].entry
    assert (got.sender, got.sent_at, got.received_at, got.own) == ("bob", NOW - 1, NOW, False)
    store.close()
    again = HistoryStore.open(path, keys_of(identity))
    assert again.session_start_row == 3
    assert [s.entry.text for s in again.recent("#lobby", 10)] == ["first", "second"]
    assert again.conversations(10) == ["@bob", "#lobby"]
    again.append([entry("third")])
    # What this session wrote is not "history" for it.
    assert [s.entry.text for s in again.recent("#lobby", 10, again.session_start_row + 1)] == [
        "first",
        "second",
    ]
    again.close()


@posix_only
def test_file_is_private_and_holds_no_readable_text(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity))
    secret = "the vault code is 4711 zebra"
    store.append([entry(secret, "#secretroom", "carolyn"), entry(secret, "@davidson")])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    wal = Path(str(path) + "-wal")
    files = [p for p in (path, wal) if p.exists()]
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) & 0o077 == 0
        raw = file.read_bytes()
        for needle in ("4711", "zebra", "vault", "secretroom", "carolyn", "davidson"):
            assert needle.encode() not in raw, (file, needle)
    store.close()
    raw = path.read_bytes()
    for needle in ("4711", "zebra", "vault", "secretroom", "carolyn", "davidson"):
        assert needle.encode() not in raw


def test_another_identity_does_not_open_it(identity: IdentityKey, path: Path) -> None:
    HistoryStore.open(path, keys_of(identity)).close()
    with pytest.raises(HistoryKeyError):
        HistoryStore.open(path, keys_of(IdentityKey.generate()))
    with pytest.raises(HistoryKeyError):
        HistoryStore.open(path, keys_of(identity, "mallory"))


@posix_only
def test_a_file_others_can_read_is_refused(identity: IdentityKey, path: Path) -> None:
    HistoryStore.open(path, keys_of(identity)).close()
    path.chmod(0o644)
    with pytest.raises(HistoryError, match="chmod 600"):
        HistoryStore.open(path, keys_of(identity))


def test_a_damaged_file_is_a_clear_error(identity: IdentityKey, path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database at all" * 100)
    path.chmod(0o600)
    with pytest.raises(HistoryError):
        HistoryStore.open(path, keys_of(identity))


def test_a_row_moved_or_redated_does_not_open(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity))
    store.append([entry("in lobby"), entry("private", "@bob")])
    store.close()
    conn = sqlite3.connect(path)
    with conn:
        lobby, bob = (r[0] for r in conn.execute("SELECT id FROM conversations ORDER BY id"))
        conn.execute("UPDATE messages SET conversation = ? WHERE conversation = ?", (bob, lobby))
        conn.execute("UPDATE messages SET hour = hour - 5 WHERE id = 2")
    conn.close()
    store = HistoryStore.open(path, keys_of(identity))
    assert store.recent("@bob", 10) == []
    assert store.stats.damaged == 2
    store.close()


def test_search_by_word_prefix_newest_first(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity))
    store.append(
        [
            entry("Lunch at noon?"),
            entry("lunchtime is over", "@carol", "carol"),
            entry("the lunar eclipse"),
            entry("Éclair for LUNCH", "@bob"),
            entry("nothing to see"),
        ]
    )
    texts = [h.entry.text for h in store.search("lunch").hits]
    assert texts == ["Éclair for LUNCH", "lunchtime is over", "Lunch at noon?"]
    assert [h.entry.text for h in store.search("lun").hits][1] == "the lunar eclipse"
    assert [h.entry.text for h in store.search("éclair lunch").hits] == ["Éclair for LUNCH"]
    assert [h.entry.text for h in store.search("lunch", "#lobby").hits] == ["Lunch at noon?"]
    assert store.search("lunches").hits == []
    assert store.search("at").hits[0].entry.text == "Lunch at noon?"
    assert store.search("a").hits == []  # one-letter words alone match whole words only
    assert [h.entry.text for h in store.search("lunch n").hits] == ["Lunch at noon?"]
    assert store.search("   ").hits == []
    assert store.search("lunch", "#nowhere").hits == []
    assert len(store.search("lunch", limit=2).hits) == 2
    store.close()
    # Found again after a restart: the index is in the file.
    again = HistoryStore.open(path, keys_of(identity))
    assert len(again.search("lunch").hits) == 3
    again.close()


def test_each_prefix_level_finds_longer_words(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity))
    word = "thermodynamically"
    store.append([entry(word), entry("theme"), entry("thermos")])
    for length in range(3, len(word) + 1):
        hits = [h.entry.text for h in store.search(word[:length]).hits]
        assert word in hits, length
    assert [h.entry.text for h in store.search("therm").hits] == ["thermos", word]
    assert max(PREFIX_LEVELS) < len(word)
    store.close()


def test_search_stops_at_the_scan_limit(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity), HistoryLimits(max_scan=50))
    # 200 candidates share the prefix "the" but only the oldest has a word "thes...".
    store.append([entry("thesis defence")] + [entry(f"theatre {i}") for i in range(200)])
    result = store.search("thes")
    assert result.hits == [] and not result.complete
    assert store.search("theatre", limit=5).complete
    store.close()


def test_around_a_row(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity))
    store.append([entry(f"line {i}") for i in range(20)] + [entry("elsewhere", "@bob")])
    hit = store.search("10").hits[0]
    context = [s.entry.text for s in store.around(hit.row, 3, 2)]
    assert context == ["line 7", "line 8", "line 9", "line 10", "line 11", "line 12"]
    assert store.around(10_000, 3, 3) == []
    store.close()


def test_retention_deletes_old_messages_and_their_index(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity))
    day = 86400.0
    store.append(
        [entry("ancient zebra", at=NOW - 40 * day), entry("recent zebra", at=NOW - 2 * day)]
    )
    assert len(store.search("zebra").hits) == 2
    store.close()  # the sealed index now holds both messages' words
    store = HistoryStore.open(path, keys_of(identity))
    assert store.prune(NOW, 30) == 1
    # The sealed index went with the row, in the same transaction.
    assert _sealed_index(path) is None
    assert [s.entry.text for s in store.recent("#lobby", 10)] == ["recent zebra"]
    assert [h.entry.text for h in store.search("zebra").hits] == ["recent zebra"]
    assert store.prune(NOW, 0) == 1
    assert store.stats.messages == 0
    store.close()
    # What is sealed back at close has no posting of a deleted row.
    snapshot = WordIndex.from_bytes(
        RowSealer(HistorySealer(_keys_of_file(identity, path))).open_index(
            _sealed_index(path) or b""
        )
    )
    assert (snapshot.rows, snapshot.postings, len(snapshot)) == (0, 0, 0)


def test_a_flood_in_one_conversation_keeps_the_others(identity: IdentityKey, path: Path) -> None:
    limits = HistoryLimits(max_messages=300, max_per_conversation=200)
    store = HistoryStore.open(path, keys_of(identity), limits)
    store.append([entry(f"friend {i}", "@friend", "friend") for i in range(50)])
    for burst in range(10):
        store.append([entry(f"spam {burst} {i}", "@spammer", "spammer") for i in range(100)])
    assert store.stats.messages <= limits.max_messages
    assert len(store.recent("@friend", 1000)) == 50
    spam = store.recent("@spammer", 1000)
    assert len(spam) <= limits.max_per_conversation
    assert spam[-1].entry.text == "spam 9 99"  # the newest are kept
    # Many small spammers: the total stays bounded and the largest conversation pays.
    for n in range(20):
        store.append([entry(f"hi {i}", f"@spam{n}", f"spam{n}") for i in range(10)])
    assert store.stats.messages <= limits.max_messages
    assert len(store.recent("@friend", 1000)) == 50
    store.close()
    again = HistoryStore.open(path, keys_of(identity), limits)
    assert again.stats.messages == store.stats.messages  # the counts were saved
    again.close()


def test_byte_quota_and_bounded_index_per_message(identity: IdentityKey, path: Path) -> None:
    limits = HistoryLimits(max_bytes=400_000)
    store = HistoryStore.open(path, keys_of(identity), limits)
    huge = " ".join(f"w{i:04d}x{i}" for i in range(700))[:4000]
    store.append([entry("keep me", "@friend", "friend")])
    for _ in range(60):
        store.append([entry(huge, "@flooder", "flooder")])
    assert store.stats.bytes <= limits.max_bytes
    assert [s.entry.text for s in store.recent("@friend", 5)] == ["keep me"]
    index = store.index()
    assert index.postings <= index.rows * MAX_WORDS_PER_MESSAGE * len(PREFIX_LEVELS)
    # The index's memory is inside the byte quota: each posting is counted.
    assert index.postings * POSTING_BYTES <= limits.max_bytes
    store.close()


def test_too_many_conversations_drops_the_emptiest(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity), HistoryLimits(max_conversations=5))
    store.append([entry(f"talk {i}", "@friend", "friend") for i in range(10)])
    for n in range(10):
        store.append([entry("hello", f"@stranger{n}", f"stranger{n}")])
    assert store.stats.conversations <= 5
    assert len(store.recent("@friend", 100)) == 10
    store.close()


def test_remove_history_files(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity))
    store.append([entry("x")])
    store.close()
    remove_history_files(path)
    assert list(path.parent.iterdir()) == []
    fresh = HistoryStore.open(path, keys_of(identity))
    assert fresh.recent("#lobby", 5) == []
    fresh.close()


def test_deleted_messages_leave_no_ciphertext_behind(identity: IdentityKey, path: Path) -> None:
    store = HistoryStore.open(path, keys_of(identity))
    store.append([entry("old and gone", at=NOW - 40 * 86400), entry("recent", at=NOW)])
    conn = sqlite3.connect(path)
    gone = conn.execute("SELECT sealed FROM messages ORDER BY id LIMIT 1").fetchone()[0]
    conn.close()
    assert store.prune(NOW, 30) == 1
    store.close()
    raw = b"".join(p.read_bytes() for p in path.parent.iterdir())
    assert gone[12:40] not in raw  # secure_delete overwrote it, in the file and the log


def test_the_index_stays_bounded_while_a_flood_is_evicted(
    identity: IdentityKey, path: Path
) -> None:
    # Scaled down: quotas of 300 messages, 200 per conversation (the rule is the same at
    # 200,000): deleted rows' postings are dropped once they could be as many as the
    # live rows', so a peer flooding for hours cannot grow the index past its quota.
    limits = HistoryLimits(max_messages=300, max_per_conversation=200)
    store = HistoryStore.open(path, keys_of(identity), limits)
    store.append([entry("friendly zebra", "@friend", "friend")])
    assert store.search("zebra").hits  # the index is loaded from now on
    for burst in range(60):
        store.append([entry(f"spam{burst} word{i} more", "@spammer", "spammer") for i in range(50)])
        index = store.index()
        assert index.rows <= 2 * store.stats.messages + 256
    assert store.stats.evicted > 2500
    assert [h.entry.text for h in store.search("zebra").hits] == ["friendly zebra"]
    assert [h.entry.text for h in store.search("spam59 word49").hits] == ["spam59 word49 more"]
    store.close()
