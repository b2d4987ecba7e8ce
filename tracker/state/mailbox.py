"""The mailbox's rules (issue 22): who may deposit, how much, how fast. Sans-I/O.

Why here: the tracker keeps sealed envelopes for users who are offline, and every limit
on them is a rule a test should be able to break without a socket or a disk. The
storage back ends run these functions inside the transaction that reads the counts and
writes the row (:mod:`tracker.storage.sqlite_mailbox`, :mod:`tracker.storage.pg_mailbox`),
so a check and its write can never be split by another tracker's deposit.

The rules:

* a deposit is authorised by a delivery token its recipient handed to the sender; the
  tracker stores only SHA-256 of it, owned by one user. An unknown recipient, a token
  nobody owns and a token another user owns are refused alike (:data:`REFUSED`: same
  code, same words), so ``DEPOSIT`` tells nobody who exists or who holds which token;
* per recipient at most ``messages`` deposits and ``bytes`` of bodies, each kept at most
  ``days``; per token at most a quarter (:data:`TOKEN_SHARE`) of the count and of the
  bytes, so one flooding contact fills only its share. A deposit over a limit is
  refused with the limit's name (``mailbox_full``), never dropped silently, and
  nothing older is deleted to make room;
* a user owns at most :data:`MAX_TOKENS_PER_USER` token hashes; a hash another user
  owns is refused without naming the owner;
* deposits are rate-limited per source, per token and in all (:class:`MailboxRates`),
  before any storage work, so a flood costs a bucket lookup per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from commons.token_bucket import TokenBucket
from tracker.limits.keyed_records import KeyedRecords
from tracker.limits.rate_limit import KeyedTokenBuckets

#: Token hashes one user may own.
MAX_TOKENS_PER_USER = 256
#: One token may fill 1/TOKEN_SHARE of its recipient's count and bytes.
TOKEN_SHARE = 4
#: Keys per rate table (sources, token hashes): a spray of fresh keys costs this much.
RATE_TABLE_ENTRIES = 20_000
#: What an unknown recipient and a wrong token both get.
REFUSED = "no mailbox for this recipient and token"


class FullLimit(StrEnum):
    """Which limit a refused deposit met (the ``limit`` field of ``mailbox_full``)."""

    MESSAGES = "messages"
    BYTES = "bytes"
    TOKEN_MESSAGES = "token_messages"  # noqa: S105 (a limit's name, not a secret)
    TOKEN_BYTES = "token_bytes"  # noqa: S105


@dataclass(frozen=True, slots=True)
class MailboxLimits:
    """Per recipient: deposits, bytes of bodies, days kept (``--mailbox-*``)."""

    messages: int = 1000
    bytes: int = 16 * 1024 * 1024
    days: float = 14.0

    @property
    def token_messages(self) -> int:
        return max(1, self.messages // TOKEN_SHARE)

    @property
    def token_bytes(self) -> int:
        return max(1, self.bytes // TOKEN_SHARE)

    @property
    def seconds(self) -> float:
        return self.days * 86400.0

    def wire(self) -> dict[str, int | float]:
        """The ``limits`` object of LOGIN's and RESUME's ``mailbox``."""
        return {"messages": self.messages, "bytes": self.bytes, "days": self.days}


@dataclass(frozen=True, slots=True)
class Usage:
    """Deposits held and the bytes of their bodies (for a recipient, or one token)."""

    count: int = 0
    size: int = 0


def judge_deposit(
    limits: MailboxLimits, recipient: Usage, token: Usage, size: int
) -> FullLimit | None:
    """``None`` if a deposit of ``size`` bytes fits, else the first limit it breaks.

    The token's share is checked first: a contact that fills its share is told so even
    when the mailbox as a whole is full too (it is what that sender can act on).
    """
    if token.count + 1 > limits.token_messages:
        return FullLimit.TOKEN_MESSAGES
    if token.size + size > limits.token_bytes:
        return FullLimit.TOKEN_BYTES
    if recipient.count + 1 > limits.messages:
        return FullLimit.MESSAGES
    if recipient.size + size > limits.bytes:
        return FullLimit.BYTES
    return None


def may_deposit(token_owner: str | None, recipient: str) -> bool:
    """A token authorises deposits only for the user who owns its hash."""
    return token_owner is not None and token_owner == recipient


@dataclass(frozen=True, slots=True)
class TokensVerdict:
    """What ``MAILBOX_TOKENS`` may do: ``taken`` (owned by another user; never who)
    or over quota (``total`` is what the user would own) refuse the whole request."""

    taken: bool
    total: int

    @property
    def over_quota(self) -> bool:
        return self.total > MAX_TOKENS_PER_USER


def judge_tokens(
    username: str,
    owned: set[bytes],
    add: tuple[bytes, ...],
    remove: tuple[bytes, ...],
    owners: dict[bytes, str],
) -> TokensVerdict:
    """``owned``: the user's hashes now; ``owners``: the owner of each hash in ``add``
    that has one. Adding a hash one already owns changes nothing; removing one not owned
    is not an error (the request is idempotent, so a client may repeat it)."""
    taken = any(owner != username for owner in owners.values())
    after = (owned | set(add)) - set(remove)
    return TokensVerdict(taken, len(after))


@dataclass(frozen=True, slots=True)
class MailboxRate:
    burst: float
    per_second: float


@dataclass(frozen=True, slots=True)
class MailboxRateLimits:
    """Deposits per source (IPv4 address or IPv6 /64), per token, and in all."""

    per_source: MailboxRate = MailboxRate(50, 20.0)
    per_token: MailboxRate = MailboxRate(20, 5.0)
    in_all: MailboxRate = MailboxRate(2000, 1000.0)


#: The tracker's default deposit rates.
DEFAULT_MAILBOX_RATES = MailboxRateLimits()


class MailboxRates:
    """Three token buckets a deposit must pass, checked before it costs anything else.

    A deposit takes a token from each only if all three have one (a refused deposit
    spends nothing, so one bucket running dry does not drain the others). Memory: two
    bounded tables of :data:`RATE_TABLE_ENTRIES` keys and one bucket.
    """

    __slots__ = ("_in_all", "_per_source", "_per_token")

    def __init__(self, limits: MailboxRateLimits, now: float) -> None:
        self._per_source = KeyedTokenBuckets(
            KeyedRecords("mailbox_source", RATE_TABLE_ENTRIES),
            limits.per_source.burst,
            limits.per_source.per_second,
        )
        self._per_token = KeyedTokenBuckets(
            KeyedRecords("mailbox_token", RATE_TABLE_ENTRIES),
            limits.per_token.burst,
            limits.per_token.per_second,
        )
        self._in_all = TokenBucket(limits.in_all.burst, limits.in_all.per_second, now)

    def take(self, source: str | None, token_key: str, now: float) -> float:
        """0 and one token taken from each bucket, or the wait and nothing taken.

        ``source`` is ``None`` for a trusted network (only the other two apply).
        """
        waits = [
            self._per_token.wait(token_key, now),
            self._in_all.wait(now),
        ]
        if source is not None:
            waits.append(self._per_source.wait(source, now))
        wait = max(waits)
        if wait > 0:
            return wait
        self._per_token.take(token_key, now)
        self._in_all.take(now)
        if source is not None:
            self._per_source.take(source, now)
        return 0.0

    @property
    def keys_held(self) -> int:
        """Keys in the per-source and per-token tables (bounded; for tests and logs)."""
        return len(self._per_source.records) + len(self._per_token.records)
