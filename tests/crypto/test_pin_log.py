"""The pin store on disk: a MAC'd snapshot plus an append-only chain of MAC'd records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from commons.models import encode_identity_key
from commons.private_file import append_private_file, write_private_file
from crypto import pinning
from crypto.errors import InsecureKeyFileError, PinStoreFullError, PinStoreTamperedError
from crypto.identity import IdentityKey
from crypto.pin_log import MAX_LOG_RECORDS
from crypto.pinning import PinStore, TrustState

ALICE = IdentityKey.generate()
KEYS = [IdentityKey.generate().public_bytes for _ in range(4)]


def store(tmp_path: Path) -> PinStore:
    return PinStore(tmp_path / "alice" / "known_peers.json", ALICE, "alice")


def persist(pins: PinStore) -> bool:
    """Write what changed, as the client does; True if it was an append."""
    write = pins.take_write()
    assert write is not None
    if write.append:
        append_private_file(pins.path, write.data, what="pins", refuse=InsecureKeyFileError)
    else:
        write_private_file(pins.path, write.data)
    return write.append


def reload(pins: PinStore) -> PinStore:
    return PinStore.load(pins.path, ALICE, "alice")


def test_a_new_contact_is_one_appended_record_not_a_rewrite(tmp_path: Path) -> None:
    pins = store(tmp_path)
    pins.observe("bob", KEYS[0])
    assert persist(pins) is False  # a new store starts with a snapshot
    inode, size = pins.path.stat().st_ino, pins.path.stat().st_size
    pins.observe("carol", KEYS[1])
    assert persist(pins) is True
    assert pins.path.stat().st_ino == inode  # the same file, not a new one renamed over it
    grown = pins.path.stat().st_size - size
    assert 0 < grown < 400  # one record, whatever the store holds
    pins.verify("bob", KEYS[0])
    pins.observe("carol", KEYS[2])
    assert persist(pins) is True
    assert pins.take_write() is None  # nothing changed since
    again = reload(pins)
    assert again.state("bob") is TrustState.VERIFIED
    assert again.pending_keys("carol") == (KEYS[2],)
    assert len(pins.path.read_bytes().splitlines()) == 4  # snapshot + 3 records


def _lines(pins: PinStore) -> list[bytes]:
    return pins.path.read_bytes().splitlines(keepends=True)


def _three_records(tmp_path: Path) -> PinStore:
    pins = store(tmp_path)
    persist(pins)
    for name, key in zip(("bob", "carol", "dave"), KEYS, strict=False):
        pins.observe(name, key)
        persist(pins)
    return pins


def _edit_record(line: bytes) -> bytes:
    record = json.loads(line)
    record["entry"]["verified"] = True
    return json.dumps(record).encode() + b"\n"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda lines: [lines[0], _edit_record(lines[1]), *lines[2:]], id="edited"),
        pytest.param(lambda lines: [lines[0], lines[2], lines[3]], id="middle record dropped"),
        pytest.param(lambda lines: [lines[0], lines[2], lines[1], lines[3]], id="reordered"),
        pytest.param(lambda lines: [*lines, lines[1]], id="record replayed"),
        pytest.param(lambda lines: [lines[0], b"{}\n", *lines[1:]], id="junk record"),
    ],
)
def test_records_are_bound_to_the_chain(tmp_path: Path, change: object) -> None:
    pins = _three_records(tmp_path)
    assert callable(change)
    pins.path.write_bytes(b"".join(change(_lines(pins))))
    with pytest.raises(PinStoreTamperedError):
        reload(pins)


def test_a_record_from_another_store_does_not_fit(tmp_path: Path) -> None:
    ours = _three_records(tmp_path / "ours")
    theirs = _three_records(tmp_path / "theirs")  # same identity key, another chain
    theirs.observe("mallory", KEYS[3])
    persist(theirs)
    ours.path.write_bytes(ours.path.read_bytes() + _lines(theirs)[-1])
    with pytest.raises(PinStoreTamperedError):
        reload(ours)


def test_records_from_before_a_snapshot_do_not_fit_after_it(tmp_path: Path) -> None:
    """Even when the new snapshot holds exactly the same contacts."""
    pins = _three_records(tmp_path)
    old_record = _lines(pins)[-1]
    pins.write_failed()  # the next write is a snapshot of the same state
    pins.observe("bob", KEYS[0])  # (no change: the pin is the same)
    assert persist(pins) is False
    pins.path.write_bytes(pins.path.read_bytes() + old_record)
    with pytest.raises(PinStoreTamperedError):
        reload(pins)


def test_a_torn_last_record_is_ignored_and_the_next_write_is_a_snapshot(tmp_path: Path) -> None:
    pins = _three_records(tmp_path)
    data = pins.path.read_bytes()
    pins.path.write_bytes(data[:-20])  # the crash came in the middle of the last append
    again = reload(pins)
    assert again.usernames() == ["bob", "carol"]
    again.observe("erin", KEYS[3])
    assert persist(again) is False
    assert reload(again).usernames() == ["bob", "carol", "erin"]


def test_after_max_records_the_file_is_rewritten_whole(tmp_path: Path) -> None:
    pins = store(tmp_path)
    persist(pins)
    appends = []
    for index in range(MAX_LOG_RECORDS + 1):
        pins.observe(f"user{index}", KEYS[index % 4])
        appends.append(persist(pins))
    assert appends == [True] * MAX_LOG_RECORDS + [False]
    assert len(pins.path.read_bytes().splitlines()) == 1
    assert len(reload(pins).usernames()) == MAX_LOG_RECORDS + 1


def test_a_version_2_store_is_read_and_rewritten_as_version_3(tmp_path: Path) -> None:
    pins = store(tmp_path)
    pins.observe("bob", KEYS[0])
    pins.verify("bob", KEYS[0])
    body = {
        "format": "p2pchat-pins",
        "version": 2,
        "username": "alice",
        "contacts": {
            "bob": {
                "key": encode_identity_key(KEYS[0]),
                "verified": True,
                "pending": [],
                "rejected": [],
            }
        },
    }
    body["contacts"]["bob"].update(pending=[], rejected=[])  # type: ignore[index]
    document = {**body, "mac": pinning.PinFile(pinning.pin_store_mac_key(ALICE)).mac(body)}
    write_private_file(pins.path, json.dumps(document, indent=2).encode())
    old = reload(pins)
    assert old.state("bob") is TrustState.VERIFIED
    assert persist(old) is False  # the first write turns it into version 3
    assert json.loads(pins.path.read_bytes().splitlines()[0])["version"] == 3
    assert reload(pins).state("bob") is TrustState.VERIFIED


def test_the_number_of_contacts_is_capped_and_no_pin_is_pushed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pinning, "MAX_CONTACTS", 3)
    pins = store(tmp_path)
    for index in range(3):
        pins.observe(f"user{index}", KEYS[index])
    assert pins.full
    with pytest.raises(PinStoreFullError):
        pins.observe("stranger", KEYS[3])
    assert pins.usernames() == ["user0", "user1", "user2"]
    assert pins.observe("user0", KEYS[3]) is TrustState.KEY_CHANGED  # known ones still change


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="POSIX")
def test_appending_refuses_a_symlink_or_a_store_others_can_read(tmp_path: Path) -> None:
    pins = _three_records(tmp_path)
    target = tmp_path / "elsewhere"
    pins.path.rename(target)
    pins.path.symlink_to(target)
    with pytest.raises(InsecureKeyFileError):
        append_private_file(pins.path, b"x\n", what="pins", refuse=InsecureKeyFileError)
    pins.path.unlink()
    target.rename(pins.path)
    pins.path.chmod(0o644)
    with pytest.raises(InsecureKeyFileError):
        append_private_file(pins.path, b"x\n", what="pins", refuse=InsecureKeyFileError)
