"""Delivery receipts of our own messages as the chat shows them, sans-I/O.

Each own line carries its ``msg_id``; :class:`ReceiptBook` follows the client's
``MessageDelivered``/``MessageFailed`` events for it and gives the line its mark:

* ``…`` while nobody has acknowledged it yet;
* ``✓2/3`` when two of three recipients have it;
* ``✓`` when every recipient has it;
* ``✗1`` (in red) when it failed for one recipient; ``/receipts`` names who did not get
  it and why.

A receipt may beat the line it is for (the send call returns after the write), so
receipts for an id not seen yet are kept too. The book is bounded: the oldest entries
go first, as old lines leave the scrollback.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum

from peer.tui.model.buffers import BufferId

MAX_RECEIPTS = 5000


class MarkKind(Enum):
    PENDING = "pending"
    PARTIAL = "partial"
    DONE = "done"
    FAILED = "failed"


@dataclass(slots=True)
class Receipt:
    buffer: BufferId | None = None
    text: str = ""
    recipients: tuple[str, ...] = ()
    delivered: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)

    def mark(self) -> tuple[str, MarkKind] | None:
        """The mark after the line, or ``None`` when there was nobody to send to."""
        total = len(self.recipients)
        if not total:
            return None
        if self.failed:
            return f"\u2717{len(self.failed)}", MarkKind.FAILED
        got = len(self.delivered & set(self.recipients))
        if got == total:
            return "\u2713", MarkKind.DONE
        if got == 0:
            return "\u2026", MarkKind.PENDING
        return f"\u2713{got}/{total}", MarkKind.PARTIAL

    def describe(self) -> str:
        """Who got it and who did not (with why), for ``/receipts``."""
        waiting = [u for u in self.recipients if u not in self.delivered and u not in self.failed]
        parts = []
        if self.delivered:
            parts.append("delivered to " + ", ".join(sorted(self.delivered)))
        if self.failed:
            parts.append(
                "NOT delivered to "
                + ", ".join(f"{u} ({r.replace('_', ' ')})" for u, r in sorted(self.failed.items()))
            )
        if waiting:
            parts.append("waiting for " + ", ".join(waiting))
        return "; ".join(parts) if parts else "nobody else was there"


class ReceiptBook:
    def __init__(self, limit: int = MAX_RECEIPTS) -> None:
        self._limit = limit
        self._receipts: OrderedDict[str, Receipt] = OrderedDict()

    def _get(self, msg_id: str) -> Receipt:
        receipt = self._receipts.get(msg_id)
        if receipt is None:
            receipt = self._receipts[msg_id] = Receipt()
            while len(self._receipts) > self._limit:
                self._receipts.popitem(last=False)
        return receipt

    def sent(self, msg_id: str, buffer: BufferId, text: str, recipients: tuple[str, ...]) -> None:
        receipt = self._get(msg_id)
        receipt.buffer, receipt.text, receipt.recipients = buffer, text, recipients

    def delivered(self, msg_id: str, user: str) -> BufferId | None:
        """Record a receipt; the buffer whose line changed (``None`` if not shown yet)."""
        receipt = self._get(msg_id)
        receipt.delivered.add(user)
        return receipt.buffer

    def failed(self, msg_id: str, user: str, reason: str) -> BufferId | None:
        receipt = self._get(msg_id)
        receipt.failed[user] = reason
        return receipt.buffer

    def get(self, msg_id: str | None) -> Receipt | None:
        return None if msg_id is None else self._receipts.get(msg_id)

    def latest(self, buffer: BufferId, count: int) -> list[Receipt]:
        """The last ``count`` receipts of own lines in ``buffer``, oldest first."""
        found = [r for r in reversed(self._receipts.values()) if r.buffer == buffer]
        return list(reversed(found[:count]))
