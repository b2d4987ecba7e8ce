"""Forward secrecy of the mailbox: after the receiver opened a session and its keys moved
on, an attacker with the receiver's identity private key, its current serialised state and
every envelope (the whole tracker database) opens none of the earlier messages.

Why: this is issue 22's promise. The attacker tries every key it holds: every prekey left
in the state (against the opening, under every token hash in the state), the identity key,
and every 32-byte secret in the state as a chain key (stepped forward as far as the
session went) and as a message key, against every body. A control run with the state from
before the opening shows the same attack does open the messages, so the test can fail.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from commons.codec import decode_object
from crypto.errors import MailboxError
from crypto.identity import IdentityKey
from crypto.mailbox import Grant, MailboxReceiver, MailboxSender, Prekey
from crypto.mailbox.opening import (
    chain_step,
    open_body,
    opening_body_ad,
    parse_message,
    parse_opening,
    read_opening,
)

NOW = 1_800_000_000
MESSAGES = 6


def secrets_in(value: Any) -> list[bytes]:
    """Every base64 field of the state that decodes to 32 bytes."""
    if isinstance(value, dict):
        return [s for item in value.values() for s in secrets_in(item)]
    if isinstance(value, list):
        return [s for item in value for s in secrets_in(item)]
    if isinstance(value, str):
        try:
            data = base64.b64decode(value, validate=True)
        except ValueError:
            return []
        return [data] if len(data) == 32 else []
    return []


def prekeys_in(state: dict[str, Any]) -> list[tuple[Prekey, bytes]]:
    found = []
    for grant in state["grants"]:
        digest = base64.b64decode(grant["token_hash"])
        for entry in [*grant["one_time"], grant["last_resort"]]:
            found.append((Prekey.from_dict(entry), digest))
    return found


def attack(identity: IdentityKey, state_bytes: bytes, envelopes: list[bytes]) -> set[bytes]:
    """Every plaintext the attacker recovers with what it holds."""
    state = decode_object(state_bytes)
    recovered: set[bytes] = set()
    opening = parse_opening(envelopes[0])
    session_ids = {base64.b64decode(s["id"]) for s in state["sessions"]}
    for prekey, digest in prekeys_in(state):
        try:
            _, session_id, root = read_opening(
                identity.private_key, "bob", prekey, digest, opening.handshake
            )
        except MailboxError:
            continue
        session_ids.add(session_id)
        chain, key = chain_step(root)
        recovered.add(open_body(key, opening_body_ad(opening.header, session_id), opening.body))
        for envelope in envelopes[1:]:
            parsed = parse_message(envelope)
            chain, key = chain_step(chain)
            recovered.add(open_body(key, parsed.header, parsed.body))
    for candidate in [*secrets_in(state), identity.private_bytes()]:
        keys = {candidate}
        chain = candidate
        for _ in range(len(envelopes) + 2):
            chain, key = chain_step(chain)
            keys.update((chain, key))
        for key in keys:
            for envelope in envelopes[1:]:
                parsed = parse_message(envelope)
                with contextlib.suppress(MailboxError):
                    recovered.add(open_body(key, parsed.header, parsed.body))
            for session_id in session_ids:
                try:
                    ad = opening_body_ad(opening.header, session_id)
                    recovered.add(open_body(key, ad, opening.body))
                except MailboxError:
                    pass
    return recovered


def run_session() -> tuple[IdentityKey, bytes, bytes, list[bytes], list[bytes]]:
    alice, bob = IdentityKey.generate(), IdentityKey.generate()
    receiver = MailboxReceiver(bob, "bob")
    grant = receiver.issue_grant("alice", NOW)
    before = receiver.to_bytes()
    sender = MailboxSender(alice, "bob", bob.public_bytes, Grant.from_bytes(grant.to_bytes()))
    texts = [b"secret %d" % i for i in range(MESSAGES)]
    envelopes = [sender.seal(text, NOW) for text in texts]
    assert [receiver.open(e).plaintext for e in envelopes] == texts
    return bob, before, receiver.to_bytes(), envelopes, texts


def test_identity_key_state_and_every_envelope_open_no_earlier_message() -> None:
    bob, _, after, envelopes, texts = run_session()
    assert attack(bob, after, envelopes).isdisjoint(texts)


def test_the_attack_opens_everything_with_the_state_from_before_the_opening() -> None:
    bob, before, _, envelopes, texts = run_session()
    assert attack(bob, before, envelopes) == set(texts)


def test_a_restored_state_opens_nothing_already_opened() -> None:
    bob, _, after, envelopes, _ = run_session()
    restored = MailboxReceiver.from_bytes(after, bob)
    for envelope in envelopes:
        before = restored.to_bytes()
        try:
            restored.open(envelope)
        except MailboxError:
            pass
        else:
            raise AssertionError("a restored state opened an envelope it had opened")
        assert restored.to_bytes() == before


def test_a_last_resort_session_is_exposed_until_the_prekey_is_deleted() -> None:
    """The documented limit: a last-resort prekey is kept (it may open several sessions),
    so what it opened is readable with the state until it expires and is pruned."""
    alice, bob = IdentityKey.generate(), IdentityKey.generate()
    receiver = MailboxReceiver(bob, "bob")
    grant = receiver.issue_grant("alice", NOW, one_time=0)
    sender = MailboxSender(alice, "bob", bob.public_bytes, grant)
    texts = [b"last resort %d" % i for i in range(3)]
    envelopes = [sender.seal(text, NOW) for text in texts]
    assert [receiver.open(e).plaintext for e in envelopes] == texts
    assert attack(bob, receiver.to_bytes(), envelopes) == set(texts)
    receiver.prune(grant.expires)
    assert receiver.token_hashes() == {}
    assert attack(bob, receiver.to_bytes(), envelopes).isdisjoint(texts)
