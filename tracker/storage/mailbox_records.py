"""What the mailbox's storage calls return, for both back ends (issue 22).

Why its own module: :mod:`tracker.storage.base` declares the interface and the SQLite
and PostgreSQL modules both build these; keeping them apart keeps each module to one job.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.state.mailbox import FullLimit

#: Wire bytes a deposit costs in a ``MAILBOX_FETCH`` reply beyond its base64 body and
#: token hash (the keys, the id, the time, punctuation), rounded up.
DEPOSIT_WIRE_OVERHEAD = 96


@dataclass(frozen=True, slots=True)
class Deposited:
    """A deposit's fate: stored (``deposit_id``, the recipient's ``count`` after it),
    ``refused`` (unknown recipient or wrong token, never said which), or ``full``."""

    deposit_id: int | None = None
    count: int = 0
    refused: bool = False
    full: FullLimit | None = None


@dataclass(frozen=True, slots=True)
class DepositRow:
    deposit_id: int
    token_hash: bytes
    body: bytes
    stored_at: float

    @property
    def wire_size(self) -> int:
        return 4 * ((len(self.body) + 2) // 3) + 44 + DEPOSIT_WIRE_OVERHEAD


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """Deposits in id order; ``more``: others follow the last one."""

    rows: tuple[DepositRow, ...]
    more: bool
