"""Replies, actions, reactions, edits and deletes in the sealed history: kept across a
reopen, a delete takes the text out of the file and the index, search finds the latest
text, and a change names only its author's own message."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from crypto.history_seal import HistoryKeys, derive_history_keys
from crypto.identity import IdentityKey
from peer import events as ev
from peer.history.entries import (
    MAX_KEPT_REACTIONS,
    DeleteKept,
    EditKept,
    HistoryEntry,
    HistoryLimits,
    ReactionKept,
)
from peer.history.file import HISTORY_FILE_NAME
from peer.history.store import HistoryStore
from peer.tui.model.history_changes import kept_change

NOW = 1_800_000_000.0
FIRST = "00000000000000bb-1"


def _keys(identity: IdentityKey) -> Callable[[bytes], HistoryKeys]:
    return lambda salt: derive_history_keys(identity, "alice", salt)


def _msg(text: str, msg_id: str = FIRST, sender: str = "bob", conv: str = "#lobby") -> HistoryEntry:
    return HistoryEntry(conv, sender, text, NOW - 1, NOW, msg_id, sender == "alice")


@pytest.fixture
def store_at(tmp_path: Path) -> Callable[[], HistoryStore]:
    identity = IdentityKey.generate()
    path = tmp_path / HISTORY_FILE_NAME
    return lambda: HistoryStore.open(path, _keys(identity), HistoryLimits(max_scan=600))


def _texts(store: HistoryStore, conv: str = "#lobby") -> list[str]:
    return [s.entry.text for s in store.recent(conv, 100)]


def test_edits_replies_actions_and_reactions_survive_a_reopen(
    store_at: Callable[[], HistoryStore],
) -> None:
    store = store_at()
    reply = HistoryEntry(
        "#lobby", "carol", "yes!", NOW, NOW, "00000000000000cc-1", reply_to=("bob", FIRST)
    )
    action = HistoryEntry("#lobby", "alice", "waves", NOW, NOW, "00000000000000aa-1", me=True)
    store.append([_msg("lunch at noon?"), reply, action])
    store.append(
        [
            EditKept("#lobby", "bob", FIRST, "lunch at one?"),
            ReactionKept("#lobby", "bob", FIRST, "carol", "👩‍💻", True),
            ReactionKept("#lobby", "bob", FIRST, "alice", "👍", True),
            ReactionKept("#lobby", "bob", FIRST, "alice", "👍", False),
        ]
    )
    store.close()
    again = store_at()
    first, got_reply, got_action = (s.entry for s in again.recent("#lobby", 10))
    assert (first.text, first.edited, first.reactions) == (
        "lunch at one?",
        True,
        (("carol", "👩‍💻"),),
    )
    assert got_reply.reply_to == ("bob", FIRST) and got_action.me
    assert [h.entry.text for h in again.search("one").hits] == ["lunch at one?"]
    assert again.search("noon").hits == []  # the old text is no longer found
    again.close()


def test_a_delete_removes_the_text_from_the_file_and_the_index(
    store_at: Callable[[], HistoryStore], tmp_path: Path
) -> None:
    store = store_at()
    store.append([_msg("the zebrafish password"), _msg("other", "00000000000000bb-2")])
    assert store.search("zebrafish").hits  # the index is loaded, and sealed at close
    store.close()
    path = tmp_path / HISTORY_FILE_NAME
    conn = sqlite3.connect(path)
    (old_row,) = conn.execute("SELECT sealed FROM messages WHERE id = 1").fetchone()
    conn.close()
    store = store_at()
    store.append([DeleteKept("#lobby", "bob", FIRST)])
    store.append([EditKept("#lobby", "bob", FIRST, "back from the dead")])  # refused
    store.append([ReactionKept("#lobby", "bob", FIRST, "carol", "👍", True)])  # refused
    store.close()
    again = store_at()
    gone = again.recent("#lobby", 10)[0].entry
    assert (gone.text, gone.deleted, gone.edited, gone.reactions) == ("", True, False, ())
    assert again.search("zebrafish").hits == [] and again.search("back").hits == []
    assert _texts(again) == ["", "other"]
    again.close()
    # secure_delete: not even the sealed old row stays in the file's free space.
    assert bytes(old_row)[16:64] not in path.read_bytes()


def test_a_change_names_only_its_authors_own_message(store_at: Callable[[], HistoryStore]) -> None:
    store = store_at()
    store.append([_msg("alice's words", "00000000000000aa-1", "alice")])
    # bob's edit or delete of alice's id names (bob, id): no such message.
    store.append([EditKept("#lobby", "bob", "00000000000000aa-1", "forged")])
    store.append([DeleteKept("#lobby", "bob", "00000000000000aa-1")])
    store.append([EditKept("@bob", "alice", "00000000000000aa-1", "another conversation")])
    assert _texts(store) == ["alice's words"]
    store.close()


def test_reactions_kept_per_message_are_bounded(store_at: Callable[[], HistoryStore]) -> None:
    store = store_at()
    store.append([_msg("popular")])
    store.append([ReactionKept("#lobby", "bob", FIRST, f"u{n}", "👍", True) for n in range(300)])
    assert len(store.recent("#lobby", 1)[0].entry.reactions) == MAX_KEPT_REACTIONS
    store.close()


def test_a_change_to_a_message_beyond_the_scan_is_not_applied(
    store_at: Callable[[], HistoryStore],
) -> None:
    store = store_at()
    store.append([_msg("old")] + [_msg("x", f"00000000000000bb-{n}") for n in range(2, 700)])
    store.append([EditKept("#lobby", "bob", FIRST, "new")])
    assert store.recent("#lobby", 700)[0].entry.text == "old"
    store.close()


def test_events_become_history_changes_in_their_conversation() -> None:
    target = ev.MessageRef("alice", "00000000000000aa-1")
    assert kept_change(ev.MessageEdited(None, "bob", FIRST, "t", 1.0)) == EditKept(
        "@bob", "bob", FIRST, "t"
    )
    assert kept_change(ev.MessageDeleted("lobby", "bob", FIRST, 1.0)) == DeleteKept(
        "#lobby", "bob", FIRST
    )
    assert kept_change(ev.ReactionChanged("lobby", "bob", target, "👍", True, 1.0)) == (
        ReactionKept("#lobby", "alice", target.msg_id, "bob", "👍", True)
    )
    assert kept_change(ev.TypingChanged("lobby", "bob", True)) is None
