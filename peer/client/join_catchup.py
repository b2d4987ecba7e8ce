"""Room pushes that race our own join, kept to be replayed after its reply. Sans-I/O.

The tracker answers ``JOIN_ROOM`` (or ``CREATE_ROOM``, or the rejoin after a tracker
outage) and may push the room's next change right after: someone else joins, leaves, is
kicked. The session's reader handles such a push before the command's caller resumes,
so the client would then adopt the reply's older member list for good. The tracker
sends no push for a room before we are in it, so every push for that room seen after
the request went out is not older than the reply: replayed after it, they leave the
client with the tracker's latest state.

Bounded whatever a tracker sends, and the newest kept: the latest ``ROOM_UPDATE`` (each
carries the whole list), the members earlier updates named as gone on purpose and not
listed again (the latest per member, at most :data:`MAX_DEPARTURES`), and the last
``KICKED`` or ``ROOM_DELETED``.
"""

from __future__ import annotations

import dataclasses

from commons.room_control import Removed
from peer.session.messages import KickedPush, RoomDeletedPush, RoomUpdate, TrackerPush

#: Departures remembered while a join is out (a room holds at most 64 members).
MAX_DEPARTURES = 64


class JoinCatchUp:
    """What to replay after entering the room a join is out for."""

    def __init__(self) -> None:
        self.room: str | None = None
        self._update: RoomUpdate | None = None
        self._departed: dict[str, Removed] = {}
        self._end: KickedPush | RoomDeletedPush | None = None

    def start(self, room: str) -> None:
        """A join (or create) for ``room`` is about to go out."""
        self.room = room
        self._update, self._departed, self._end = None, {}, None

    def note(self, push: TrackerPush) -> None:
        """Every push the reader handles; those for the awaited room are kept."""
        if self.room is None:
            return
        if isinstance(push, RoomUpdate) and push.room == self.room:
            listed = {m.username for m in push.members}
            for name in listed & self._departed.keys():
                del self._departed[name]
            removed = push.removed
            if removed is not None and removed.username not in listed:
                self._departed.pop(removed.username, None)
                self._departed[removed.username] = removed
                while len(self._departed) > MAX_DEPARTURES:
                    del self._departed[next(iter(self._departed))]
            self._update = push
        elif isinstance(push, RoomDeletedPush | KickedPush) and _room_of(push) == self.room:
            self._end = push

    def finish(self, room: str) -> list[TrackerPush]:
        """We entered ``room``: the pushes to handle now, in order (none if the join
        that is out is for another room)."""
        if room != self.room:
            return []
        update, departed, end = self._update, self._departed, self._end
        self.room, self._update, self._departed, self._end = None, None, {}, None
        replay: list[TrackerPush] = []
        if update is not None:
            replay.append(update)
            own = update.removed.username if update.removed is not None else None
            replay += [
                dataclasses.replace(update, removed=gone)
                for name, gone in departed.items()
                if name != own
            ]
        if end is not None:
            replay.append(end)
        return replay


def _room_of(push: RoomDeletedPush | KickedPush) -> str:
    return push.room if isinstance(push, RoomDeletedPush) else push.kicked.room
