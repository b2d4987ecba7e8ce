"""Rooms: creating, joining, leaving and deleting them, and undoing what the store
could not keep. Sans-I/O.

Contract (:class:`RoomRules`):

* a user is in at most one room; creating or joining another leaves the first;
* every membership change pushes ``ROOM_UPDATE`` (the full member list, with each
  member's address) to every member; deleting a room pushes ``ROOM_DELETED``;
* rooms have quotas, per owner and in total (:class:`~tracker.state.registry.StateLimits`);
  joining checks bans, invite-only and the capacity, in that order;
* the durable facts (a room created or deleted) go in ``Outcome.store`` for the shell
  to persist; when it cannot, :meth:`RoomRules.revert` and :meth:`RoomRules.drop_room`
  put memory back as the database has it, and membership changes stand.

What only a room's owner may do (kick, ban, invite, the room's mode) is in
:mod:`tracker.state.owner`.
"""

from __future__ import annotations

from collections.abc import Sequence

from commons.errors import ErrorCode
from commons.room_control import Departure
from commons.tracker_protocol import Event, Request, ok, push
from tracker.state.registry import OnlineUser, Outcome, Room, StateBase, _fold, _refuse
from tracker.state.room_changes import (
    BanAdded,
    BanRemoved,
    InviteAdded,
    InviteRemoved,
    RoomCreated,
    RoomDeleted,
    RoomModeChanged,
    StoreAction,
)


class RoomRules(StateBase):
    """``CREATE_ROOM``, ``JOIN_ROOM``, ``LEAVE_ROOM``, ``DELETE_ROOM``, and their undo."""

    def _create_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        assert request.room is not None
        if request.room in self.rooms:
            return _refuse(request, ErrorCode.ROOM_EXISTS, "a room with that name exists")
        limits = self.limits
        if self.rooms_owned_by(user.username) >= limits.rooms_per_owner:
            return _refuse(
                request,
                ErrorCode.QUOTA_EXCEEDED,
                f"you own {limits.rooms_per_owner} rooms already (the most allowed);"
                " delete one first",
            )
        if len(self.rooms) >= limits.max_rooms:
            return _refuse(
                request, ErrorCode.QUOTA_EXCEEDED, "the tracker holds as many rooms as it may"
            )
        outcome = Outcome()
        self._leave_room(user, outcome, Departure.LEFT)
        room = Room(
            request.room, user.username, [user.username], invite_only=bool(request.invite_only)
        )
        self._add_room(room)
        user.room = room.name
        self._changed(user=user.username, room=room.name)
        outcome.store = (RoomCreated(room.name, room.owner, room.invite_only),)
        outcome.reply = ok(request.id, room=self.room_info(room).to_wire())
        self._push_update(room, outcome)
        return outcome

    def _join_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        assert request.room is not None
        room = self.rooms.get(request.room)
        if room is None:
            return _refuse(request, ErrorCode.ROOM_NOT_FOUND, "no such room")
        outcome = Outcome()
        if user.room != room.name:
            folded = _fold(user.username)
            if folded in room.banned:
                return _refuse(request, ErrorCode.BANNED, "the owner banned you from this room")
            if room.invite_only and room.owner != user.username and folded not in room.invited:
                return _refuse(request, ErrorCode.NOT_INVITED, "this room is invite-only")
            if len(room.members) >= self.room_capacity:
                return _refuse(
                    request, ErrorCode.ROOM_FULL, f"room is full ({self.room_capacity} members)"
                )
            self._leave_room(user, outcome, Departure.LEFT)
            room.members.append(user.username)
            user.room = room.name
            self._changed(user=user.username, room=room.name)
            self._push_update(room, outcome)
        outcome.reply = ok(
            request.id,
            room=self.room_info(room).to_wire(),
            members=self._members_wire(room),
        )
        return outcome

    def _leave(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        if user.room is None:
            return _refuse(request, ErrorCode.NOT_IN_ROOM, "not in a room")
        name = user.room
        outcome = Outcome(reply=ok(request.id, room=name))
        self._leave_room(user, outcome, Departure.LEFT)
        return outcome

    def _delete_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, refused = self._owned_room(user, request, "delete")
        if room is None:
            return refused
        outcome = Outcome(
            reply=ok(request.id, room=room.name),
            store=(
                RoomDeleted(
                    room.name,
                    room.owner,
                    room.invite_only,
                    tuple(room.banned.values()),
                    tuple(room.invited.values()),
                ),
            ),
        )
        self._close_room(room, outcome)
        return outcome

    def _close_room(self, room: Room, outcome: Outcome) -> None:
        """``room`` is gone: its members are in no room and get ``ROOM_DELETED``."""
        outcome.push_to(self._sessions_of(room.members), push(Event.ROOM_DELETED, room=room.name))
        for name in room.members:
            member = self.online.get(name)
            if member is not None:
                member.room = None
                self._changed(user=name)
        self._remove_room(room.name)
        self._changed(room=room.name)

    # ----------------------------------------------------------------- undo

    def drop_room(self, name: str) -> Outcome:
        """Undo a creation the store could not persist; members get ``ROOM_DELETED``."""
        outcome = Outcome()
        room = self.rooms.get(name)
        if room is not None:
            self._close_room(room, outcome)
        return outcome

    def revert(self, actions: Sequence[StoreAction]) -> Outcome:
        """Undo in memory the durable facts a failed write did not store.

        Membership changes stand (they were real and are announced); only what the
        database would have held goes back to how the database has it.
        """
        outcome = Outcome()
        for action in reversed(actions):
            if isinstance(action, RoomCreated):
                dropped = self.drop_room(action.name)
                outcome.pushes.extend(dropped.pushes)
                continue
            if isinstance(action, RoomDeleted):
                if action.name not in self.rooms:
                    self._add_room(
                        Room.stored(
                            action.name,
                            action.owner,
                            action.invite_only,
                            action.banned,
                            action.invited,
                        )
                    )
                continue
            room = self.rooms.get(action.room)
            if room is None:
                continue
            if isinstance(action, RoomModeChanged):
                room.invite_only = not action.invite_only
            elif isinstance(action, BanAdded):
                room.banned.pop(_fold(action.username), None)
            elif isinstance(action, BanRemoved):
                room.banned[_fold(action.username)] = action.username
            elif isinstance(action, InviteAdded):
                room.invited.pop(_fold(action.username), None)
            elif isinstance(action, InviteRemoved):
                room.invited[_fold(action.username)] = action.username
        return outcome
