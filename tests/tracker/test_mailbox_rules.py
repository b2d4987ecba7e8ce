"""The mailbox's rules without a socket or a disk (issue 22): quotas, token shares,
refusals that say nothing, token ownership, rates, and the fields of its frames."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from commons.codec import encode_message
from commons.errors import ValidationError
from commons.framing import DEFAULT_MAX_FRAME_SIZE
from commons.mailbox_fields import MAX_DEPOSIT_BODY
from commons.tracker_protocol import Command, ok, parse_request
from tracker.server.mailbox_commands import body_limit
from tracker.state.mailbox import (
    MAX_TOKENS_PER_USER,
    FullLimit,
    MailboxLimits,
    MailboxRate,
    MailboxRateLimits,
    MailboxRates,
    Usage,
    judge_deposit,
    judge_tokens,
    may_deposit,
)
from tracker.storage.mailbox_records import DepositRow

LIMITS = MailboxLimits(messages=8, bytes=800, days=1)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_deposit_fits_until_the_token_share_then_the_mailbox_is_full():
    assert LIMITS.token_messages == 2 and LIMITS.token_bytes == 200
    assert judge_deposit(LIMITS, Usage(0, 0), Usage(0, 0), 100) is None
    assert judge_deposit(LIMITS, Usage(2, 20), Usage(2, 20), 10) is FullLimit.TOKEN_MESSAGES
    assert judge_deposit(LIMITS, Usage(1, 150), Usage(1, 150), 51) is FullLimit.TOKEN_BYTES
    assert judge_deposit(LIMITS, Usage(8, 80), Usage(0, 0), 10) is FullLimit.MESSAGES
    assert judge_deposit(LIMITS, Usage(7, 750), Usage(0, 0), 51) is FullLimit.BYTES
    assert judge_deposit(LIMITS, Usage(7, 750), Usage(0, 0), 50) is None


def test_four_flooding_tokens_fill_the_mailbox_and_a_fifth_contact_is_told():
    """A flooder's own share runs out first; only four full shares fill the mailbox."""
    recipient = Usage()
    tokens = [Usage() for _ in range(5)]
    stored = [0] * 5
    for _ in range(10):
        for i in range(4):
            if judge_deposit(LIMITS, recipient, tokens[i], 10) is None:
                recipient = Usage(recipient.count + 1, recipient.size + 10)
                tokens[i] = Usage(tokens[i].count + 1, tokens[i].size + 10)
                stored[i] += 1
    assert stored[:4] == [2, 2, 2, 2]
    assert judge_deposit(LIMITS, recipient, tokens[4], 10) is FullLimit.MESSAGES


def test_unknown_recipient_and_wrong_token_are_the_same_refusal():
    assert may_deposit("bob", "bob")
    assert not may_deposit(None, "bob")  # nobody owns the token (or bob does not exist)
    assert not may_deposit("carol", "bob")  # the token is carol's
    assert not may_deposit("Bob", "bob")  # names are compared exactly


def test_token_ownership_and_quota():
    a, b, c = (os.urandom(32) for _ in range(3))
    assert judge_tokens("bob", set(), (a, b), (), {}).total == 2
    taken = judge_tokens("bob", set(), (a,), (), {a: "carol"})
    assert taken.taken and "carol" not in repr(taken)
    again = judge_tokens("bob", {a}, (a,), (), {a: "bob"})
    assert not again.taken and again.total == 1
    assert judge_tokens("bob", {a, b}, (c,), (a,), {}).total == 2
    many = {os.urandom(32) for _ in range(MAX_TOKENS_PER_USER)}
    assert judge_tokens("bob", many, (a,), (), {}).over_quota
    assert not judge_tokens("bob", many, (a,), (next(iter(many)),), {}).over_quota


def test_rates_per_token_per_source_and_in_all_take_nothing_when_refused():
    limits = MailboxRateLimits(
        per_source=MailboxRate(3, 1.0), per_token=MailboxRate(2, 1.0), in_all=MailboxRate(5, 1.0)
    )
    rates = MailboxRates(limits, now=0.0)
    assert rates.take("s1", "t1", 0.0) == 0 and rates.take("s1", "t1", 0.0) == 0
    assert rates.take("s1", "t1", 0.0) == pytest.approx(1.0)  # the token's bucket is dry
    assert rates.take("s1", "t2", 0.0) == 0
    assert rates.take("s1", "t3", 0.0) > 0  # the source's bucket is dry
    assert rates.take("s2", "t3", 0.0) == 0
    assert rates.take("s2", "t4", 0.0) == 0
    assert rates.take(None, "t5", 0.0) > 0  # in all: 5 taken, trusted or not
    assert rates.take(None, "t5", 1.0) == 0


def test_a_burst_of_fresh_keys_keeps_the_rate_tables_bounded():
    rates = MailboxRates(MailboxRateLimits(in_all=MailboxRate(10**9, 10**9)), now=0.0)
    for i in range(50_000):
        rates.take(f"source-{i}", f"token-{i}", 0.0)
    assert rates.keys_held <= 2 * 20_000


def _deposit(**fields):
    return parse_request({"cmd": "DEPOSIT", "id": 1, **fields})


def test_deposit_fields_are_validated_one_by_one():
    token = os.urandom(32)
    request = _deposit(to="bob", token=b64(token), body=b64(b"sealed"))
    assert request.cmd is Command.DEPOSIT and request.target == "bob"
    assert request.token == token and request.body == b"sealed"
    bad = [
        {"to": "bob", "token": b64(os.urandom(31)), "body": "AA=="},
        {"to": "bob", "token": b64(token) + "\n", "body": "AA=="},
        {"to": "bob", "token": b64(token), "body": ""},
        {"to": "bob", "token": b64(token), "body": "AAA"},  # unpadded
        {"to": "bob", "token": b64(token), "body": b64(b"x" * (MAX_DEPOSIT_BODY + 1))},
        {"to": "", "token": b64(token), "body": "AA=="},
        {"token": b64(token), "body": "AA=="},
        {"to": "bob", "token": 5, "body": "AA=="},
    ]
    for fields in bad:
        with pytest.raises(ValidationError):
            _deposit(**fields)


def test_tokens_fetch_and_ack_fields():
    a = os.urandom(32)
    request = parse_request({"cmd": "MAILBOX_TOKENS", "id": 1, "add": [b64(a)]})
    assert request.token_add == (a,) and request.token_remove == ()
    for fields in (
        {"add": [b64(a), b64(a)]},
        {"add": [b64(a)], "remove": [b64(a)]},
        {"add": [b64(os.urandom(32)) for _ in range(257)]},
        {"add": b64(a)},
    ):
        with pytest.raises(ValidationError):
            parse_request({"cmd": "MAILBOX_TOKENS", "id": 1, **fields})
    assert parse_request({"cmd": "MAILBOX_FETCH", "id": 1}).after is None
    for fields in ({"after": -1}, {"after": True}, {"limit": 0}, {"limit": 1001}):
        with pytest.raises(ValidationError):
            parse_request({"cmd": "MAILBOX_FETCH", "id": 1, **fields})
    with pytest.raises(ValidationError):
        parse_request({"cmd": "MAILBOX_ACK", "id": 1})
    assert parse_request({"cmd": "MAILBOX_ACK", "id": 1, "up_to": 7}).up_to == 7


def test_the_largest_deposit_fits_a_frame_both_ways():
    """A DEPOSIT of the largest body, and a fetch reply holding it, fit 64 KiB."""
    assert body_limit(DEFAULT_MAX_FRAME_SIZE) == MAX_DEPOSIT_BODY == 48_128
    body = os.urandom(MAX_DEPOSIT_BODY)
    deposit = {
        "cmd": "DEPOSIT",
        "id": "x" * 64,
        "to": "u" * 32,
        "token": b64(os.urandom(32)),
        "body": b64(body),
    }
    encode_message(deposit, DEFAULT_MAX_FRAME_SIZE)
    row = DepositRow(2**63 - 1, hashlib.sha256(b"t").digest(), body, 1.0e10 + 0.123456789)
    reply = ok(
        "x" * 64,
        deposits=[
            {
                "id": row.deposit_id,
                "token_hash": b64(row.token_hash),
                "body": b64(body),
                "stored_at": row.stored_at,
            }
        ],
        next=2**63 - 1,
    )
    assert len(encode_message(reply, DEFAULT_MAX_FRAME_SIZE)) <= DEFAULT_MAX_FRAME_SIZE
    assert len(encode_message(reply, 2 * DEFAULT_MAX_FRAME_SIZE)) - 4 <= row.wire_size + 256
