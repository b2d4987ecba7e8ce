"""Helpers for driving :class:`peer.core.peer_core.PeerCore` by hand: no event loop, no sockets.

:func:`make_core` builds a core with a fixed session id; the ``frames``/``dials``/
``closes`` helpers pick actions out of a :class:`peer.core.actions.Step`. :class:`Wire` joins
two cores the way the channel shell would, frame by frame, so a test can cut a
connection with frames in flight and watch both sides recover.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from peer import events as ev
from peer.core.actions import Admit, CloseChannel, CloseReason, Dial, SendFrame, Step
from peer.core.frames import Frame, MessageIds
from peer.core.liveness import Keepalive
from peer.core.peer_core import PeerCore
from peer.core.settings import CoreSettings

E = TypeVar("E")
SESSION = {"alice": "00000000000000aa", "bob": "00000000000000bb", "carol": "00000000000000cc"}


def make_core(me: str = "alice", **settings: Any) -> PeerCore:
    if "keepalive" not in settings:
        settings["keepalive"] = Keepalive(5.0, 3)
    return PeerCore(me, CoreSettings(**settings), MessageIds(SESSION.get(me, "00000000000000ff")))


def frames(step: Step, user: str | None = None) -> list[Frame]:
    return [
        a.frame
        for a in step.actions
        if isinstance(a, SendFrame) and (user is None or a.user == user)
    ]


def dials(step: Step) -> list[Dial]:
    return [a for a in step.actions if isinstance(a, Dial)]


def closes(step: Step) -> list[tuple[str, CloseReason]]:
    return [(a.user, a.reason) for a in step.actions if isinstance(a, CloseChannel)]


def events(step: Step, kind: type[E]) -> list[E]:
    return [e for e in step.events if isinstance(e, kind)]


def in_room(
    me: str = "alice", members: tuple[str, ...] = ("alice", "bob"), **settings: Any
) -> PeerCore:
    """A core in room ``lobby`` with an open channel to every other member (ids 1, 2...)."""
    core = make_core(me, **settings)
    core.room_entered("lobby", members[0], 3, members, 0.0)
    for number, user in enumerate(sorted(set(members) - {me}), start=1):
        core.channel_opened(user, number, initiator=me < user, now=0.0)
    return core


@dataclass
class Wire:
    """Two cores and the channel between them, frames queued per direction.

    ``pump`` carries every queued frame across (in batches, as reads would) and feeds
    the answers back until both directions are empty; ``cut`` drops what is in flight
    and reports the channel closed on both ends, as a broken TCP connection would.
    """

    a: PeerCore
    b: PeerCore
    now: float = 0.0
    channel: int | None = None
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(100))
    queued: dict[str, list[Frame]] = field(default_factory=lambda: {"a": [], "b": []})
    seen: dict[str, list[ev.ClientEvent]] = field(default_factory=lambda: {"a": [], "b": []})

    def side(self, core: PeerCore) -> str:
        return "a" if core is self.a else "b"

    def other(self, core: PeerCore) -> PeerCore:
        return self.b if core is self.a else self.a

    def run(self, core: PeerCore, step: Step) -> None:
        """Carry out ``step`` of ``core``: record events, queue frames, open dials."""
        self.seen[self.side(core)].extend(step.events)
        for action in step.actions:
            if isinstance(action, SendFrame) and action.channel == self.channel:
                self.queued[self.side(core)].append(action.frame)
            elif isinstance(action, Dial) and action.user == self.other(core).me:
                self.open(dialler=core)

    def open(self, dialler: PeerCore) -> None:
        self.channel = next(self.ids)
        responder = self.other(dialler)
        assert responder.admit(dialler.me) is Admit.ACCEPT
        self.run(
            responder,
            responder.channel_opened(dialler.me, self.channel, initiator=False, now=self.now),
        )
        self.run(
            dialler,
            dialler.channel_opened(responder.me, self.channel, initiator=True, now=self.now),
        )

    def pump(self, batch: int = 64, limit: int | None = None) -> None:
        """Carry frames across in batches of ``batch`` until quiet (or ``limit`` frames)."""
        moved = 0
        while any(self.queued.values()) and (limit is None or moved < limit):
            for name, core in (("a", self.a), ("b", self.b)):
                chunk = self.queued[name][:batch]
                if limit is not None:
                    chunk = chunk[: limit - moved]
                del self.queued[name][: len(chunk)]
                moved += len(chunk)
                if chunk and self.channel is not None:
                    receiver = self.other(core)
                    self.run(receiver, receiver.frames_received(self.channel, chunk, self.now))

    def cut(self) -> None:
        channel, self.channel = self.channel, None
        assert channel is not None
        self.queued = {"a": [], "b": []}
        for core in (self.a, self.b):
            self.run(core, core.channel_closed(channel, CloseReason.NETWORK_ERROR, "cut", self.now))

    def tick(self, now: float) -> None:
        self.now = now
        for core in (self.a, self.b):
            self.run(core, core.tick(now))

    def of(self, core: PeerCore, kind: type[E]) -> list[E]:
        return [e for e in self.seen[self.side(core)] if isinstance(e, kind)]
