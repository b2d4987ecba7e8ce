"""Handshake slots per source and in all (the P2P listener's admission), without sockets."""

from __future__ import annotations

from peer.channels.inbound_limits import HandshakeSlots, StartBudget, StartRates


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


def test_strangers_cannot_take_the_slots_kept_for_users_we_know() -> None:
    slots = HandshakeSlots(total=8, per_source=2, reserve=2)
    for n in range(8):
        slots.admit(f"sybil{n}", n)
    assert len(slots) == slots.held_by_strangers == 6
    assert not slots.admit("dave", 100).admitted  # a stranger: the rest is reserved
    assert slots.admit("carol", 101, known=True).admitted
    assert slots.admit("erin", 102, known=True).admitted
    # Full: a known newcomer takes a stranger's slot (the busiest stranger's oldest)...
    decision = slots.admit("frank", 103, known=True)
    assert decision.admitted and decision.evict == 0
    assert slots.held_by("sybil0") == 0 and len(slots) == 8
    # ... and a stranger never takes a known user's.
    assert not slots.admit("dave", 104).admitted


def test_a_stranger_takes_the_place_of_a_greedy_strangers_handshake_not_a_known_ones() -> None:
    slots = HandshakeSlots(total=6, per_source=2, reserve=2)
    for token, source in enumerate(["a", "a", "b", "b"]):
        assert slots.admit(source, token).admitted
    assert slots.admit("carol", 10, known=True).admitted
    assert slots.admit("carol", 11, known=True).admitted  # carol holds 2, known
    newcomer = slots.admit("c", 12)
    assert newcomer.admitted and newcomer.evict == 0  # a's oldest, never carol's
    assert slots.held_by("carol") == 2


def test_start_budget_per_user_and_in_all_and_ends_for_refusals() -> None:
    budget = StartBudget(StartRates(per_user=(2, 1), strangers=(3, 1), refusal_ends=(2, 1)), 0.0)
    for _ in range(2):
        assert budget.allows("mallory", known=False, now=0.0) is None
        budget.take("mallory", known=False, now=0.0)
    assert "one user" in (budget.allows("mallory", known=False, now=0.0) or "")
    budget.take("sybil", known=False, now=0.0)
    assert "lately" in (budget.allows("dave", known=False, now=0.0) or "")  # 3 in all
    assert budget.allows("carol", known=True, now=0.0) is None  # known users apart
    assert budget.allows("dave", known=False, now=1.0) is None  # one a second
    assert [budget.refusal_end(0.0) for _ in range(3)] == [True, True, False]
    assert budget.refusal_end(1.0)


def test_start_budget_forgets_users_whose_bucket_is_full_again() -> None:
    budget = StartBudget(StartRates(per_user=(1, 1), strangers=(100, 100), max_users=2), 0.0)
    for user in ("a", "b"):
        budget.take(user, known=False, now=0.0)
    assert budget.allows("c", known=False, now=0.0) is not None  # no room to remember c
    assert budget.allows("c", known=False, now=1.0) is None  # a and b are forgotten
