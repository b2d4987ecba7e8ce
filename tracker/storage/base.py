"""What the tracker keeps across restarts, behind one interface with two back ends.

:class:`Storage` is everything durable: accounts, rooms with their ban and invite
lists, registration invites, throttle tables, resumption tickets, and the group's
settings (the secret behind fake login salts, the realm). Two implementations:

* :class:`tracker.storage.sqlite.SqliteStorage`: one file in the data directory, the
  embedded default (WAL, ``synchronous=FULL``, one thread);
* :class:`tracker.storage.postgres.PgStorage` (``--database postgresql://...``): a
  connection pool to PostgreSQL, which several trackers share
  (:mod:`tracker.group.coordinator` coordinates their live state).

The mailbox (issue 22) keeps token hashes and sealed deposits; its rules are
:mod:`tracker.state.mailbox`'s, applied inside the transaction that writes.

Every write that a reply acknowledges is committed durably before the reply.
:func:`tracker.storage.open.open_storage` picks the back end.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from crypto.login_secret import LoginKdf
from tracker.limits.keyed_records import Pending, Record, RecordRule
from tracker.state.mailbox import MailboxLimits, TokensVerdict
from tracker.state.room_changes import StoreAction
from tracker.storage.mailbox_records import Deposited, FetchedPage

#: Used tickets kept per user (to recognise a replay) beyond the live one.
USED_TICKETS_KEPT = 8


@dataclass(frozen=True, slots=True)
class UserRecord:
    """An account. ``salt`` is ``None`` for an account still in the legacy scheme
    (its verifier is Argon2id of SHA-256 of the password)."""

    username: str
    password_hash: str
    identity_key: str
    created: float
    salt: bytes | None = None
    login_kdf: LoginKdf | None = None


def user_from_row(row: Sequence[Any]) -> UserRecord:
    """A :class:`UserRecord` from a ``users`` row selected (by either back end) as
    ``username, password, identity_key, created, salt, login_kdf``."""
    name, password_hash, identity_key, created, salt, login_kdf = row
    return UserRecord(
        name,
        password_hash,
        identity_key,
        created,
        None if salt is None else bytes(salt),
        None if login_kdf is None else LoginKdf.decode(login_kdf),
    )


class AddResult(Enum):
    ADDED = "added"
    TAKEN = "taken"
    INVITE_INVALID = "invite_invalid"


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """A stored room; ``last_active``: when a member was last online (its creation if never
    stamped); ``newcomer``: created by an account without standing; ``members``: in join
    order, each (name, entered relay-only, a number ordering the user's joins)."""

    name: str
    owner: str
    created: float
    invite_only: bool = False
    banned: tuple[str, ...] = ()
    invited: tuple[str, ...] = ()
    newcomer: bool = False
    last_active: float = 0.0
    members: tuple[tuple[str, bool, float], ...] = ()


@dataclass(frozen=True, slots=True)
class InviteRecord:
    """What the store knows about a registration invite: never the code itself."""

    code_hash: str
    created: float
    expires: float | None
    used_by: str | None
    used_at: float | None

    def usable(self, now: float) -> bool:
        return self.used_by is None and (self.expires is None or self.expires > now)


class Redeemed(Enum):
    """What presenting a resumption ticket found."""

    OK = "ok"
    #: Unknown, expired, revoked, or for another user or key.
    INVALID = "invalid"
    #: Already used once: stolen or replayed. Every ticket of the user is now revoked.
    REUSED = "reused"


class TicketCleanup(Enum):
    """What a store deletes along with its answer to a presented ticket."""

    NOTHING = "nothing"
    #: The ticket presented (it expired).
    THIS_TICKET = "this"
    #: Every ticket of its user (a spent one came back).
    ALL_OF_USER = "all"


def judge_ticket(
    row: tuple[str, str, float, float | None] | None, username: str, identity_key: str, now: float
) -> tuple[Redeemed, TicketCleanup]:
    """The rules of ``RESUME``, for every store: ``row`` is the presented ticket's
    ``(username, identity_key, expires, used)`` (``None``: unknown). On ``OK`` the store
    marks it used and issues the next one for the same user and key."""
    if row is None:
        return Redeemed.INVALID, TicketCleanup.NOTHING
    owner, bound_key, expires, used = row
    if owner != username:
        return Redeemed.INVALID, TicketCleanup.NOTHING
    if expires <= now:
        return Redeemed.INVALID, TicketCleanup.THIS_TICKET
    if used is not None:
        return Redeemed.REUSED, TicketCleanup.ALL_OF_USER
    if not hmac.compare_digest(bound_key, identity_key):
        return Redeemed.INVALID, TicketCleanup.NOTHING
    return Redeemed.OK, TicketCleanup.NOTHING


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """Shared by every tracker on one database."""

    #: Key of the HMAC that makes fake (and new accounts') login salts.
    salt_secret: bytes
    #: The group's name, mixed into every login secret.
    realm: str


ThrottleRow = tuple[str, str, float, float]


@dataclass(frozen=True, slots=True)
class ThrottleChange:
    """One key of a throttle table that changed since the last save.

    A store used by one tracker writes ``record`` (``None``: delete the row). A shared
    store applies ``pending`` to its row with ``rule``, so that every tracker's events
    add up (:mod:`tracker.storage.throttle_store`).
    """

    kind: str
    key: str
    record: Record | None
    pending: Pending
    rule: RecordRule


@dataclass(frozen=True, slots=True)
class SavedThrottles:
    """The rows to adopt after a save, and the store's clock when it was made."""

    rows: list[ThrottleRow]
    clock: float


class Storage(Protocol):
    """The durable state; every method may raise on a storage failure."""

    #: ``"sqlite"`` or ``"postgresql"``.
    kind: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def settings(self, default_realm: str) -> GroupSettings:
        """The group settings, created (with ``default_realm``) by the first tracker."""
        ...

    # accounts
    async def get_user(self, username: str) -> UserRecord | None: ...
    async def add_user(
        self,
        username: str,
        password_hash: str,
        identity_key: str,
        salt: bytes | None,
        login_kdf: LoginKdf | None,
        invite: str | None = None,
    ) -> AddResult: ...
    async def set_password(
        self, username: str, password_hash: str, salt: bytes | None, login_kdf: LoginKdf | None
    ) -> None:
        """Replace the verifier (a rehash or the upgrade from the legacy scheme)."""
        ...

    async def set_identity_key(self, username: str, identity_key: str) -> None:
        """Bind a new key; revokes every resumption ticket of the user in the same write."""
        ...

    async def count_users(self) -> int: ...

    # rooms
    async def all_rooms(self) -> list[RoomRecord]: ...
    async def apply_room_changes(self, actions: Sequence[StoreAction]) -> None:
        """One command's changes, in one transaction."""
        ...

    async def request_room_removal(self, name: str) -> bool:
        """Ask the tracker(s) to delete room ``name`` (the operator's ``room delete``);
        ``False`` if there is no such room. The tracker's upkeep carries it out."""
        ...

    async def room_removals(self) -> list[str]:
        """Rooms the operator asked to delete, not carried out yet."""
        ...

    async def clear_room_removals(self, names: Sequence[str]) -> None:
        """The removals of ``names`` were carried out."""
        ...

    # registration invites
    async def invite_usable(self, code: str, now: float) -> bool: ...
    async def create_invites(self, count: int, expires: float | None) -> list[str]: ...
    async def list_invites(self) -> list[InviteRecord]: ...
    async def revoke_invite(self, code: str) -> bool: ...

    # throttles
    async def load_throttles(self) -> list[ThrottleRow]: ...
    async def save_throttles(
        self, changes: Sequence[ThrottleChange], since: float
    ) -> SavedThrottles:
        """Write ``changes``; return the shared rows changed after ``since`` (store clock).

        One tracker alone gets no rows back: its tables are already the truth.
        """
        ...

    # resumption tickets: each user has at most one live (unused, unexpired) ticket
    async def issue_ticket(
        self, ticket_hash: str, username: str, identity_key: str, expires: float
    ) -> None:
        """Store a password login's ticket and revoke the user's live ones, in one write
        (spent ones stay, to recognise a replay)."""
        ...

    async def redeem_ticket(
        self,
        ticket_hash: str,
        username: str,
        identity_key: str,
        next_hash: str,
        next_expires: float,
        now: float,
    ) -> Redeemed:
        """Use a ticket once: on ``OK`` it is spent and ``next_hash`` issued in its place,
        as the user's only live ticket."""
        ...

    async def revoke_tickets(self, username: str) -> None: ...

    # the mailbox (issue 22): every write is committed before the call returns
    async def mailbox_tokens(
        self, username: str, add: tuple[bytes, ...], remove: tuple[bytes, ...], now: float
    ) -> TokensVerdict:
        """Own ``add`` and give up ``remove``, all or nothing (see the verdict)."""
        ...

    async def mailbox_deposit(
        self, recipient: str, token_hash: bytes, body: bytes, now: float, limits: MailboxLimits
    ) -> Deposited:
        """Check the token and the limits and store the deposit, in one transaction."""
        ...

    async def mailbox_fetch(
        self, recipient: str, after: int, limit: int, budget: int
    ) -> FetchedPage: ...
    async def mailbox_ack(self, recipient: str, up_to: int) -> int:
        """Delete ``recipient``'s deposits with ids up to ``up_to``; how many."""
        ...

    async def mailbox_count(self, recipient: str) -> int: ...
    async def mailbox_expire(self, cutoff: float) -> int:
        """Delete every deposit stored before ``cutoff``; how many."""
        ...
