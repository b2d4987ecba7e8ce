"""The relay's rules in the sans-I/O core: forward, refuse, shape, cap pairs, clean up.

Every test is plain function calls on :class:`TrackerState`; the clock is passed in.
"""

from __future__ import annotations

import base64

import pytest

from commons.relay_frames import RelayFrame, parse_relay, relay_request
from commons.tracker_protocol import Command, Request
from tracker.state.relay_budget import RelayLimits
from tracker.state.tracker_state import Forward, Outcome, StateLimits, TrackerState

KEY = base64.b64encode(b"k" * 32).decode()
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
BODY = b"\x01" * 200


def make_state(**relay: float | bool) -> TrackerState:
    limits = StateLimits(relay=RelayLimits(**relay))  # type: ignore[arg-type]
    s = TrackerState(3, 1.0, 65536, limits=limits)
    for session, name in enumerate(["alice", "bob", "carol", "dave"], start=1):
        request = Request(
            1, Command.LOGIN, username=name, password="0" * 64, identity_key=KEY, port=4000
        )
        s.login(session, request, "127.0.0.1", now=0.0)
    return s


def frame(to: str, link: int = 1, back: bool = False, body: bytes | None = BODY) -> RelayFrame:
    return parse_relay(relay_request(to, link, back, body))


def ends(outcome: Outcome) -> list[tuple[tuple[int, ...], dict[str, object]]]:
    return [(targets, msg) for targets, msg in outcome.pushes if msg["event"] == "RELAY_END"]


def test_a_frame_is_forwarded_as_an_outcome_naming_the_target_session() -> None:
    state = make_state()
    outcome = state.relay(ALICE, frame("bob", link=7), now=1.0)
    assert outcome.reply is None and outcome.pushes == [] and outcome.wait == 0
    forward = outcome.forward
    assert isinstance(forward, Forward)
    assert (forward.sender, forward.target) == (ALICE, BOB)
    assert forward.message == {
        "event": "RELAY",
        "from": "alice",
        "link": 7,
        "back": False,
        "data": base64.b64encode(BODY).decode(),
    }
    assert (state.relay_stats.frames, state.relay_stats.bytes) == (1, len(BODY))


@pytest.mark.parametrize(
    ("to", "code"),
    [("nobody", "user_offline"), ("alice", "user_offline")],
)
def test_a_frame_to_someone_offline_or_to_oneself_ends_the_link(to: str, code: str) -> None:
    state = make_state()
    outcome = state.relay(ALICE, frame(to, link=3, back=False), now=1.0)
    assert outcome.forward is None
    [(targets, notice)] = ends(outcome)
    assert targets == (ALICE,)
    # As the sender sees it: the link is one it opened (back true in a push).
    assert (notice["user"], notice["link"], notice["back"], notice["code"]) == (to, 3, True, code)


def test_a_tracker_without_relay_refuses_every_frame() -> None:
    state = make_state(enabled=False)
    outcome = state.relay(ALICE, frame("bob"), now=1.0)
    assert outcome.forward is None
    assert ends(outcome)[0][1]["code"] == "relay_disabled"


def test_a_session_not_logged_in_gets_an_error() -> None:
    outcome = make_state().relay(99, frame("bob"), now=1.0)
    assert outcome.reply is not None and outcome.reply["code"] == "not_authenticated"
    assert outcome.forward is None


def test_over_the_frame_budget_the_sender_is_held_not_dropped() -> None:
    state = make_state(frames_per_second=10.0, burst_frames=3.0)
    for _ in range(3):
        assert state.relay(ALICE, frame("bob"), now=1.0).forward is not None
    held = state.relay(ALICE, frame("bob"), now=1.0)
    assert held.forward is None and held.pushes == [] and held.wait == pytest.approx(0.1)
    assert state.relay_stats.shaped == 1
    # The same frame, handed in again after the wait, goes.
    assert state.relay(ALICE, frame("bob"), now=1.0 + held.wait).forward is not None
    # Another session's budget is its own.
    assert state.relay(CAROL, frame("bob"), now=1.0).forward is not None


def test_over_the_byte_budget_the_wait_covers_the_missing_bytes() -> None:
    state = make_state(bytes_per_second=100_000.0, burst_bytes=45_000.0)
    big = b"x" * 40_000
    assert state.relay(ALICE, frame("bob", body=big), now=0.0).forward is not None
    held = state.relay(ALICE, frame("bob", body=big), now=0.0)
    assert held.forward is None
    assert held.wait == pytest.approx((40_000 - 5_000) / 100_000)


def test_frames_to_nobody_cost_the_same_budget() -> None:
    """A stream of refused frames is charged too: refusing is not free for the tracker."""
    state = make_state(frames_per_second=1.0, burst_frames=2.0)
    state.relay(ALICE, frame("nobody"), now=0.0)
    state.relay(ALICE, frame("nobody"), now=0.0)
    assert state.relay(ALICE, frame("bob"), now=0.0).wait > 0


def test_pairs_are_capped_and_an_idle_one_gives_way() -> None:
    state = make_state(max_pairs=2, pair_idle=30.0)
    assert state.relay(ALICE, frame("bob"), now=0.0).forward is not None
    assert state.relay(ALICE, frame("carol"), now=10.0).forward is not None
    refused = state.relay(ALICE, frame("dave"), now=20.0)
    assert refused.forward is None
    assert ends(refused)[0][1]["code"] == "relay_pairs_full"
    # An existing pair keeps working when the cap is reached.
    assert state.relay(ALICE, frame("carol"), now=20.0).forward is not None
    # bob's pair has been unused for 30 s: dave takes its place, carol keeps hers.
    assert state.relay(ALICE, frame("dave"), now=31.0).forward is not None
    assert state.relay(ALICE, frame("carol"), now=32.0).forward is not None
    assert state.relay_pairs() == 2


def test_an_end_is_forwarded_only_between_users_who_relay_to_each_other() -> None:
    state = make_state()
    stray = state.relay(ALICE, frame("bob", link=5, body=None), now=0.0)
    assert stray.pushes == [] and stray.forward is None  # no pair: nothing to end
    state.relay(BOB, frame("alice", link=5, back=True), now=0.0)  # bob answers alice's link
    outcome = state.relay(ALICE, frame("bob", link=5, body=None), now=1.0)
    [(targets, notice)] = ends(outcome)
    assert targets == (BOB,)
    assert (notice["user"], notice["link"], notice["back"], notice["code"]) == (
        "alice",
        5,
        False,
        "closed",
    )


def test_a_session_that_ends_ends_every_link_with_it_at_once() -> None:
    state = make_state()
    state.relay(ALICE, frame("bob"), now=0.0)
    state.relay(CAROL, frame("alice"), now=0.0)
    outcome = state.disconnect(ALICE)
    notices = {targets: msg for targets, msg in ends(outcome)}
    assert set(notices) == {(BOB,), (CAROL,)}
    for notice in notices.values():
        assert (notice["user"], notice["link"], notice["code"]) == ("alice", None, "user_offline")
    assert state.relay_pairs() == 0  # carol's pair to alice is gone too


def test_a_dropped_frame_breaks_the_link_for_both_ends() -> None:
    state = make_state()
    forward = state.relay(ALICE, frame("bob", link=9), now=0.0).forward
    assert forward is not None
    outcome = state.relay_dropped(forward)
    notices = {targets: msg for targets, msg in ends(outcome)}
    assert notices[(ALICE,)]["back"] is True and notices[(BOB,)]["back"] is False
    assert {n["code"] for n in notices.values()} == {"receiver_slow"}
    assert "bob does not read fast enough" in str(notices[(ALICE,)]["msg"])
    assert state.relay_stats.dropped == 1
