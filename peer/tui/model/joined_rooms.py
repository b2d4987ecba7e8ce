"""The rooms the user is a member of, as the chat shows them, sans-I/O.

A :class:`JoinedRooms` keeps, in join order (the tracker's, so it is the same after a
restart), each room's owner, its members online (present) and those offline (their seat
is kept). The client is the truth (:meth:`JoinedRooms.replace`, after a join, a leave, a
login); events refine it in between (a member joins, leaves, comes online or goes
offline).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class RoomView:
    """One room: ``members`` online (sorted, this user included), ``offline`` the
    members whose session is down."""

    name: str
    owner: str | None
    members: list[str] = field(default_factory=list)
    offline: list[str] = field(default_factory=list)


def _sorted(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=str.lower)


class JoinedRooms:
    def __init__(self) -> None:
        self._rooms: dict[str, RoomView] = {}

    def __contains__(self, room: object) -> bool:
        return room in self._rooms

    def names(self) -> list[str]:
        """Our rooms in join order."""
        return list(self._rooms)

    def get(self, room: str | None) -> RoomView | None:
        return None if room is None else self._rooms.get(room)

    def replace(self, views: Iterable[RoomView]) -> None:
        """The client's rooms, in its order."""
        self._rooms = {}
        for view in views:
            view.members = _sorted(view.members)
            view.offline = _sorted(set(view.offline) - set(view.members))
            self._rooms[view.name] = view

    def drop(self, room: str) -> bool:
        """We are no longer in ``room``; whether we were."""
        return self._rooms.pop(room, None) is not None

    def joined(self, room: str, user: str) -> None:
        view = self._rooms.get(room)
        if view is not None and user not in view.members:
            view.members = _sorted([*view.members, user])
            view.offline = [u for u in view.offline if u != user]

    def left(self, room: str, user: str) -> None:
        view = self._rooms.get(room)
        if view is not None:
            view.members = [u for u in view.members if u != user]

    def presence(self, room: str, user: str, online: bool) -> None:
        view = self._rooms.get(room)
        if view is None:
            return
        if online:
            self.joined(room, user)
        else:
            view.members = [u for u in view.members if u != user]
            view.offline = _sorted([*view.offline, user])

    def everyone(self) -> list[str]:
        """Every member of our rooms, online or not (sorted, each once)."""
        names: set[str] = set()
        for view in self._rooms.values():
            names |= set(view.members) | set(view.offline)
        return _sorted(names)

    def rooms_of(self, user: str) -> list[str]:
        """Our rooms that list ``user`` online, in join order."""
        return [name for name, view in self._rooms.items() if user in view.members]
