"""Owner control: what only a room's owner may do to it. Sans-I/O.

``KICK``, ``BAN``, ``UNBAN``, ``INVITE``, ``UNINVITE``, ``SET_ROOM`` (invite-only or
open) and ``ROOM_ACCESS`` (the lists). Contract (:class:`OwnerControlRules`):

* anyone but the owner gets ``NOT_OWNER``; the owner cannot kick, ban or invite
  themself (``FORBIDDEN``);
* the member removed gets ``KICKED`` (who and why), the others a ``ROOM_UPDATE`` that
  names the removal, so every client drops them at once;
* a ban also removes the user's invite; a banned user cannot be invited;
* an invited user online gets ``INVITED``;
* closing a room (invite-only) invites whoever is in it, so they may come back;
* ban and invite lists are bounded per room (:class:`~tracker.state.registry.StateLimits`);
* each change of the lists or the mode is a durable fact in ``Outcome.store``.
"""

from __future__ import annotations

from collections.abc import Callable

from commons.errors import ErrorCode
from commons.room_control import Departure, Invited, Kicked, KickReason, RoomAccess
from commons.tracker_protocol import Event, Request, ok, push
from tracker.state.registry import OnlineUser, Outcome, Room, StateBase, _fold, _refuse
from tracker.state.room_changes import (
    BanAdded,
    BanRemoved,
    InviteAdded,
    InviteRemoved,
    RoomModeChanged,
    StoreAction,
)


class OwnerControlRules(StateBase):
    """The commands of a room's owner."""

    def _remove_member(
        self, room: Room, name: str, by: str, reason: KickReason, outcome: Outcome
    ) -> None:
        """Take ``name`` out of ``room``: it gets ``KICKED``, the others ``ROOM_UPDATE``."""
        member = self.online.get(name)
        if member is None or member.room != room.name:
            return
        notice = Kicked(room.name, by, reason)
        outcome.push_to((member.session,), push(Event.KICKED, **notice.to_wire()))
        self._leave_room(member, outcome, Departure(str(reason)))

    def _aimed(
        self, user: OnlineUser, request: Request, verb: str, itself: str
    ) -> tuple[Room, str] | Outcome:
        """The request's room and target if ``user`` owns the room and aims at someone
        else, else the refusal to send (``itself``: why the owner cannot be the target)."""
        room, refused = self._owned_room(user, request, verb)
        if room is None:
            return refused
        target = request.target
        assert target is not None
        if _fold(target) == _fold(user.username):
            return _refuse(request, ErrorCode.FORBIDDEN, itself)
        return room, target

    def _kick(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        aimed = self._aimed(user, request, "kick from", "the owner cannot kick themself")
        if isinstance(aimed, Outcome):
            return aimed
        room, target = aimed
        name = room.member_named(target)
        if name is None:
            return _refuse(request, ErrorCode.NOT_IN_ROOM, f"{target} is not in {room.name}")
        outcome = Outcome()
        invite = room.invited.pop(_fold(name), None)
        if invite is not None:
            outcome.store = (InviteRemoved(room.name, invite),)
        self._remove_member(room, name, user.username, KickReason.KICKED, outcome)
        outcome.reply = ok(request.id, room=room.name, user=name)
        return outcome

    def _ban(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        aimed = self._aimed(user, request, "ban from", "the owner cannot ban themself")
        if isinstance(aimed, Outcome):
            return aimed
        room, target = aimed
        outcome = Outcome()
        folded = _fold(target)
        if folded not in room.banned:
            if len(room.banned) >= self.limits.max_bans:
                return _refuse(
                    request,
                    ErrorCode.QUOTA_EXCEEDED,
                    f"{room.name} has {self.limits.max_bans} bans already; unban someone first",
                )
            room.banned[folded] = target
            changes: list[StoreAction] = [BanAdded(room.name, target)]
            invite = room.invited.pop(folded, None)
            if invite is not None:
                changes.append(InviteRemoved(room.name, invite))
            outcome.store = tuple(changes)
        name = room.member_named(target)
        if name is not None:
            self._remove_member(room, name, user.username, KickReason.BANNED, outcome)
        outcome.reply = ok(request.id, room=room.name, user=target)
        return outcome

    def _unban(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        return self._strike(user, request, "unban from", lambda room: room.banned, BanRemoved)

    def _invite(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        aimed = self._aimed(user, request, "invite to", "the owner needs no invite")
        if isinstance(aimed, Outcome):
            return aimed
        room, target = aimed
        outcome = Outcome()
        folded = _fold(target)
        if folded in room.banned:
            return _refuse(request, ErrorCode.BANNED, f"{target} is banned here; unban first")
        if folded not in room.invited:
            if len(room.invited) >= self.limits.max_invites:
                return _refuse(
                    request,
                    ErrorCode.QUOTA_EXCEEDED,
                    f"{room.name} has {self.limits.max_invites} invites already",
                )
            room.invited[folded] = target
            outcome.store = (InviteAdded(room.name, target),)
            invitee = self.online.get(self._folded.get(folded, ""))
            if invitee is not None:
                notice = Invited(room.name, user.username)
                outcome.push_to((invitee.session,), push(Event.INVITED, **notice.to_wire()))
        outcome.reply = ok(request.id, room=room.name, user=target)
        return outcome

    def _uninvite(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        return self._strike(
            user, request, "uninvite from", lambda room: room.invited, InviteRemoved
        )

    def _strike(
        self,
        user: OnlineUser,
        request: Request,
        verb: str,
        names: Callable[[Room], dict[str, str]],
        removal: Callable[[str, str], StoreAction],
    ) -> Outcome:
        """Take the request's target off one of the owner's lists (``names``), if there:
        ``removal`` is the durable fact. Not on it is no error (the list is as asked)."""
        room, outcome = self._owned_room(user, request, verb)
        if room is None:
            return outcome
        assert request.target is not None
        removed = names(room).pop(_fold(request.target), None)
        if removed is not None:
            outcome.store = (removal(room.name, removed),)
        outcome.reply = ok(request.id, room=room.name, user=request.target)
        return outcome

    def _set_room(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, outcome = self._owned_room(user, request, "change")
        if room is None:
            return outcome
        invite_only = bool(request.invite_only)
        if invite_only != room.invite_only:
            changes: list[StoreAction] = [RoomModeChanged(room.name, invite_only)]
            if invite_only:
                # Whoever is in the room when it closes may come back.
                for name in room.members:
                    folded = _fold(name)
                    if name != room.owner and folded not in room.invited:
                        room.invited[folded] = name
                        changes.append(InviteAdded(room.name, name))
            room.invite_only = invite_only
            outcome.store = tuple(changes)
            self._push_update(room, outcome)
        outcome.reply = ok(request.id, room=self.room_info(room).to_wire())
        return outcome

    def _room_access(self, user: OnlineUser, request: Request, now: float) -> Outcome:
        room, outcome = self._owned_room(user, request, "see the access lists of")
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
