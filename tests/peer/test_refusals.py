"""Refused inbound channels: the first one said in full, the rest summarised per interval."""

from __future__ import annotations

from peer import events as ev
from peer.core.refusals import ANY_NAME, RefusalDigest


def test_6510_claims_give_one_error_and_one_summary() -> None:
    digest = RefusalDigest(interval=60.0)
    told: list[ev.ClientEvent] = []
    for attempt in range(6510):
        told += digest.refused("alice", "key_mismatch", f"refused #{attempt}", attempt / 1000)
    assert told == [ev.ErrorEvent("key_mismatch", "refused #0")]
    assert digest.next_due() == 60.0
    assert digest.due(59.0) == []
    assert digest.due(60.0) == [ev.ChannelsRefused("alice", "key_mismatch", 6509, 60.0)]
    assert digest.next_due() is None
    # The next interval starts afresh, with the details again.
    assert digest.refused("alice", "key_mismatch", "again", 61.0) == [
        ev.ErrorEvent("key_mismatch", "again")
    ]


def test_a_lone_refusal_needs_no_summary() -> None:
    digest = RefusalDigest(interval=60.0)
    assert len(digest.refused("bob", "key_changed", "x", 0.0)) == 1
    assert digest.next_due() is None and digest.due(100.0) == []


def test_a_flood_of_names_is_counted_under_one() -> None:
    digest = RefusalDigest(interval=60.0, max_kinds=4)
    told = [e for i in range(1000) for e in digest.refused(f"n{i}", "key_mismatch", "m", 0.0)]
    assert len(told) == 5  # four names, then "any name" once
    summary = digest.due(60.0)
    assert summary == [ev.ChannelsRefused(ANY_NAME, "key_mismatch", 995, 60.0)]
