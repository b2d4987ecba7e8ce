"""The mailbox's cryptographic core: grants, openings, chained messages, replays, tampering.

Why: the tracker holds deposits for offline recipients, so it (or anyone on its disk) can
replay, reorder, alter, redirect or swap them; each of those must be refused without
changing the receiver's state, and the sender's identity must be the one it proved.
"""

from __future__ import annotations

import pytest

from crypto.errors import (
    EnvelopeAuthenticationError,
    EnvelopeError,
    GrantError,
    MailboxError,
    MailboxGapError,
    MailboxReplayError,
    MailboxStateError,
    UnknownPrekeyError,
    UnknownSessionError,
)
from crypto.identity import IdentityKey
from crypto.mailbox import Grant, MailboxReceiver, MailboxSender, PrekeyPublic
from crypto.mailbox.opening import (
    HANDSHAKE_LEN,
    MESSAGE_HEADER_LEN,
    OPENING_HEADER_LEN,
    SESSION_ID_LEN,
)
from crypto.mailbox.prekeys import MAX_GRANT_BYTES, PREKEY_PUBLIC_LEN
from crypto.noise import HandshakeState, Token, protocol_name

NOW = 1_800_000_000


def pair(one_time: int = 16) -> tuple[IdentityKey, MailboxSender, IdentityKey, MailboxReceiver]:
    alice, bob = IdentityKey.generate(), IdentityKey.generate()
    receiver = MailboxReceiver(bob, "bob")
    grant = receiver.issue_grant("alice", NOW, one_time=one_time)
    sender = MailboxSender(alice, "bob", bob.public_bytes, Grant.from_bytes(grant.to_bytes()))
    return alice, sender, bob, receiver


def refused_without_change(receiver: MailboxReceiver, envelope: bytes) -> MailboxError:
    before = receiver.to_bytes()
    with pytest.raises(MailboxError) as caught:
        receiver.open(envelope)
    assert receiver.to_bytes() == before
    return caught.value


def test_round_trip_of_an_opening_and_100_chained_messages() -> None:
    alice, sender, _, receiver = pair()
    texts = [f"message {i} ".encode() * (i + 1) for i in range(101)]
    opened = [receiver.open(sender.seal(text, NOW)) for text in texts]
    assert [o.plaintext for o in opened] == texts
    assert [o.n for o in opened] == list(range(101))
    assert opened[0].new_session and not any(o.new_session for o in opened[1:])
    assert {o.sender_static for o in opened} == {alice.public_bytes}
    assert {o.contact for o in opened} == {"alice"}
    assert {o.session_id for o in opened} == {sender.session_id}
    assert all(o.missing == 0 for o in opened)
    assert receiver.one_time_left("alice") == 15


def test_states_survive_serialisation_mid_session() -> None:
    alice, sender, bob, receiver = pair()
    receiver.open(sender.seal(b"one", NOW))
    sender = MailboxSender.from_bytes(sender.to_bytes(), alice)
    receiver = MailboxReceiver.from_bytes(receiver.to_bytes(), bob)
    assert receiver.open(sender.seal(b"two", NOW)).plaintext == b"two"
    with pytest.raises(MailboxStateError):
        MailboxReceiver.from_bytes(receiver.to_bytes()[:-5], bob)
    with pytest.raises(MailboxStateError):
        MailboxSender.from_bytes(b'{"v": 2}', alice)


def test_replay_of_a_one_time_opening_is_refused() -> None:
    _, sender, _, receiver = pair()
    opening = sender.seal(b"hello", NOW)
    receiver.open(opening)
    assert isinstance(refused_without_change(receiver, opening), UnknownPrekeyError)


def test_replay_of_a_last_resort_opening_is_refused() -> None:
    _, sender, _, receiver = pair(one_time=0)
    opening = sender.seal(b"hello", NOW)
    assert receiver.open(opening).new_session
    assert isinstance(refused_without_change(receiver, opening), MailboxReplayError)
    # Still refused once the session was replaced by a newer one from the same sender.
    sender.replace_grant(sender.grant)
    receiver.open(sender.seal(b"new session", NOW))
    assert isinstance(refused_without_change(receiver, opening), MailboxReplayError)


def test_replay_and_reorder_of_chained_messages_are_refused() -> None:
    _, sender, _, receiver = pair()
    receiver.open(sender.seal(b"0", NOW))
    first, second, third = (sender.seal(b"%d" % i, NOW) for i in (1, 2, 3))
    receiver.open(first)
    assert isinstance(refused_without_change(receiver, first), MailboxReplayError)
    assert receiver.open(third).missing == 1
    assert isinstance(refused_without_change(receiver, second), MailboxReplayError)


def test_gaps_are_counted_and_bounded() -> None:
    _, sender, _, receiver = pair()
    receiver.open(sender.seal(b"0", NOW))
    for _ in range(9):
        sender.seal(b"lost", NOW)
    opened = receiver.open(sender.seal(b"after nine", NOW))
    assert (opened.n, opened.missing, opened.plaintext) == (10, 9, b"after nine")
    for _ in range(1001):
        sender.seal(b"lost", NOW)
    too_far = sender.seal(b"too far", NOW)
    assert isinstance(refused_without_change(receiver, too_far), MailboxGapError)


def flips(envelope: bytes, fields: dict[str, tuple[int, int]]) -> dict[str, bytes]:
    out = {}
    for name, (start, end) in fields.items():
        for position in (start, end - 1):
            changed = bytearray(envelope)
            changed[position] ^= 0x01
            out[f"{name}@{position}"] = bytes(changed)
    return out


def test_tampering_with_each_field_of_an_opening_is_refused() -> None:
    _, sender, _, receiver = pair()
    opening = sender.seal(b"secret", NOW)
    end = len(opening)
    hs = OPENING_HEADER_LEN
    fields = {
        "version": (0, 1),
        "kind": (1, 2),
        "prekey_id": (2, hs),
        "e": (hs, hs + 32),
        "ekem1": (hs + 32, hs + 32 + 1104),
        "s": (hs + 1136, hs + 1184),
        "session_id": (hs + 1184, hs + HANDSHAKE_LEN),
        "body": (hs + HANDSHAKE_LEN, end),
    }
    for name, changed in flips(opening, fields).items():
        error = refused_without_change(receiver, changed)
        assert isinstance(
            error, EnvelopeError | EnvelopeAuthenticationError | UnknownPrekeyError
        ), name
    assert receiver.open(opening).plaintext == b"secret"


def test_tampering_with_each_field_of_a_chained_message_is_refused() -> None:
    _, sender, _, receiver = pair()
    receiver.open(sender.seal(b"0", NOW))
    message = sender.seal(b"secret", NOW)
    fields = {
        "version": (0, 1),
        "kind": (1, 2),
        "session_id": (2, 2 + SESSION_ID_LEN),
        "n": (2 + SESSION_ID_LEN, MESSAGE_HEADER_LEN),
        "body": (MESSAGE_HEADER_LEN, len(message)),
    }
    for name, changed in flips(message, fields).items():
        error = refused_without_change(receiver, changed)
        assert isinstance(
            error,
            EnvelopeError
            | EnvelopeAuthenticationError
            | UnknownSessionError
            | MailboxReplayError
            | MailboxGapError,
        ), name
    for cut in (message[:-1], message + b"\x00", message[:MESSAGE_HEADER_LEN]):
        assert isinstance(refused_without_change(receiver, cut), EnvelopeError)
    assert receiver.open(message).plaintext == b"secret"


def test_an_envelope_for_another_recipient_or_prekey_is_refused() -> None:
    _, sender, _, receiver = pair()
    # Carol holds a grant too, under the same username bob on another tracker.
    carol = MailboxReceiver(IdentityKey.generate(), "bob")
    carol.issue_grant("alice", NOW)
    opening = sender.seal(b"for bob", NOW)
    assert isinstance(refused_without_change(carol, opening), UnknownPrekeyError)
    # The same prekey id pointed at another of bob's prekeys: the keys do not match.
    other = receiver.issue_grant("alice", NOW).one_time[0]
    redirected = opening[:2] + other.id + opening[OPENING_HEADER_LEN:]
    error = refused_without_change(receiver, redirected)
    assert isinstance(error, EnvelopeAuthenticationError)
    # Sealed to the right prekey but another recipient name in the prologue.
    renamed = MailboxReceiver.from_bytes(
        receiver.to_bytes().replace(b'"username":"bob"', b'"username":"bib"'), receiver._identity
    )
    assert isinstance(refused_without_change(renamed, opening), EnvelopeAuthenticationError)
    assert receiver.open(opening).plaintext == b"for bob"


def test_a_sender_with_another_identity_is_reported_with_its_own_key() -> None:
    alice, sender, bob, receiver = pair()
    mallory = IdentityKey.generate()
    thief = MailboxSender(mallory, "bob", bob.public_bytes, sender.grant)
    opened = receiver.open(thief.seal(b"I am alice", NOW))
    assert opened.contact == "alice"
    assert opened.sender_static == mallory.public_bytes != alice.public_bytes


def test_a_new_session_from_the_same_sender_replaces_the_old_one() -> None:
    _, sender, _, receiver = pair()
    receiver.open(sender.seal(b"0", NOW))
    old_next = sender.seal(b"old", NOW)
    sender.replace_grant(sender.grant)
    receiver.open(sender.seal(b"new", NOW))
    assert isinstance(refused_without_change(receiver, old_next), UnknownSessionError)


def test_envelope_sizes_for_a_200_byte_message() -> None:
    _, sender, _, _ = pair()
    opening = sender.seal(bytes(200), NOW)
    chained = sender.seal(bytes(200), NOW)
    print(f"opening {len(opening)} B, chained {len(chained)} B")
    assert len(opening) == OPENING_HEADER_LEN + HANDSHAKE_LEN + 256 + 16 == 1498
    assert len(chained) == MESSAGE_HEADER_LEN + 256 + 16 == 298
    assert len(sender.seal(bytes(252), NOW)) == 298
    assert len(sender.seal(bytes(253), NOW)) == MESSAGE_HEADER_LEN + 1024 + 16
    assert len(sender.seal(bytes(65532), NOW)) == MESSAGE_HEADER_LEN + 65536 + 16
    with pytest.raises(EnvelopeError):
        sender.seal(bytes(65533), NOW)


def test_a_spent_grant_falls_back_to_last_resort_then_refuses_after_expiry() -> None:
    _, sender, _, receiver = pair(one_time=1)
    receiver.open(sender.seal(b"one-time", NOW))
    sender.replace_grant(sender.grant)
    assert sender.grant.one_time == ()
    assert receiver.open(sender.seal(b"last resort", NOW)).new_session
    sender.replace_grant(sender.grant)
    with pytest.raises(GrantError):
        sender.seal(b"too late", sender.grant.expires)


def test_bad_grants_are_refused() -> None:
    receiver = MailboxReceiver(IdentityKey.generate(), "bob")
    grant = receiver.issue_grant("alice", NOW)
    data = grant.to_bytes()
    assert Grant.from_bytes(data) == grant
    assert Grant.from_dict(grant.to_dict()) == grant
    assert len(data) <= MAX_GRANT_BYTES
    one_time_start = 1 + 32 + 8 + 1
    bad_kem = bytearray(data)
    bad_kem[one_time_start + 40 : one_time_start + 42] = b"\xff\xff"
    duplicate = bytearray(data)
    duplicate[one_time_start + PREKEY_PUBLIC_LEN : one_time_start + PREKEY_PUBLIC_LEN + 8] = data[
        one_time_start : one_time_start + 8
    ]
    too_many = bytearray(data)
    too_many[one_time_start - 1] = 17
    for bad in (
        b"",
        b"\x02" + data[1:],
        data[:-1],
        data + b"\x00",
        bytes(bad_kem),
        bytes(duplicate),
        bytes(too_many),
        data + bytes(MAX_GRANT_BYTES),
        data[:1] + data[1:33] + bytes(8) + data[41:],
    ):
        with pytest.raises(GrantError):
            Grant.from_bytes(bad)
    as_dict = grant.to_dict()
    for change in (
        {"v": 2},
        {"v": 1.0},
        {"extra": 1},
        {"token": "not base64!"},
        {"token": as_dict["token"][:-4]},
        {"one_time": as_dict["one_time"] * 2},
        {"expires": "soon"},
        {"last_resort": {**as_dict["last_resort"], "more": "x"}},
    ):
        with pytest.raises(GrantError):
            Grant.from_dict({**as_dict, **change})
    with pytest.raises(GrantError):
        PrekeyPublic(bytes(8), bytes(32), b"\xff" * 1184)
    assert "token" not in repr(grant).replace("token_hash", "")


def test_an_opening_cannot_take_over_an_open_session_id(monkeypatch: pytest.MonkeyPatch) -> None:
    _, sender, bob, receiver = pair()
    receiver.open(sender.seal(b"0", NOW))
    taken = sender.session_id
    assert taken is not None
    # Mallory holds a token of bob's too, read alice's session id off the tracker and
    # opens a session of her own under that id.
    mallory = MailboxSender(IdentityKey.generate(), "bob", bob.public_bytes, sender.grant)
    monkeypatch.setattr("crypto.mailbox.sender.secrets.token_bytes", lambda _size: taken)
    hijack = mallory.seal(b"mine now", NOW)
    monkeypatch.undo()
    assert isinstance(refused_without_change(receiver, hijack), MailboxReplayError)
    assert receiver.open(sender.seal(b"1", NOW)).plaintext == b"1"


def test_the_one_way_pattern_names_itself_and_needs_its_pre_message_keys() -> None:
    assert protocol_name("XEKhfs") == b"Noise_XEKhfs_25519+MLKEM768_AESGCM_SHA256"
    bob = IdentityKey.generate()
    with pytest.raises(ValueError, match="local ephemeral"):
        HandshakeState("XEKhfs", False, b"", s=bob.private_key)
    with pytest.raises(ValueError, match="remote e key"):
        HandshakeState("XEKhfs", True, b"", s=bob.private_key, rs=bob.public_bytes)
    with pytest.raises(ValueError, match="cannot be a pre-message"):
        HandshakeState("XX", True, b"", s=bob.private_key)._pre_message_key("XX", Token.EE, True)
