"""Owner control: what only a room's owner may do to it. Sans-I/O.

``KICK``, ``BAN``, ``UNBAN``, ``INVITE``, ``UNINVITE``, ``SET_ROOM`` (invite-only or
open) and ``ROOM_ACCESS`` (the lists), each a function of the
:class:`~tracker.state.registry.Registry`. Contract:

* anyone but the owner gets ``NOT_OWNER``; the owner cannot kick, ban or invite
  themself (``FORBIDDEN``);
* the member removed (online or not) loses the membership durably; if online they get
  ``KICKED`` (who and why), and the online others a ``ROOM_UPDATE`` that names the
  removal, so every client drops them at once; an offline one simply does not get the
  room back at their next login;
* a ban also removes the user's invite; a banned user cannot be invited;
* an invited user online gets ``INVITED``;
* the ``INVITE`` reply says how full the room is (``member_count``, ``capacity``), so an
  owner inviting into a full room is told that the invitee cannot join until someone
  leaves;
* closing a room (invite-only) invites whoever is in it, so they may come back;
* ban and invite lists are bounded per room (:class:`~tracker.state.registry.StateLimits`);
* each change of the lists or the mode is a durable fact in ``Outcome.store``.
"""

from __future__ import annotations

from collections.abc import Callable

from commons.errors import ErrorCode
from commons.room_control import Departure, Invited, Kicked, KickReason, RoomAccess
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
    MemberRemoved,
    RoomModeChanged,
    StoreAction,
)


def _remove_member(
    state: Registry, room: Room, name: str, by: str, reason: KickReason, outcome: Outcome
) -> MemberRemoved:
    """Take member ``name`` out of ``room``: if online it gets ``KICKED``; the online
    others get ``ROOM_UPDATE``. Returns the durable fact."""
    removal = MemberRemoved(room.name, name, name in room.relay_only, room.joined.get(name, 0.0))
    member = state.online.get(name)
    if member is not None:
        notice = Kicked(room.name, by, reason)
        outcome.push_to((member.session,), push(Event.KICKED, **notice.to_wire()))
    leave_room(state, room, name, outcome, Departure(str(reason)))
    return removal


def _aimed(
    state: Registry, user: OnlineUser, request: Request, verb: str, itself: str
) -> tuple[Room, str] | Outcome:
    """The request's room and target if ``user`` owns the room and aims at someone
    else, else the refusal to send (``itself``: why the owner cannot be the target)."""
    room, refused = owned_room(state, user, request, verb)
    if room is None:
        return refused
    target = request.target
    assert target is not None
    if fold(target) == fold(user.username):
        return refuse(request, ErrorCode.FORBIDDEN, itself)
    return room, target


def kick(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    aimed = _aimed(state, user, request, "kick from", "the owner cannot kick themself")
    if isinstance(aimed, Outcome):
        return aimed
    room, target = aimed
    name = room.member_named(target)
    if name is None:
        return refuse(request, ErrorCode.NOT_IN_ROOM, f"{target} is not in {room.name}")
    outcome = Outcome()
    changes: list[StoreAction] = []
    invitation = room.invited.pop(fold(name), None)
    if invitation is not None:
        changes.append(InviteRemoved(room.name, invitation))
    changes.append(_remove_member(state, room, name, user.username, KickReason.KICKED, outcome))
    outcome.store = tuple(changes)
    outcome.reply = ok(request.id, room=room.name, user=name)
    return outcome


def ban(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    aimed = _aimed(state, user, request, "ban from", "the owner cannot ban themself")
    if isinstance(aimed, Outcome):
        return aimed
    room, target = aimed
    outcome = Outcome()
    folded = fold(target)
    changes: list[StoreAction] = []
    if folded not in room.banned:
        if len(room.banned) >= state.limits.max_bans:
            return refuse(
                request,
                ErrorCode.QUOTA_EXCEEDED,
                f"{room.name} has {state.limits.max_bans} bans already; unban someone first",
            )
        room.banned[folded] = target
        changes.append(BanAdded(room.name, target))
        invitation = room.invited.pop(folded, None)
        if invitation is not None:
            changes.append(InviteRemoved(room.name, invitation))
    name = room.member_named(target)
    if name is not None:
        changes.append(_remove_member(state, room, name, user.username, KickReason.BANNED, outcome))
    outcome.store = tuple(changes)
    outcome.reply = ok(request.id, room=room.name, user=target)
    return outcome


def unban(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    return _strike(state, user, request, "unban from", lambda room: room.banned, BanRemoved)


def invite(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    aimed = _aimed(state, user, request, "invite to", "the owner needs no invite")
    if isinstance(aimed, Outcome):
        return aimed
    room, target = aimed
    outcome = Outcome()
    folded = fold(target)
    if folded in room.banned:
        return refuse(request, ErrorCode.BANNED, f"{target} is banned here; unban first")
    if folded not in room.invited:
        if len(room.invited) >= state.limits.max_invites:
            return refuse(
                request,
                ErrorCode.QUOTA_EXCEEDED,
                f"{room.name} has {state.limits.max_invites} invites already",
            )
        room.invited[folded] = target
        outcome.store = (InviteAdded(room.name, target),)
        invitee = state.online.get(state.folded.get(folded, ""))
        if invitee is not None:
            notice = Invited(room.name, user.username)
            outcome.push_to((invitee.session,), push(Event.INVITED, **notice.to_wire()))
    outcome.reply = ok(
        request.id,
        room=room.name,
        user=target,
        member_count=len(room.members),
        capacity=state.room_capacity,
    )
    return outcome


def uninvite(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    return _strike(state, user, request, "uninvite from", lambda room: room.invited, InviteRemoved)


def _strike(
    state: Registry,
    user: OnlineUser,
    request: Request,
    verb: str,
    names: Callable[[Room], dict[str, str]],
    removal: Callable[[str, str], StoreAction],
) -> Outcome:
    """Take the request's target off one of the owner's lists (``names``), if there:
    ``removal`` is the durable fact. Not on it is no error (the list is as asked)."""
    room, outcome = owned_room(state, user, request, verb)
    if room is None:
        return outcome
    assert request.target is not None
    removed = names(room).pop(fold(request.target), None)
    if removed is not None:
        outcome.store = (removal(room.name, removed),)
    outcome.reply = ok(request.id, room=room.name, user=request.target)
    return outcome


def set_room(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    room, outcome = owned_room(state, user, request, "change")
    if room is None:
        return outcome
    invite_only = bool(request.invite_only)
    if invite_only != room.invite_only:
        changes: list[StoreAction] = [RoomModeChanged(room.name, invite_only)]
        if invite_only:
            # Whoever is in the room when it closes may come back.
            for name in room.members:
                folded = fold(name)
                if name != room.owner and folded not in room.invited:
                    room.invited[folded] = name
                    changes.append(InviteAdded(room.name, name))
        room.invite_only = invite_only
        outcome.store = tuple(changes)
        push_update(state, room, outcome)
    outcome.reply = ok(request.id, room=state.room_object(room))
    return outcome


def room_access(state: Registry, user: OnlineUser, request: Request, now: float) -> Outcome:
    room, outcome = owned_room(state, user, request, "see the access lists of")
    if room is None:
        return outcome
    access = RoomAccess(
        room.name,
        room.invite_only,
        tuple(sorted(room.invited.values())),
        tuple(sorted(room.banned.values())),
    )
    outcome.reply = ok(request.id, **access.to_wire())
    return outcome
