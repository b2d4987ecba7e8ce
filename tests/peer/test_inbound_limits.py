"""Handshake slots per source and in all (the P2P listener's admission), without sockets."""

from __future__ import annotations

from peer.channels.inbound_limits import HandshakeSlots


def test_one_source_gets_its_share_and_no_more() -> None:
    slots = HandshakeSlots(total=64, per_source=8)
    decisions = [slots.admit("192.0.2.1", token) for token in range(12)]
    assert [d.admitted for d in decisions] == [True] * 8 + [False] * 4
    assert "one source" in decisions[-1].reason
    assert slots.admit("192.0.2.2", 100).admitted  # another source is not affected
    slots.release("192.0.2.1", 0)
    assert slots.admit("192.0.2.1", 12).admitted


def test_when_all_slots_are_taken_the_busiest_source_gives_one_up() -> None:
    slots = HandshakeSlots(total=8, per_source=4)
    for token in range(4):
        assert slots.admit("a", token).admitted
    for token in range(4, 8):
        assert slots.admit("b", token).admitted
    newcomer = slots.admit("c", 8)
    assert newcomer.admitted and newcomer.evict == 0  # a's oldest
    assert len(slots) == 8 and slots.held_by("a") == 3
    second = slots.admit("c", 9)
    assert second.admitted and second.evict == 4  # now b is the busiest
    # c holds 2, a and b hold 3: taking a third would only move the problem to c.
    third = slots.admit("c", 10)
    assert not third.admitted and "in progress" in third.reason
    assert len(slots) == 8


def test_release_is_idempotent_and_evicted_tokens_are_gone() -> None:
    slots = HandshakeSlots(total=2, per_source=2)
    assert slots.admit("a", 1).admitted and slots.admit("a", 2).admitted
    assert slots.admit("b", 3).evict == 1
    slots.release("a", 1)  # the evicted handshake ends later: nothing to release
    slots.release("b", 3)
    slots.release("b", 3)
    slots.release("a", 2)
    assert len(slots) == 0
