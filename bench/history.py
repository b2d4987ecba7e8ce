"""Encrypted history benchmark: start-up and search over a 100,000-message history.

Builds a history file (:class:`peer.history.store.HistoryStore`, real AES-GCM, the word
index in memory and sealed at close) with ``--messages`` messages spread over 40
conversations, texts drawn from a Zipf-distributed vocabulary (a few very common words,
a long tail of rare ones), then measures, each as the median of ``--repeat`` runs:

* **start**: what the chat does at login: open the file (derive keys, check them, read
  the conversation counts), list the 12 most recent conversations and decrypt the last
  200 messages of each; the index is not loaded;
* **index load**: what the first search adds: open the sealed index snapshot; and, for
  a file without one (upgraded from version 1, or after a crash that followed a
  deletion), the rebuild: decrypt and index every message;
* **close**: sealing the index back (after one new message), then closing;
* **search**: queries of every kind (rare word, common word, three-letter prefix,
  two words, one conversation), each also answered by a linear scan that decrypts every
  message and matches the same way, side by side in the same run: the ratio is what the
  index buys;
* **write**: messages/s appended in batches of 100 (the archive's batching).

Usage: ``python bench/history.py [--messages N] [--repeat N]``
"""

from __future__ import annotations

import argparse
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crypto.history_seal import derive_history_keys
from crypto.identity import IdentityKey
from peer.history import search as history_search
from peer.history.entries import HistoryEntry
from peer.history.file import HISTORY_FILE_NAME
from peer.history.store import HistoryStore

CONVERSATIONS = 40
RESTORED = 12
RESTORED_LINES = 200
VOCABULARY = 20_000


def vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 10))))
    return sorted(words)


def make_texts(count: int, rng: random.Random) -> list[str]:
    vocab = vocabulary(rng)
    rng.shuffle(vocab)  # Zipf ranks in random order, not alphabetical
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    texts = []
    for _ in range(count):
        n = rng.randint(3, 20)
        texts.append(" ".join(rng.choices(vocab, weights, k=n)))
    return texts


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def linear_search(store: HistoryStore, query: str, conversation: str | None, limit: int) -> int:
    """The control variant: decrypt every message of the scope, newest first."""
    words = history_search.query_words(query)
    labels = [conversation] if conversation else store.conversations(CONVERSATIONS * 2)
    hits = 0
    for label in labels:
        for stored in reversed(store.recent(label, 10**9)):
            if history_search.matches(stored.entry.text, words):
                hits += 1
    return min(hits, limit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(12)
    identity = IdentityKey.generate()

    def keys(salt: bytes):  # type: ignore[no-untyped-def]
        return derive_history_keys(identity, "alice", salt)

    texts = make_texts(args.messages, rng)
    labels = [f"#room{i}" if i % 2 else f"@user{i}" for i in range(CONVERSATIONS)]
    print(f"python {platform.python_version()}, {platform.machine()}, {platform.system()}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alice" / HISTORY_FILE_NAME
        store = HistoryStore.open(path, keys)
        now = time.time() - args.messages
        started = time.perf_counter()
        for start in range(0, args.messages, 100):
            batch = [
                HistoryEntry(
                    labels[rng.randrange(CONVERSATIONS)],
                    "bob",
                    texts[i],
                    now + i,
                    now + i,
                    f"s-{i}",
                )
                for i in range(start, min(start + 100, args.messages))
            ]
            store.append(batch)
        write_s = time.perf_counter() - started
        store.search("x", None, 1)  # builds the index, so that close seals it
        store.close()
        size = sum(p.stat().st_size for p in path.parent.iterdir())
        conn = sqlite3.connect(path)
        entries = conn.execute("SELECT sum(length(sealed)) FROM messages").fetchone()[0]
        index_size = conn.execute("SELECT length(value) FROM meta WHERE name = 'index'").fetchone()
        conn.close()
        index_bytes = index_size[0] if index_size else 0
        print(
            f"built {args.messages:,} messages in {write_s:.1f} s "
            f"({args.messages / write_s:,.0f} msg/s, batches of 100); "
            f"file {size / 2**20:.1f} MiB ({size / args.messages:.0f} B/message: "
            f"entries {entries / args.messages:.0f} B, sealed index "
            f"{index_bytes / args.messages:.0f} B)"
        )

        def start_up() -> None:
            opened = HistoryStore.open(path, keys)
            for label in opened.conversations(RESTORED):
                opened.recent(label, RESTORED_LINES)
            opened.close()

        start_ms = median_ms(start_up, args.repeat)
        print(
            f"start (open + {RESTORED} conversations x {RESTORED_LINES} messages): "
            f"median {start_ms:.1f} ms  [aim <= 300 ms]"
        )

        def open_only() -> None:
            HistoryStore.open(path, keys).close(save_index=False)

        def load_index() -> None:
            opened = HistoryStore.open(path, keys)
            opened.index()
            opened.close(save_index=False)

        open_ms = median_ms(open_only, args.repeat)
        load_ms = median_ms(load_index, args.repeat) - open_ms
        bare = path.with_name("bare.sqlite3")
        shutil.copy(path, bare)
        conn = sqlite3.connect(bare)
        with conn:
            conn.execute("DELETE FROM meta WHERE name = 'index'")
        conn.close()

        def rebuild_index() -> None:
            opened = HistoryStore.open(bare, keys)
            opened.index()
            opened.close(save_index=False)

        rebuild_ms = median_ms(rebuild_index, max(1, args.repeat // 3)) - open_ms
        opened = HistoryStore.open(path, keys)
        tracemalloc.start()
        index = opened.index()
        memory, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"index: {len(index):,} terms, {index.postings:,} postings, "
            f"{memory / 2**20:.1f} MiB in memory"
        )
        opened.close(save_index=False)
        print(
            f"index load (first search): from the sealed snapshot median {load_ms:.1f} ms; "
            f"rebuilt from the messages (no snapshot) median {rebuild_ms:.0f} ms"
        )
        pruned_copy = path.with_name("pruned.sqlite3")
        prune_samples: list[float] = []
        removed = 0
        for _ in range(max(1, args.repeat // 2)):
            shutil.copy(path, pruned_copy)
            started = time.perf_counter()
            opened = HistoryStore.open(pruned_copy, keys)
            # The archive prunes at open: the first hour of messages has expired.
            removed = opened.prune(now + 3600 + 86400, 1)
            for label in opened.conversations(RESTORED):
                opened.recent(label, RESTORED_LINES)
            prune_samples.append((time.perf_counter() - started) * 1000)
            opened.close(save_index=False)
        print(
            f"start when retention deletes at open ({removed:,} messages: the index is "
            f"loaded to drop its sealed copy): median {statistics.median(prune_samples):.0f} ms"
        )
        extra = iter(range(10**9))

        def close_saving() -> None:
            opened = HistoryStore.open(path, keys)
            opened.index()
            i = next(extra)
            opened.append([HistoryEntry(labels[0], "bob", texts[i], now, now, f"x-{i}")])
            started = time.perf_counter()
            opened.close()
            close_samples.append((time.perf_counter() - started) * 1000)

        close_samples: list[float] = []
        for _ in range(args.repeat):
            close_saving()
        print(
            f"close (seal the index back after one new message): "
            f"median {statistics.median(close_samples):.0f} ms"
        )

        vocab_counts: dict[str, int] = {}
        for text in texts:
            for word in set(text.split()):
                vocab_counts[word] = vocab_counts.get(word, 0) + 1
        ranked = sorted(vocab_counts, key=lambda w: -vocab_counts[w])
        rare = next(w for w in ranked[len(ranked) // 2 :] if len(w) >= 6)
        common = next(w for w in ranked if len(w) >= 4)
        # Worst case for the index: a 4-letter query in the fullest 3-letter bucket that
        # starts no word at all, so every candidate is decrypted and fails.
        buckets: dict[str, int] = {}
        for word, count in vocab_counts.items():
            if len(word) >= 3:
                buckets[word[:3]] = buckets.get(word[:3], 0) + count
        bucket = max(buckets, key=lambda b: buckets[b])
        starts = {w for w in vocab_counts if w.startswith(bucket)}
        sparse = next(
            bucket + c
            for c in "zqxjkvwyfbghmpucdlnoiestra"
            if not any(w.startswith(bucket + c) for w in starts)
        )
        queries: list[tuple[str, str, str | None]] = [
            ("rare word", rare, None),
            ("common word", common, None),
            ("3-letter prefix", rare[:3], None),
            ("two words", f"{common} {ranked[5]}", None),
            ("rare word, one conversation", rare, labels[3]),
            ("no match", "zzzzzzzzz", None),
            (f"worst: bucket '{bucket}', no hit", sparse, None),
        ]
        store = HistoryStore.open(path, keys)
        store.index()
        print(f"{'query':32} {'hits':>5} {'indexed ms':>11} {'linear ms':>10} {'ratio':>7}")
        indexed_all = []
        for name, query, conv in queries:
            hits = len(store.search(query, conv, 50).hits)
            indexed = median_ms(lambda q=query, c=conv: store.search(q, c, 50), args.repeat)
            linear = median_ms(
                lambda q=query, c=conv: linear_search(store, q, c, 50), max(1, args.repeat // 3)
            )
            indexed_all.append(indexed)
            print(f"{name:32} {hits:>5} {indexed:>11.2f} {linear:>10.1f} {linear / indexed:>6.0f}x")
        store.close()
        print(
            f"search: worst median {max(indexed_all):.1f} ms, median of medians "
            f"{statistics.median(indexed_all):.1f} ms  [aim <= 100 ms]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
