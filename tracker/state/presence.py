"""Presence: who of a user's room-mates hears that their session started or ended, and
what a user gets back at login. Sans-I/O.

Membership is durable (:mod:`tracker.state.rooms`), so going online or offline changes
no room: it is told with ``PRESENCE``, never ``ROOM_UPDATE``. The rules:

* every *other* online user who shares at least one room with the user gets exactly one
  ``PRESENCE`` per change, whatever the number of rooms they share, naming those rooms
  (sorted). A user in 20 rooms of 64 members reaches at most 63 x 20 distinct
  recipients, each with one small frame (``tests/tracker/test_membership.py``);
* the member entry in it is the one that recipient may see: the address only if the user
  announced a port and entered none of the shared rooms relay-only;
* the ``LOGIN``/``RESUME`` reply's ``rooms`` lists every room the user is a member of,
  in the order they joined, each with its member entries, within one frame: rooms
  past the frame's budget come with ``members_omitted: true`` and their room object, or,
  when even that does not fit, the object with empty ``members`` and ``online`` (a
  ``JOIN_ROOM`` of a room one is in answers its members, changing nothing). Every
  room the user is in is always named (64 bare objects take some 13 KiB).

Each function is of the :class:`~tracker.state.registry.Registry` and adds to an
:class:`~tracker.state.registry.Outcome`; none touches a socket or a clock.
"""

from __future__ import annotations

import json

from commons.codec import JsonObject
from commons.tracker_protocol import Event, push
from tracker.state.registry import Outcome, Registry, Room


def shared_rooms(state: Registry, username: str) -> dict[str, list[str]]:
    """Each other online member sharing a room with ``username``, with the rooms they
    share (in ``username``'s join order). Costs the members of ``username``'s rooms."""
    shared: dict[str, list[str]] = {}
    for name in state.rooms_of(username):
        room = state.rooms.get(name)
        if room is None:
            continue
        for member in room.members:
            if member != username and member in state.online:
                shared.setdefault(member, []).append(name)
    return shared


def announce(state: Registry, username: str, outcome: Outcome) -> None:
    """``username``'s session started (they are in ``state.online``) or ended (they are
    not): one ``PRESENCE`` to each other online member sharing a room with them."""
    user = state.online.get(username)
    for recipient, rooms in sorted(shared_rooms(state, username).items()):
        if user is None:
            member: JsonObject = {"username": username, "online": False}
        else:
            relay_only = any(username in state.rooms[name].relay_only for name in rooms)
            member = user.member_entry(relay_only)
        message = push(
            Event.PRESENCE,
            username=username,
            online=user is not None,
            rooms=sorted(rooms),
            member=member,
        )
        outcome.push_to((state.online[recipient].session,), message)


def login_rooms(state: Registry, username: str) -> list[JsonObject]:
    """The ``rooms`` of a ``LOGIN``/``RESUME`` reply: ``{room, members}`` per room in join
    order, each room whole while the frame's budget lasts, then room objects alone with
    ``members_omitted: true``."""
    mine = state.rooms_of(username)
    # Keep room for a bare object of every room still to come, whatever came before.
    budget = state.list_budget - sum(_size(_bare(state, state.rooms[n])) for n in mine)
    out: list[JsonObject] = []
    for name in mine:
        room = state.rooms[name]
        bare = _bare(state, room)
        budget += _size(bare)
        whole = state.room_object(room)
        members = state.members_wire(room)
        if _size(whole) + _size(members) <= budget:
            item: JsonObject = {"room": whole, "members": members}
        elif _size(whole) <= budget:
            item = {"room": whole, "members_omitted": True}
        else:
            item = {"room": bare, "members_omitted": True}
        budget -= _size(item)
        out.append(item)
    return out


def _bare(state: Registry, room: Room) -> JsonObject:
    """``room``'s object without its name lists (members and online left empty)."""
    obj = state.room_object(room)
    obj["members"] = []
    obj["online"] = []
    return obj


def _size(value: object) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()) + 16
