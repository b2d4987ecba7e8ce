"""The directory: who is online and which rooms exist, a page at a time. Sans-I/O.

``LOOKUP`` finds one online user; ``LIST_PEERS`` and ``LIST_ROOMS`` page through
names in code-point order with a cursor (the last name of the previous page), so no
client needs to see everyone at once and no number of fake accounts hides a name. A
page never holds more than fits in one frame. What a listing shows of a user is
:meth:`~tracker.state.registry.OnlineUser.peer_info` (name and key; ``room`` is always
``null``): never an address, which only room-mates get, and never a user's rooms, which
durable memberships would turn into anyone's map of who talks with whom. A room object
of ``LIST_ROOMS`` still lists its members, and which of them are online. The rate of
pages per source is charged by :meth:`tracker.state.tracker_state.TrackerState.handle`
before these rules run. Each rule is a function of the
:class:`~tracker.state.registry.Registry`.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable

from commons.codec import JsonObject
from commons.errors import ErrorCode
from commons.room_control import Page
from commons.tracker_protocol import MAX_PAGE_LIMIT, Request, ok
from tracker.state.registry import OnlineUser, Outcome, Registry, fold, refuse


def lookup(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    assert request.target is not None
    name = state.folded.get(fold(request.target))
    if name is None:
        return refuse(request, ErrorCode.USER_OFFLINE, f"{request.target} is not online")
    return Outcome(reply=ok(request.id, peer=state.online[name].peer_info().to_wire()))


def list_peers(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    online = state.online
    peers, cursor = _page(
        state, state.online_names, request, lambda name: online[name].peer_info().to_wire()
    )
    page = Page(len(online), cursor)
    return Outcome(reply=ok(request.id, peers=peers, **page.to_wire()))


def list_rooms(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    rooms = state.rooms
    listed, cursor = _page(
        state, state.room_names, request, lambda name: state.room_object(rooms[name])
    )
    page = Page(len(rooms), cursor)
    return Outcome(reply=ok(request.id, rooms=listed, **page.to_wire()))


def _page(
    state: Registry, names: list[str], request: Request, render: Callable[[str], JsonObject]
) -> tuple[list[JsonObject], str | None]:
    """One page of ``names`` after ``request.cursor``: the items and the next cursor.

    A page holds at most ``limit`` items (default and maximum
    :data:`~commons.tracker_protocol.MAX_PAGE_LIMIT`) and never more than fit in one
    frame; the cursor is the last name returned.
    """
    start = 0 if request.cursor is None else bisect.bisect_right(names, request.cursor)
    limit = request.limit or MAX_PAGE_LIMIT
    taken: list[JsonObject] = []
    used = 0
    for name in names[start : start + limit]:
        item = render(name)
        used += len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()) + 1
        if used > state.list_budget:
            break
        taken.append(item)
    more = start + len(taken) < len(names)
    cursor = names[start + len(taken) - 1] if more and taken else None
    return taken, cursor
