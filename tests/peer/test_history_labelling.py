"""The history's word index against someone who sends the user words and then gets the
file (issue 20): they must not learn the words of a conversation they were never in.

Also the upgrade of a version-1 file, whose clear index rows were that dictionary: they
go, every message stays and is found again.
"""

from __future__ import annotations

import hmac
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from crypto.history_seal import HistoryKeys, derive_history_keys
from crypto.identity import IdentityKey
from crypto.primitives import hkdf
from peer.history import search as history_search
from peer.history.entries import HistoryEntry
from peer.history.file import HISTORY_FILE_NAME
from peer.history.sealing import INDEX_PAD
from peer.history.store import HistoryStore

NOW = 1_800_000_000.0
#: A private conversation with bob: 29 distinct words, none of them shorter than 3 letters.
PRIVATE = [
    "meet behind the boathouse tonight",
    "bring ledger and spare keys",
    "nobody else should know about the transfer",
    "carlos moves cash through harbour storage",
    "password: violet orchid",
    "delete this after reading",
]
#: What the attacker guesses the victim talks about, 42 words more.
DECOYS = (  # noqa: SIM905
    "apple banana cherry dolphin eagle falcon garden hammer island jungle kettle lemon"
    " mango needle ocean pepper quartz rabbit salmon tiger umbrella velvet walnut yellow"
    " zipper anchor bridge candle desert engine forest glacier harbor jacket lantern"
    " marble napkin oyster pillow rocket saddle teapot"
).split()


def keys_of(identity: IdentityKey) -> Callable[[bytes], HistoryKeys]:
    return lambda salt: derive_history_keys(identity, "alice", salt)


def private_words() -> set[str]:
    return {w for text in PRIVATE for w in history_search.words(text)}


def label_attack(path: Path, attacker_rows: dict[int, str]) -> dict[int, set[str]]:
    """The attacker's side, with the file and no key: every row of every table that
    points at a message (an integer cell equal to a message id) is a *token*: its other
    cells. A token that points at one of the attacker's own messages is labelled with
    the word that message held; every other message the token points at then has that
    word. Returns, per message not the attacker's, the words so read off it."""
    conn = sqlite3.connect(path)
    try:
        message_ids = {row for (row,) in conn.execute("SELECT id FROM messages")}
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name not in ("messages", "sqlite_sequence")
        ]
        links: dict[tuple[object, ...], set[int]] = defaultdict(set)
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for i, cell in enumerate(row):
                    if isinstance(cell, int) and cell in message_ids:
                        links[(table, i, row[:i] + row[i + 1 :])].add(cell)
        # The per-message columns of the messages table are tokens too (a term count).
        columns = [c[1] for c in conn.execute("PRAGMA table_info(messages)")]
        clear = [c for c in columns if c not in ("id", "conversation", "hour", "sealed")]
        for column in clear:
            for row, value in conn.execute(f'SELECT id, "{column}" FROM messages'):
                links[("messages", column, value)].add(row)
    finally:
        conn.close()
    recovered: dict[int, set[str]] = defaultdict(set)
    for linked in links.values():
        labels = {attacker_rows[m] for m in linked if m in attacker_rows}
        if len(labels) != 1:
            continue
        (word,) = labels
        for message in linked - attacker_rows.keys():
            recovered[message].add(word)
    return recovered


def test_injected_words_reveal_no_word_of_another_conversation(tmp_path: Path) -> None:
    identity = IdentityKey.generate()
    path = tmp_path / "alice" / HISTORY_FILE_NAME
    assert len(private_words()) == 29
    guesses = sorted(private_words()) + DECOYS
    assert len(guesses) == 71
    store = HistoryStore.open(path, keys_of(identity))
    store.append(
        [
            HistoryEntry("@bob", "bob", text, NOW, NOW + i, f"b-{i}")
            for i, text in enumerate(PRIVATE)
        ]
    )
    # Mallory sends the user one chosen word per message, in her own conversation.
    store.append(
        [
            HistoryEntry("@mallory", "mallory", word, NOW, NOW + 100 + i, f"m-{i}")
            for i, word in enumerate(guesses)
        ]
    )
    # The user searches (the index is built and sealed into the file at close).
    assert [h.entry.text for h in store.search("boathouse", "@bob").hits] == [PRIVATE[0]]
    assert [h.entry.sender for h in store.search("orchid").hits] == ["mallory", "bob"]
    store.close()

    # Mallory gets the file. She knows her messages' rows: the conversation with 71.
    conn = sqlite3.connect(path)
    (mallory,) = conn.execute(
        "SELECT conversation FROM messages GROUP BY conversation HAVING count(*) = 71"
    ).fetchone()
    ordered = [
        r
        for (r,) in conn.execute(
            "SELECT id FROM messages WHERE conversation = ? ORDER BY id", (mallory,)
        )
    ]
    columns = [c[1] for c in conn.execute("PRAGMA table_info(messages)")]
    sealed_index = conn.execute("SELECT value FROM meta WHERE name = 'index'").fetchone()
    conn.close()
    attacker_rows = dict(zip(ordered, guesses, strict=True))

    recovered = label_attack(path, attacker_rows)
    read_off = set().union(*recovered.values()) & private_words()
    assert read_off == set(), f"{len(read_off)} of 29 private words read off the file"
    # Nothing per message in the clear but its conversation, its hour and its sealed
    # entry (whose length is padded): no count of terms.
    assert columns == ["id", "conversation", "hour", "sealed"]
    # The index is in the file only sealed whole, padded (nonce and tag aside).
    assert sealed_index is not None
    assert (len(sealed_index[0]) - 28) % INDEX_PAD == 0
    raw = b"".join(p.read_bytes() for p in path.parent.iterdir())
    # Words of 5 letters or more: a 3-letter one ("and") turns up by chance in a few
    # hundred kilobytes of ciphertext about once in a hundred runs (2**24 values).
    for word in private_words() | set(DECOYS):
        if len(word) >= 5:
            assert word.encode() not in raw, word

    # The user's search still works after a restart, from the sealed index.
    again = HistoryStore.open(path, keys_of(identity))
    assert [h.entry.text for h in again.search("ledger", "@bob").hits] == [PRIVATE[1]]
    assert [h.entry.text for h in again.search("harb").hits] == [
        "harbor",
        "harbour",
        PRIVATE[3],
    ]
    again.close()


# ---------------------------------------------------------------- the upgrade of version 1


def _make_version_1(path: Path, identity: IdentityKey, texts: list[str]) -> set[bytes]:
    """A version-1 file as the old code wrote it: the same sealed entries, plus a clear
    ``terms`` table of HMAC terms and a term count per message. Returns the byte
    patterns of some (term, message) index records, to look for in the file."""
    store = HistoryStore.open(path, keys_of(identity))
    store.append(
        [HistoryEntry("@bob", "bob", text, NOW, NOW + i, f"b-{i}") for i, text in enumerate(texts)]
    )
    store.close(save_index=False)
    conn = sqlite3.connect(path)
    salt = conn.execute("SELECT value FROM meta WHERE name = 'salt'").fetchone()[0]
    index_key = hkdf(salt, identity.private_bytes(), b"p2pchat local history v1: index|alice", 32)
    patterns: set[bytes] = set()
    with conn:
        conn.execute(
            "CREATE TABLE terms (term INTEGER NOT NULL, message INTEGER NOT NULL,"
            " PRIMARY KEY (term, message)) WITHOUT ROWID"
        )
        conn.execute("ALTER TABLE messages ADD COLUMN terms INTEGER NOT NULL DEFAULT 0")
        rows = conn.execute("SELECT id FROM messages ORDER BY id").fetchall()
        for (row,), text in zip(rows, texts, strict=True):
            terms = {
                int.from_bytes(hmac.digest(index_key, w, "sha256")[:4], "big", signed=True)
                for w in history_search.index_words(text)
            }
            conn.executemany("INSERT INTO terms VALUES (?, ?)", [(t, row) for t in terms])
            conn.execute("UPDATE messages SET terms = ? WHERE id = ?", (len(terms), row))
            # Record body of a large term and a one-byte message id.
            patterns |= {
                t.to_bytes(4, "big", signed=True) + bytes([row])
                for t in terms
                if abs(t) >= 2**23 and 2 <= row < 128
            }
        conn.execute("UPDATE meta SET value = ? WHERE name = 'version'", (b"1",))
        # The newest message was deleted: its id must never come back.
        conn.execute("DELETE FROM terms WHERE message = ?", (rows[-1][0],))
        conn.execute("DELETE FROM messages WHERE id = ?", (rows[-1][0],))
        conn.execute("UPDATE conversations SET messages = messages - 1, last = ?", (rows[-2][0],))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return patterns


def test_a_version_1_file_loses_its_clear_index_and_keeps_every_message(
    tmp_path: Path,
) -> None:
    identity = IdentityKey.generate()
    path = tmp_path / "alice" / HISTORY_FILE_NAME
    texts = [*PRIVATE, "the last one, deleted"]
    patterns = _make_version_1(path, identity, texts)
    assert patterns and any(p in path.read_bytes() for p in patterns)

    store = HistoryStore.open(path, keys_of(identity))
    assert [s.entry.text for s in store.recent("@bob", 10)] == PRIVATE
    assert [h.entry.text for h in store.search("transfer").hits] == [PRIVATE[2]]
    assert [h.entry.text for h in store.search("violet orc").hits] == [PRIVATE[4]]
    store.append([HistoryEntry("@bob", "bob", "a new one", NOW, NOW + 50, "b-new")])
    store.close()

    conn = sqlite3.connect(path)
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    columns = [c[1] for c in conn.execute("PRAGMA table_info(messages)")]
    version = conn.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()[0]
    ids = [r for (r,) in conn.execute("SELECT id FROM messages ORDER BY id")]
    counted = conn.execute("SELECT messages, bytes FROM conversations").fetchone()
    sizes = [s for (s,) in conn.execute("SELECT length(sealed) FROM messages")]
    conn.close()
    assert "terms" not in tables and "messages_v2" not in tables
    assert {"messages_by_conversation", "messages_by_hour"} <= tables
    assert columns == ["id", "conversation", "hour", "sealed"]
    assert version == b"2"
    assert ids == [1, 2, 3, 4, 5, 6, 8]  # 7 was deleted before the upgrade: never reused
    from peer.history.sealing import row_cost

    assert counted == (7, sum(row_cost(s) for s in sizes))
    raw = b"".join(p.read_bytes() for p in path.parent.iterdir())
    assert not [p for p in patterns if p in raw]


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_a_sealed_index_that_does_not_open_is_rebuilt(tmp_path: Path, damage: str) -> None:
    identity = IdentityKey.generate()
    path = tmp_path / "alice" / HISTORY_FILE_NAME
    store = HistoryStore.open(path, keys_of(identity))
    store.append([HistoryEntry("@bob", "bob", t, NOW, NOW, "b") for t in PRIVATE])
    store.search("x")
    store.close()
    conn = sqlite3.connect(path)
    with conn:
        if damage == "truncated":
            conn.execute("UPDATE meta SET value = substr(value, 1, 100) WHERE name = 'index'")
        else:
            conn.execute(
                "UPDATE meta SET value = (SELECT value FROM meta WHERE name = 'check')"
                " WHERE name = 'index'"
            )
    conn.close()
    again = HistoryStore.open(path, keys_of(identity))
    assert [h.entry.text for h in again.search("keys").hits] == [PRIVATE[1]]
    assert again.stats.damaged == 1
    again.close()
