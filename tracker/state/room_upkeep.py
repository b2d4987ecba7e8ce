"""The rooms' upkeep: abandoned rooms expire, the operator deletes rooms. Sans-I/O.

Rooms are durable and the owner alone could delete one, so rooms made by accounts that
never come back held their share of ``max_rooms`` for good (issue 20: 2,000 sybils x 5
rooms filled the 10,000 in 9 s, for ever). The server's periodic sweep calls
:func:`upkeep` now and then (:class:`~tracker.server.server.TrackerServer`); the rules:

* a room with a member online is in use: its ``last_active`` is now, and the store hears
  of it (:class:`~tracker.state.room_changes.RoomUsed`) at most once per
  :func:`stamp_interval`, so a busy tracker does not write every room on every pass;
* a room none of whose members was online for ``room_expiry`` seconds is deleted like
  its owner would, with its memberships (``ROOM_DELETED`` to nobody, since no member is
  online; the row goes in ``Outcome.store``): durable members who never log in again do
  not hold a room for ever;
* a room the operator asked to remove (``p2pchat-tracker room delete``,
  :mod:`tracker.admin`) is deleted whoever owns it, and its members get
  ``ROOM_DELETED``: through these rules, so live state, the store and the other
  trackers of a group stay one story;
* a room whose last activity is unknown (0) counts from the first upkeep that sees it.

Contract: takes ``now`` (wall clock), never awaits; everything durable is in the
returned :class:`~tracker.state.registry.Outcome`'s ``store``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tracker.state.registry import Outcome, Registry
from tracker.state.room_changes import RoomUsed, StoreAction
from tracker.state.rooms import close_room, deletion

#: The store hears of a room in use at most once an hour (or a tenth of the expiry).
MAX_STAMP_INTERVAL = 3600.0


def stamp_interval(room_expiry: float) -> float:
    """How stale a stored ``last_active`` may get: well inside the expiry."""
    return min(MAX_STAMP_INTERVAL, room_expiry / 10)


def upkeep(state: Registry, now: float, removals: Iterable[str] = ()) -> Outcome:
    """Stamp rooms in use, delete abandoned ones and those in ``removals``."""
    outcome = Outcome()
    store: list[StoreAction] = []
    for name in sorted(set(removals)):
        room = state.rooms.get(name)
        if room is not None:
            store.append(deletion(room))
            close_room(state, room, outcome)
    expiry = state.limits.room_expiry
    interval = stamp_interval(expiry)
    for room in list(state.rooms.values()):
        if room.last_active <= 0 or any(name in state.online for name in room.members):
            room.last_active = now
            if now - room.stamped >= interval:
                room.stamped = now
                store.append(RoomUsed(room.name, now))
        elif now - room.last_active >= expiry:
            store.append(deletion(room))
            close_room(state, room, outcome)
    outcome.store = tuple(store)
    return outcome
