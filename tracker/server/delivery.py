"""Carrying out an :class:`~tracker.state.tracker_state.Outcome`: reply, pushes, relayed frame,
closes.

Why here: the sans-I/O :class:`~tracker.state.tracker_state.TrackerState` decides; this part of the
shell only moves what it decided to the right connections (or, in a group, to the
``relay`` table for sessions of other trackers), and awaits what must come first: a
durable write (:meth:`OutcomeDelivery.persist_then_deliver`) or the group's lock
(:meth:`OutcomeDelivery.group_command`).

Contract: nothing a client sends can make delivery fail half-way:
:meth:`~tracker.server.connection.TrackerConnection.send` never raises, so the reply, the pushes
to other sessions and the closes of one outcome are each carried out whatever happened to
the others. A relayed frame is never buffered for a receiver that does not read: it is
dropped and both ends are told.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from commons.errors import ErrorCode
from commons.tracker_protocol import Request, error
from tracker.server.server_base import ServerBase, log
from tracker.state.tracker_state import Forward, Outcome, SessionId

if TYPE_CHECKING:
    from tracker.group.replica import RemoteSession
    from tracker.server.connection import TrackerConnection


class OutcomeDelivery(ServerBase):
    """Delivers outcomes to this tracker's connections and the group's other trackers."""

    def deliver(self, conn: TrackerConnection | None, outcome: Outcome) -> None:
        """Send the reply, the pushes, the relayed frame, then close what must be closed.

        ``send`` never raises, so a reply that could not be sent never skips the pushes
        and closes that belong to the same state change.
        """
        if conn is not None and outcome.reply is not None:
            conn.send(outcome.reply)
        for sessions, message in outcome.pushes:
            for session in sessions:
                target = self.connections.get(session)
                if target is not None:
                    target.send(message)
        if outcome.forward is not None:
            self._forward(outcome.forward)
        for session in outcome.close:
            target = self.connections.get(session)
            if target is not None:
                target.close()

    def deliver_relay(self, conn: TrackerConnection | None, outcome: Outcome) -> None:
        """:meth:`deliver` an outcome of the relay's rules, whose pushes may be for
        sessions of other trackers of the group: those go through the ``relay`` table
        (:mod:`tracker.group.relay`). Outcomes of group commands never come here: their
        pushes to other trackers go in the group's log."""
        relay = self.group_relay
        if relay is not None:
            for sessions, message in outcome.pushes:
                for session in sessions:
                    ref = self.group_remote(session)
                    if ref is not None:
                        relay.push(ref, message)
        self.deliver(conn, outcome)

    def group_remote(self, session: SessionId) -> RemoteSession | None:
        """Where a session of another tracker of the group is (``None``: one of ours)."""
        if self.group is None:
            return None
        return self.group.state.address_of(session)

    def _forward(self, forward: Forward) -> None:
        """Carry a relayed frame, never waiting: a target that does not read fast enough
        loses it (and both ends are told) instead of making the tracker buffer it."""
        target = self.connections.get(forward.target)
        if target is None:
            ref = self.group_remote(forward.target)
            if ref is not None and self.group_relay is not None:
                self.group_relay.forward(forward, ref)
            return
        if target.unsent > self.config.relay_receiver_buffer:
            self.problems.warning("relay_drop", "dropping relayed frames to a slow receiver")
            self.deliver_relay(None, self.state.relay_dropped(forward))
            return
        target.send(forward.message)

    async def group_command(self, conn: TrackerConnection, request: Request) -> None:
        """A room command when trackers share a database: decided under the group lock."""
        await self.handle_then_deliver(
            conn, request, "a group command failed", "could not store the change"
        )

    async def handle_then_deliver(
        self, conn: TrackerConnection, request: Request, failure: str, answer: str
    ) -> None:
        """Decide ``request`` through :meth:`_change` (the group's lock, in a group), then
        deliver; if that fails, log ``failure`` and answer ``internal_error`` ``answer``."""
        now = time.time()
        try:
            outcome = await self._change(lambda state: state.handle(conn.session, request, now))
        except Exception:
            log.exception(failure)
            conn.send(error(request.id, ErrorCode.INTERNAL, answer))
            return
        self.deliver(conn, outcome)

    async def persist_then_deliver(self, conn: TrackerConnection, outcome: Outcome) -> None:
        """Write a command's durable changes before anyone hears of them.

        If the write fails, what it would have stored is undone in memory
        (:meth:`TrackerState.revert`), the membership changes stand and are announced,
        and the command is answered ``internal_error``.
        """
        try:
            await self.storage.apply_room_changes(outcome.store)
        except Exception:
            log.exception("could not persist a room change")
            request_id = outcome.reply.get("id") if outcome.reply else None
            self.deliver(None, Outcome(pushes=outcome.pushes))
            self.deliver(None, self.state.revert(outcome.store))
            conn.send(error(request_id, ErrorCode.INTERNAL, "could not store the change"))
            return
        self.deliver(conn, outcome)
