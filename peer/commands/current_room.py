"""The front end's current room filled into a command that names no room, sans-I/O.

The client has no current room (spec21: it lives in the UIs): the batch mode's is the room
last joined, created or ``/switch``ed to, the terminal chat's the room of the buffer shown.
A command typed without a room (``/users``, ``/leave``, ``/kick USER``, ``/invite-only on``,
``/access``, ``/me``, ``/typing``, a plain line) means that room; :func:`aimed_at` says so
before the command runs, and leaves a command that names its room alone.
"""

from __future__ import annotations

import dataclasses

from peer.commands.values import (
    ControlUser,
    LeaveRoom,
    ListUsers,
    SendAction,
    SendRoom,
    SetInviteOnly,
    SetTyping,
    ShowAccess,
    UserCommand,
)

#: The commands whose ``room`` defaults to the current room.
RoomDefaulted = (
    ControlUser
    | SetInviteOnly
    | ShowAccess
    | LeaveRoom
    | ListUsers
    | SendRoom
    | SendAction
    | SetTyping
)


def aimed_at(command: UserCommand, room: str | None) -> UserCommand:
    """``command`` with ``room`` in place of a room it leaves out (``room`` ``None``: no
    current room, the command is unchanged)."""
    if room is not None and isinstance(command, RoomDefaulted) and command.room is None:
        return dataclasses.replace(command, room=room)
    return command
