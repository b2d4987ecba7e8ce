"""Rooms: creating, joining, leaving and deleting them, and undoing what the store
could not keep. Sans-I/O.

Contract (the ``CREATE_ROOM``, ``JOIN_ROOM``, ``LEAVE_ROOM`` and ``DELETE_ROOM`` rules, each a
function of the :class:`~tracker.state.registry.Registry`):

* membership is durable: a member stays one while offline (logout, expiry, restart)
  until they ``LEAVE_ROOM``, are kicked or banned, or the room goes; each change is a
  durable fact (:class:`~tracker.state.room_changes.MemberAdded`, ``MemberRemoved``,
  ``MemberModeChanged``) stored before anyone hears of it;
* a user may be a member of several rooms, at most ``rooms_per_user``
  (``quota_exceeded`` beyond, creating included); creating or joining one leaves none;
* capacity counts members, online or not (``room_full``);
* every membership change pushes ``ROOM_UPDATE`` (the full member list, each entry
  with ``online``) to every online member; deleting a room pushes ``ROOM_DELETED``;
* ``relay_only`` is per membership: a member who creates or joins a room with it has no
  address in that room's member list (:meth:`~tracker.state.registry.Registry.member_entry`);
  joining the room one is in again with the other choice changes it and pushes the
  list again (what members got before, they keep);
* ``LEAVE_ROOM`` names the room; without one (older clients) it means the user's only
  room, and is ``invalid_field`` when they are in several;
* a room's name is canonical (NFC, :func:`commons.models.validate_room_name`) and
  compared exactly; a new room whose name *looks like* an existing room's
  (:func:`commons.look_alikes.skeleton`: ``Lobby``, ``l0bby``, a Cyrillic ``o`` in ``lobby``
  beside ``lobby``) is refused as ``room_exists``, so no one can open a room that
  passes for another and collect the messages meant for it;
* rooms have quotas, per owner and in total (:class:`~tracker.state.registry.StateLimits`);
  joining checks bans, invite-only and the capacity, in that order;
* the total cannot be held by fresh accounts: rooms created by an account younger than
  ``standing_age`` (a newcomer) may take only ``newcomer_room_share`` of ``max_rooms``
  together, so the rest stays for accounts with standing, which a wave of new
  accounts (bounded by the registration rate) cannot have for a day;
* the durable facts (a room created or deleted, a member added or removed) go in
  ``Outcome.store`` for the shell to persist; when it cannot, :func:`revert_actions`
  and :func:`drop_room` put memory back as the database has it.

What only a room's owner may do (kick, ban, invite, the room's mode) is in
:mod:`tracker.state.owner`.
"""

from __future__ import annotations

from collections.abc import Sequence

from commons.errors import ErrorCode
from commons.room_control import Departure
from commons.tracker_protocol import Event, Request, ok, push
from tracker.state.registry import (
    OnlineUser,
    Outcome,
    Registry,
    Room,
    fold,
    leave_room,
    owned_room,
    push_update,
    refuse,
)
from tracker.state.room_changes import (
    BanAdded,
    BanRemoved,
    InviteAdded,
    InviteRemoved,
    MemberAdded,
    MemberModeChanged,
    MemberRemoved,
    RoomCreated,
    RoomDeleted,
    RoomModeChanged,
    RoomUsed,
    StoreAction,
)


def create_room(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    assert request.room is not None
    if request.room in state.rooms:
        return refuse(request, ErrorCode.ROOM_EXISTS, "a room with that name exists")
    alike = state.look_alike_room(request.room)
    if alike is not None:
        return refuse(
            request,
            ErrorCode.ROOM_EXISTS,
            f"room {alike!r} exists and its name looks the same; join it or pick another name",
        )
    limits = state.limits
    if state.rooms_owned_by(user.username) >= limits.rooms_per_owner:
        return refuse(
            request,
            ErrorCode.QUOTA_EXCEEDED,
            f"you own {limits.rooms_per_owner} rooms already (the most allowed); delete one first",
        )
    if len(state.rooms) >= limits.max_rooms:
        return refuse(
            request, ErrorCode.QUOTA_EXCEEDED, "the tracker holds as many rooms as it may"
        )
    newcomer = user.is_newcomer(now, limits.standing_age)
    if newcomer and state.newcomer_rooms >= int(limits.max_rooms * limits.newcomer_room_share):
        return refuse(
            request,
            ErrorCode.QUOTA_EXCEEDED,
            "new accounts hold as many rooms as they may; join one, or create one later",
        )
    crowded = _too_many_rooms(state, user, request)
    if crowded is not None:
        return crowded
    outcome = Outcome()
    room = Room(
        request.room,
        user.username,
        invite_only=bool(request.invite_only),
        newcomer=newcomer,
        last_active=now,
    )
    state.add_room(room)
    joined = state.add_member(room, user.username, request.relay_only, now)
    outcome.store = (
        RoomCreated(room.name, room.owner, room.invite_only, newcomer),
        MemberAdded(room.name, user.username, request.relay_only, joined),
    )
    outcome.reply = ok(request.id, room=state.room_object(room))
    push_update(state, room, outcome)
    return outcome


def _too_many_rooms(state: Registry, user: OnlineUser, request: Request) -> Outcome | None:
    """The refusal if ``user`` is a member of as many rooms as one may be."""
    most = state.limits.rooms_per_user
    if len(state.rooms_of(user.username)) < most:
        return None
    return refuse(
        request,
        ErrorCode.QUOTA_EXCEEDED,
        f"you are in {most} rooms (the most allowed); leave one first",
    )


def join_room(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    assert request.room is not None
    room = state.rooms.get(request.room)
    if room is None:
        return refuse(request, ErrorCode.ROOM_NOT_FOUND, "no such room")
    outcome = Outcome()
    username = user.username
    if username not in room.members:
        folded = fold(username)
        if folded in room.banned:
            return refuse(request, ErrorCode.BANNED, "the owner banned you from this room")
        if room.invite_only and room.owner != username and folded not in room.invited:
            return refuse(request, ErrorCode.NOT_INVITED, "this room is invite-only")
        if len(room.members) >= state.room_capacity:
            return refuse(
                request, ErrorCode.ROOM_FULL, f"room is full ({state.room_capacity} members)"
            )
        crowded = _too_many_rooms(state, user, request)
        if crowded is not None:
            return crowded
        joined = state.add_member(room, username, request.relay_only, now)
        outcome.store = (MemberAdded(room.name, username, request.relay_only, joined),)
        push_update(state, room, outcome)
    elif (username in room.relay_only) != request.relay_only:
        if request.relay_only:
            room.relay_only.add(username)
        else:
            room.relay_only.discard(username)
        state.changed(room=room.name)
        outcome.store = (MemberModeChanged(room.name, username, request.relay_only),)
        push_update(state, room, outcome)
    outcome.reply = ok(
        request.id,
        room=state.room_object(room),
        members=state.members_wire(room),
    )
    return outcome


def leave(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    """``LEAVE_ROOM``: the named room, or (older clients naming none) the only one."""
    mine = state.rooms_of(user.username)
    if request.room is not None:
        name = request.room
        if name not in mine:
            return refuse(request, ErrorCode.NOT_IN_ROOM, f"not a member of {name}")
    elif not mine:
        return refuse(request, ErrorCode.NOT_IN_ROOM, "not in a room")
    elif len(mine) > 1:
        return refuse(request, ErrorCode.INVALID_FIELD, "you are in several rooms: name the room")
    else:
        name = mine[0]
    room = state.rooms[name]
    removal = MemberRemoved(
        name, user.username, user.username in room.relay_only, room.joined.get(user.username, 0.0)
    )
    outcome = Outcome(reply=ok(request.id, room=name), store=(removal,))
    leave_room(state, room, user.username, outcome, Departure.LEFT)
    return outcome


def delete_room(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    room, refused = owned_room(state, user, request, "delete")
    if room is None:
        return refused
    outcome = Outcome(reply=ok(request.id, room=room.name), store=(deletion(room),))
    close_room(state, room, outcome)
    return outcome


def deletion(room: Room) -> RoomDeleted:
    """The durable fact of deleting ``room``, with what undoing it would need."""
    return RoomDeleted(
        room.name,
        room.owner,
        room.invite_only,
        tuple(room.banned.values()),
        tuple(room.invited.values()),
        tuple((name, name in room.relay_only, room.joined.get(name, 0.0)) for name in room.members),
    )


def close_room(state: Registry, room: Room, outcome: Outcome) -> None:
    """``room`` is gone with its memberships: its online members get ``ROOM_DELETED``."""
    outcome.push_to(state.sessions_of(room.members), push(Event.ROOM_DELETED, room=room.name))
    state.remove_room(room.name)
    state.changed(room=room.name)


# --------------------------------------------------------------------- undo


def drop_room(state: Registry, name: str) -> Outcome:
    """Undo a creation the store could not persist; members get ``ROOM_DELETED``."""
    outcome = Outcome()
    room = state.rooms.get(name)
    if room is not None:
        close_room(state, room, outcome)
    return outcome


def revert_actions(state: Registry, actions: Sequence[StoreAction]) -> Outcome:
    """Undo in memory the durable facts a failed write did not store.

    Membership changes stand (they were real and are announced); only what the
    database would have held goes back to how the database has it.
    """
    outcome = Outcome()
    for action in reversed(actions):
        if isinstance(action, RoomUsed):
            continue  # only a stamp: the next upkeep writes it again
        if isinstance(action, RoomCreated):
            dropped = drop_room(state, action.name)
            outcome.pushes.extend(dropped.pushes)
            continue
        if isinstance(action, RoomDeleted):
            if action.name not in state.rooms:
                state.add_room(
                    Room.stored(
                        action.name,
                        action.owner,
                        action.invite_only,
                        action.banned,
                        action.invited,
                        members=action.members,
                    )
                )
            continue
        room = state.rooms.get(action.room)
        if room is None:
            continue
        if isinstance(action, MemberAdded):
            if action.username in room.members:
                state.remove_member(room, action.username)
                push_update(state, room, outcome)
        elif isinstance(action, MemberRemoved):
            if action.username not in room.members:
                state.add_member(room, action.username, action.relay_only, action.joined)
                push_update(state, room, outcome)
        elif isinstance(action, MemberModeChanged):
            if action.relay_only:
                room.relay_only.discard(action.username)
            elif action.username in room.members:
                room.relay_only.add(action.username)
        elif isinstance(action, RoomModeChanged):
            room.invite_only = not action.invite_only
        elif isinstance(action, BanAdded):
            room.banned.pop(fold(action.username), None)
        elif isinstance(action, BanRemoved):
            room.banned[fold(action.username)] = action.username
        elif isinstance(action, InviteAdded):
            room.invited.pop(fold(action.username), None)
        elif isinstance(action, InviteRemoved):
            room.invited[fold(action.username)] = action.username
    return outcome
