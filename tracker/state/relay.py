"""The relay's rules on the registry: whose ``RELAY`` frame goes to which session,
and which links end when a session does. Sans-I/O.

These functions decide; the shell carries out. A frame that may go becomes an
:class:`~tracker.state.registry.Forward` in the :class:`~tracker.state.registry.Outcome`, so
another shell (or trackers sharing one database, :mod:`tracker.group.relay`) can carry
it differently. Contract:

* every frame, refused or not, is charged to the sender's budgets first (its session's,
  its user's, its source's unless trusted, and the tracker's in all:
  :class:`~tracker.state.relay_budget.RelayBudgets`); over any of them the sender is
  shaped (``Outcome.wait``), never dropped;
* a refusal is a ``RELAY_END`` for that link to the sender, never a reply;
* a session that ends (:func:`tracker.state.registry.end_relays`) ends every link it had,
  and each partner on this tracker is told at once.

The budgets, the pair caps and the counters themselves are in :mod:`tracker.state.relay_budget`,
which knows nothing of sessions; this module is where they meet the registry.
"""

from __future__ import annotations

from commons.errors import ErrorCode
from commons.relay_frames import RelayEndCode, RelayFrame, relay_end_push, relay_push
from commons.tracker_protocol import error
from tracker.state.registry import Forward, OnlineUser, Outcome, Registry, SessionId
from tracker.state.relay_budget import RelaySession


def relay_frame(state: Registry, session: SessionId, frame: RelayFrame, now: float) -> Outcome:
    """A ``RELAY`` frame from ``session``: forward it, shape it, or refuse it.

    Every frame, refused or not, is charged to the sender's budgets first, so a
    stream of frames to nobody costs the sender as much as real traffic. A refusal
    is a ``RELAY_END`` for that link to the sender; it never gets a reply.
    """
    user = state.sessions.get(session)
    if user is None:
        return Outcome(reply=error(None, ErrorCode.NOT_AUTHENTICATED, "log in first"))
    limits = state.limits.relay
    budget = user.relay
    if budget is None:
        budget = user.relay = RelaySession(limits, now)
    source = None if user.trusted else user.source
    hold = state.relay_budgets.charge(budget, user.username, source, frame.size, now)
    if hold is not None:
        state.relay_stats.held(hold.scope)
        return Outcome(wait=hold.wait)
    if not limits.enabled:
        return _relay_refused(
            state, user, frame, RelayEndCode.RELAY_DISABLED, "this tracker does not relay"
        )
    target = state.online.get(frame.to)
    if target is None or target is user:
        return _relay_refused(
            state, user, frame, RelayEndCode.USER_OFFLINE, f"{frame.to} is not online"
        )
    outcome = Outcome()
    if frame.end:
        state.relay_stats.ends += 1
        if frame.to in budget.pairs or frame.to in state.relayed_by.get(user.username, ()):
            message = relay_end_push(
                user.username, frame.link, frame.back, RelayEndCode.CLOSED, "closed"
            )
            outcome.push_to((target.session,), message)
        return outcome
    expired = budget.pairs.use(frame.to, now)
    if expired is None:
        return _relay_refused(
            state,
            user,
            frame,
            RelayEndCode.TOO_MANY_PAIRS,
            f"you relay to {limits.max_pairs} users already",
        )
    for name in expired:
        state.relayed_by.get(name, set()).discard(user.username)
    state.relayed_by.setdefault(frame.to, set()).add(user.username)
    state.relay_stats.frames += 1
    state.relay_stats.bytes += frame.size
    outcome.forward = Forward(session, target.session, frame, relay_push(user.username, frame))
    return outcome


def _relay_refused(
    state: Registry, user: OnlineUser, frame: RelayFrame, code: RelayEndCode, msg: str
) -> Outcome:
    state.relay_stats.refused += 1
    outcome = Outcome()
    if not frame.end:  # an end needs no answer
        notice = relay_end_push(frame.to, frame.link, not frame.back, code, msg)
        outcome.push_to((user.session,), notice)
    return outcome


def forward_dropped(state: Registry, forward: Forward) -> Outcome:
    """The shell dropped ``forward``: its target does not read fast enough. The
    link is broken (a channel cannot skip a frame): both ends are told."""
    state.relay_stats.dropped += 1
    outcome = Outcome()
    sender = state.sessions.get(forward.sender)
    target = state.sessions.get(forward.target)
    frame = forward.frame
    if sender is None or target is None:
        return outcome
    code = RelayEndCode.RECEIVER_SLOW
    outcome.push_to(
        (sender.session,),
        relay_end_push(
            target.username,
            frame.link,
            not frame.back,
            code,
            f"{target.username} does not read fast enough: relayed frames were dropped",
        ),
    )
    outcome.push_to(
        (target.session,),
        relay_end_push(
            sender.username,
            frame.link,
            frame.back,
            code,
            "frames relayed to you were dropped: your connection does not read fast enough",
        ),
    )
    return outcome


def count_relay_pairs(state: Registry) -> int:
    """Pairs relaying now (for the log)."""
    return sum(len(u.relay.pairs) for u in state.sessions.values() if u.relay is not None)
