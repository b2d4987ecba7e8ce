"""A hostile (or merely curious) tracker for relay tests: a tap on its relay decision.

:class:`RelayTap` wraps ``tracker.state.tracker_state.relay`` (the sans-I/O decision "this frame
goes
to session X"), so it sees exactly what the tracker sees of a relayed conversation,
after TLS: every ``RELAY`` frame with its sender. ``rewrite(sender, index, data)`` may
replace the base64 body of the ``index``-th frame (from 0) a sender relays on one link
by any number of bodies: a changed one (tampering), several (replaying), none
(dropping), or an earlier one held back (reordering). The tracker then forwards what it
returns, in order. While ``rewrite`` runs, ``frames[-1]`` is the frame being decided.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import replace

from commons.codec import encode_message
from commons.relay_frames import RelayFrame, relay_request
from crypto.channel import SecureChannel
from crypto.identity import IdentityKey
from peer.channels.link import LinkClosedError, P2PLink
from tests.tracker_client import TrackerTestClient
from tracker.server.server import TrackerServer
from tracker.state.tracker_state import Outcome, SessionId

Rewrite = Callable[[str, int, str], list[str]]


class RelayTap:
    def __init__(self, tracker: TrackerServer, rewrite: Rewrite | None = None) -> None:
        self.frames: list[tuple[str, RelayFrame]] = []
        self._counts: dict[tuple[str, int, bool], int] = {}
        self._rewrite = rewrite
        state = tracker.state
        original = state.relay

        def relay(session: SessionId, frame: RelayFrame, now: float) -> Outcome:
            sender = state.username_of(session) or "?"
            self.frames.append((sender, frame))
            outcome = original(session, frame, now)
            forward = outcome.forward
            if forward is None or self._rewrite is None or frame.data is None:
                return outcome
            key = (sender, frame.link, frame.back)
            index = self._counts.get(key, 0)
            self._counts[key] = index + 1
            bodies = self._rewrite(sender, index, frame.data)
            outcome.forward = None
            for data in bodies:
                message = {**forward.message, "data": data}
                outcome.pushes.append(((forward.target,), message))
            if len(bodies) == 1:  # keep the usual path (a forward) for a single body
                outcome.pushes.pop()
                outcome.forward = replace(forward, message={**forward.message, "data": bodies[0]})
            return outcome

        state.relay = relay  # type: ignore[method-assign]

    def bodies(self, sender: str | None = None) -> list[bytes]:
        """Every relayed body, decoded (from ``sender`` only, if given)."""
        return [
            base64.b64decode(frame.data)
            for who, frame in self.frames
            if frame.data is not None and (sender is None or who == sender)
        ]

    def links(self, sender: str) -> dict[tuple[int, bool], int]:
        """How many bodies ``sender`` relayed on each link ``(link, back)``."""
        counts: dict[tuple[int, bool], int] = {}
        for who, frame in self.frames:
            if who == sender and frame.data is not None:
                key = (frame.link, frame.back)
                counts[key] = counts.get(key, 0) + 1
        return counts


def flip_bit(data: str) -> str:
    """The same body with one bit of its ciphertext flipped."""
    raw = bytearray(base64.b64decode(data))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


class HandRelayTransport:
    """A relayed link driven by hand from a raw tracker client (an attacker's side):
    a :class:`peer.channels.link.BodyTransport` over ``RELAY`` frames to ``to``."""

    def __init__(self, client: TrackerTestClient, to: str, link: int = 4242) -> None:
        self.client, self.to, self.link = client, to, link
        self.closed = False

    async def read_bodies(self) -> list[bytes]:
        while True:
            push = await self.client.push()
            if push.get("from") == self.to and push.get("event") == "RELAY":
                return [base64.b64decode(str(push["data"]))]
            if push.get("user") == self.to and push.get("event") == "RELAY_END":
                raise LinkClosedError(f"relay end: {push['code']}")

    def write_body(self, body: bytes) -> None:
        frame = relay_request(self.to, self.link, False, body)
        self.client.writer.write(encode_message(frame))

    async def drain(self) -> None:
        await self.client.writer.drain()

    def close(self, linger: float = 0.0) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        return None


async def relay_hand_dial(
    client: TrackerTestClient, to: str, claim: str, identity: IdentityKey
) -> P2PLink:
    """A hand-driven channel to ``to`` through the relay, claiming to be ``claim``;
    returns once the handshake is done, before ``to`` accepts or rejects. This side
    checks nothing: it plays the attacker."""
    channel = SecureChannel(
        initiator=True, identity=identity, username=claim, authorize=lambda _n, _k: None
    )
    link = P2PLink(HandRelayTransport(client, to), channel)
    await asyncio.wait_for(link.handshake(True), 10.0)
    return link
