"""The rules of RESUME that every store applies (:func:`tracker.storage.base.judge_ticket`)."""

from __future__ import annotations

from tracker.storage.base import Redeemed, TicketCleanup, judge_ticket

KEY, OTHER = "k" * 44, "o" * 44


def test_each_way_a_ticket_is_refused_and_what_goes_with_it() -> None:
    assert judge_ticket(None, "alice", KEY, 10.0) == (Redeemed.INVALID, TicketCleanup.NOTHING)
    row = ("alice", KEY, 20.0, None)
    assert judge_ticket(row, "bob", KEY, 10.0) == (Redeemed.INVALID, TicketCleanup.NOTHING)
    assert judge_ticket(row, "alice", OTHER, 10.0) == (Redeemed.INVALID, TicketCleanup.NOTHING)
    expired = judge_ticket(row, "alice", KEY, 20.0)
    assert expired == (Redeemed.INVALID, TicketCleanup.THIS_TICKET)
    spent = judge_ticket(("alice", KEY, 20.0, 5.0), "alice", KEY, 10.0)
    assert spent == (Redeemed.REUSED, TicketCleanup.ALL_OF_USER)
    assert judge_ticket(row, "alice", KEY, 10.0) == (Redeemed.OK, TicketCleanup.NOTHING)
