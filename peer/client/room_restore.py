"""Back in one's rooms after a login or resume, with nothing typed.

The tracker lists our rooms in its ``LOGIN``/``RESUME`` reply, in join order. When they
do not all fit one frame (a user in 20 full rooms with long names), the later rooms come
without their member entries (``members_omitted``): such a room is entered with the
names the room object gives and nobody known online, and its entries (who is online, with
what key and address) are then asked for with a ``JOIN_ROOM`` of the room, which a
member may send for a room they are in and which answers with every entry. Those
requests take tokens from the session's room-command bucket like any join: one that is
refused ``rate_limited`` waits the tracker's ``retry_after`` and is sent again, a few
times at most; one that still fails leaves the room as it was (its members' ``PRESENCE``
and channels fill it in as they come).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from commons.errors import P2PChatError, RateLimitedError
from peer.client.driver import CoreDriver
from peer.session.session import TrackerSession
from peer.supervisor import TaskSupervisor

log = logging.getLogger(__name__)

#: Times a rate-limited member refresh is sent again.
REFRESH_ATTEMPTS = 4


def restore_rooms(
    session: TrackerSession,
    driver: CoreDriver,
    tasks: TaskSupervisor,
    held: Mapping[str, bool],
    relay_only: bool,
) -> None:
    """Enter the rooms of the last login reply; ``held``: how we hold the seats we held
    already (relay-only or not), a room new to this process follows ``relay_only``."""
    login = session.login_reply
    if login is None or login.rooms is None:
        return

    def seat(room: str) -> bool:
        return held.get(room, relay_only)

    driver.rooms_restored(login.rooms, seat)
    for record in login.rooms:
        if record.omitted:
            name = record.room.name
            tasks.spawn(_refresh(session, driver, name, seat(name)), f"members of {name}")


async def _refresh(
    session: TrackerSession, driver: CoreDriver, name: str, relay_only: bool
) -> None:
    """The member entries of ``name``, which the login reply left out."""
    for _ in range(REFRESH_ATTEMPTS):
        try:
            reply = await session.join_room(name, relay_only)
        except RateLimitedError as exc:
            await asyncio.sleep(exc.retry_after)
            continue
        except P2PChatError as exc:
            log.warning("could not fetch the members of a room: %s", exc.code)
            return
        roster = reply.roster
        driver.room_entered(reply.room, reply.members, relay_only=relay_only, roster=roster)
        return
    log.warning("could not fetch the members of a room: still rate-limited")
