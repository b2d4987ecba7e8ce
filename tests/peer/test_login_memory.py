"""The login memory without I/O (and its file): which legacy requests are a downgrade."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from commons.errors import ErrorCode
from commons.tls_fingerprint import cert_fingerprint
from peer.errors import (
    LegacyLoginRefusedError,
    LoginDowngradeError,
    LoginRealmChangedError,
    TrackerUntrustedError,
)
from peer.session.login_memory import (
    MAX_ENDPOINT_LENGTH,
    MAX_ENTRIES,
    MAX_FILE_SIZE,
    LoginMemory,
    LoginRealm,
    TrackerIdentity,
    check_legacy_request,
    check_login_realm,
    load_login_memory,
    save_login_memory,
)

HERE = TrackerIdentity("tracker.example:6060", cert_fingerprint(b"the tracker's certificate"))
MOVED = TrackerIdentity("10.0.0.9:7070", HERE.fingerprint)
OTHER = TrackerIdentity("other.example:6060", cert_fingerprint(b"another certificate"))
NEW_CERT = TrackerIdentity("tracker.example:6060", OTHER.fingerprint)
PATH = Path("/home/u/login_memory.json")
REALM = LoginRealm("our-group", bytes(range(16)))


def check(memory: LoginMemory, account: str, tracker: TrackerIdentity, allowed: bool) -> None:
    check_legacy_request(memory, account, tracker, allowed=allowed, memory_path=PATH)


def test_an_upgraded_account_is_known_by_its_address_or_its_certificate() -> None:
    memory = LoginMemory()
    assert not memory.upgraded("alice", HERE)
    assert memory.remember("alice", HERE, REALM)
    assert not memory.remember("alice", HERE, REALM)  # nothing to save
    assert memory.upgraded("alice", HERE)
    assert memory.upgraded("ALICE", HERE)  # names are unique ignoring case
    assert memory.upgraded("alice", MOVED)  # same key, another address
    assert memory.upgraded("alice", NEW_CERT)  # same address, another certificate
    assert memory.upgraded("alice", TrackerIdentity("TRACKER.example:6060", None))
    assert not memory.upgraded("alice", OTHER)
    assert not memory.upgraded("bob", HERE)


def test_a_legacy_request_is_a_downgrade_for_a_known_account_whatever_the_user_allowed() -> None:
    memory = LoginMemory()
    memory.remember("alice", HERE, REALM)
    for allowed in (False, True):
        with pytest.raises(LoginDowngradeError) as refused:
            check(memory, "alice", MOVED, allowed)
        assert refused.value.code is ErrorCode.LOGIN_DOWNGRADE
        assert "downgrade" in refused.value.message and str(PATH) in refused.value.message
    # An unknown account: only with the user's consent.
    with pytest.raises(LegacyLoginRefusedError) as refused_legacy:
        check(memory, "bob", HERE, False)
    assert refused_legacy.value.code is ErrorCode.LEGACY_LOGIN_REFUSED
    assert "--allow-legacy-login" in refused_legacy.value.message
    check(memory, "bob", HERE, True)
    check(memory, "alice", OTHER, True)


def test_the_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    memory = LoginMemory()
    longest = TrackerIdentity("h" * (MAX_ENDPOINT_LENGTH - 6) + ":65535", HERE.fingerprint)
    for n in range(MAX_ENTRIES + 5):
        memory.remember(f"user{n}_" + "x" * 20, longest, REALM)
    assert len(memory) == MAX_ENTRIES
    assert not memory.upgraded("user0_" + "x" * 20, longest)
    assert memory.upgraded(f"user{MAX_ENTRIES + 4}_" + "x" * 20, longest)
    assert len(memory.encode()) <= MAX_FILE_SIZE
    # A new certificate at a remembered address replaces the entry, adds none.
    memory.remember(f"user{MAX_ENTRIES + 4}_" + "x" * 20, NEW_CERT, REALM)
    assert len(memory) == MAX_ENTRIES


def test_the_file_round_trips_privately_and_holds_only_names(tmp_path: Path) -> None:
    path = tmp_path / "home" / "login_memory.json"
    assert len(load_login_memory(path)) == 0
    memory = LoginMemory()
    memory.remember("Alice", HERE, REALM)
    save_login_memory(path, memory)
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = load_login_memory(path)
    assert again.upgraded("alice", MOVED)
    body = json.loads(path.read_text())
    assert body == {
        "version": 2,
        "accounts": [
            {
                "tracker": HERE.endpoint,
                "fingerprint": HERE.fingerprint,
                "account": "alice",
                "realm": "our-group",
                "salt": REALM.salt.hex(),
            }
        ],
    }
    assert again.pinned_realms("alice", HERE) == {REALM}


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"version": 3, "accounts": []}',
        b'{"version": true, "accounts": []}',
        b'{"version": 2, "accounts": [{"tracker": "t:1", "fingerprint": null, "account": "a"}]}',
        b'{"version": 2, "accounts": [{"tracker": "t:1", "fingerprint": null, "account": "a",'
        b' "realm": "r", "salt": "00"}]}',
        b'{"version": 1, "accounts": [{"tracker": "t:1", "account": "alice"}]}',
        b'{"version": 1, "accounts": [{"tracker": "t:1", "fingerprint": "zz", "account": "a"}]}',
        b'{"version": 1, "accounts": [{"tracker": "t:1", "fingerprint": null, "account": "a b"}]}',
        json.dumps(
            {
                "version": 1,
                "accounts": [
                    {"tracker": "t:1", "fingerprint": None, "account": f"u{n}"}
                    for n in range(MAX_ENTRIES + 1)
                ],
            }
        ).encode(),
    ],
)
def test_a_damaged_file_is_refused_not_forgotten(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "login_memory.json"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(TrackerUntrustedError, match="refusing to guess"):
        load_login_memory(path)


def test_a_file_others_can_write_or_a_symlink_is_refused(tmp_path: Path) -> None:
    memory = LoginMemory()
    memory.remember("alice", HERE, REALM)
    path = tmp_path / "login_memory.json"
    save_login_memory(path, memory)
    path.chmod(0o666)
    with pytest.raises(TrackerUntrustedError, match="too open"):
        load_login_memory(path)
    link = tmp_path / "link.json"
    link.symlink_to(path)
    with pytest.raises(TrackerUntrustedError, match="symbolic link"):
        load_login_memory(link)


def test_another_realm_or_salt_for_a_known_account_is_refused() -> None:
    """A tracker (by address or certificate) naming another group's realm or salt for an
    account this client logged in with there gets nothing; a first login is taken on trust."""
    memory = LoginMemory()
    other_realm = LoginRealm("their-group", REALM.salt)
    other_salt = LoginRealm(REALM.realm, bytes(16))
    check_login_realm(memory, "alice", HERE, other_realm, memory_path=PATH)  # first contact
    memory.remember("alice", HERE, REALM)
    for tracker in (HERE, MOVED, NEW_CERT):
        check_login_realm(memory, "ALICE", tracker, REALM, memory_path=PATH)
        for claimed in (other_realm, other_salt):
            with pytest.raises(LoginRealmChangedError) as refused:
                check_login_realm(memory, "alice", tracker, claimed, memory_path=PATH)
            assert refused.value.code is ErrorCode.LOGIN_REALM_CHANGED
            assert str(PATH) in refused.value.message
    check_login_realm(memory, "alice", OTHER, other_realm, memory_path=PATH)
    check_login_realm(memory, "bob", HERE, other_realm, memory_path=PATH)
