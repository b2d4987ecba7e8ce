"""The history for asyncio code: queued writes, a bounded queue, retention, a key change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from crypto.history_seal import HistoryKeys, derive_history_keys
from crypto.identity import IdentityKey
from peer.history.archive import MAX_PENDING, HistoryArchive
from peer.history.entries import HistoryEntry
from peer.history.file import HISTORY_FILE_NAME

NOW = 1_800_000_000.0


def keys_of(identity: IdentityKey) -> Callable[[bytes], HistoryKeys]:
    return lambda salt: derive_history_keys(identity, "alice", salt)


def entry(text: str, at: float = NOW) -> HistoryEntry:
    return HistoryEntry("@bob", "bob", text, at, at, "s-1")


async def test_messages_queued_before_open_are_written(tmp_path: Path) -> None:
    identity = IdentityKey.generate()
    path = tmp_path / "alice" / HISTORY_FILE_NAME
    archive = HistoryArchive(path, keys_of(identity), days=30, clock=lambda: NOW)
    archive.record(entry("early bird"))
    await archive.open()
    assert archive.enabled
    hits = (await archive.search("early", None, 10)).hits
    assert [h.entry.text for h in hits] == ["early bird"]
    await archive.close()
    again = HistoryArchive(path, keys_of(identity), days=30, clock=lambda: NOW)
    await again.open()
    assert [s.entry.text for s in await again.recent("@bob", 10)] == ["early bird"]
    await again.close()


async def test_the_write_queue_is_bounded(tmp_path: Path) -> None:
    archive = HistoryArchive(
        tmp_path / "h.sqlite3", keys_of(IdentityKey.generate()), days=30, clock=lambda: NOW
    )
    for n in range(MAX_PENDING + 1000):  # a flood faster than anything is written
        archive.record(entry(f"flood {n}"))
    assert archive.dropped == 1000
    await archive.open()
    await archive.flush()
    assert len(await archive.recent("@bob", 10 * MAX_PENDING)) == 0  # recent: earlier runs only
    assert len((await archive.search("flood", None, 10)).hits) == 10
    await archive.close()


async def test_zero_days_deletes_the_file_and_keeps_nothing(tmp_path: Path) -> None:
    identity = IdentityKey.generate()
    path = tmp_path / "alice" / HISTORY_FILE_NAME
    first = HistoryArchive(path, keys_of(identity), days=30, clock=lambda: NOW)
    await first.open()
    first.record(entry("kept for now"))
    await first.close()
    assert path.exists()
    off = HistoryArchive(path, keys_of(identity), days=0, clock=lambda: NOW)
    await off.open()
    off.record(entry("never kept"))
    await off.close()
    assert not off.enabled and not path.exists()
    assert list(path.parent.iterdir()) == []


async def test_retention_applies_at_open_and_when_changed(tmp_path: Path) -> None:
    identity = IdentityKey.generate()
    path = tmp_path / "alice" / HISTORY_FILE_NAME
    archive = HistoryArchive(path, keys_of(identity), days=365, clock=lambda: NOW)
    await archive.open()
    archive.record(entry("last month", NOW - 31 * 86400))
    archive.record(entry("last week", NOW - 7 * 86400))
    await archive.flush()
    assert await archive.set_days(10) == 1
    assert [h.entry.text for h in (await archive.search("last", None, 10)).hits] == ["last week"]
    await archive.close()
    shorter = HistoryArchive(path, keys_of(identity), days=3, clock=lambda: NOW)
    await shorter.open()
    assert (await shorter.search("last", None, 10)).hits == []
    await shorter.close()


async def test_a_history_of_another_key_is_kept_aside_and_a_new_one_starts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alice" / HISTORY_FILE_NAME
    old = HistoryArchive(path, keys_of(IdentityKey.generate()), days=30, clock=lambda: NOW)
    await old.open()
    old.record(entry("sealed under the old key"))
    await old.close()
    new = HistoryArchive(path, keys_of(IdentityKey.generate()), days=30, clock=lambda: NOW)
    await new.open()
    assert new.enabled and new.notice is not None and "unreadable" in new.notice
    aside = [p for p in path.parent.iterdir() if ".unreadable-" in p.name]
    assert aside and not aside[0].name.endswith(("-wal", "-shm"))
    assert (await new.search("sealed", None, 10)).hits == []
    await new.close()
