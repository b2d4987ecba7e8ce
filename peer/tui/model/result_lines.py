"""Command results as chat lines: the terminal chat's rendering of
:mod:`peer.commands.results` (the batch mode writes the same results as JSON).

Some results also move the screen along: after ``/join`` the room's buffer is shown,
after ``/trust`` the members panel shows the contact unverified again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_never

from peer.commands import results as res
from peer.commands.table import OwnerAction
from peer.tui.model.buffers import LineKind, room_buffer
from peer.tui.model.chat_model import ChatModel, Verification
from peer.tui.model.rendering import plural

if TYPE_CHECKING:
    from peer.tui.model.controller import ChatController


def show_result(controller: ChatController, result: res.Result) -> None:
    model = controller.model
    match result:
        case res.RoomCreated(room):
            controller.refresh_room()
            if model.room == room:
                model.buffers.switch_to(room_buffer(room))
                model.notice(f"created #{room}; you own it and are its first member")
            else:
                model.notice(f"created #{room}; /join {room} to enter it")
        case res.Joined(room):
            controller.refresh_room()
            controller.entered_room(room)
        case res.Left(room):
            controller.refresh_room()
            model.notice(f"you left #{room}" if room else "you are not in a room")
        case res.Deleted(room):
            was_in = room == model.room
            controller.refresh_room()
            if not was_in:  # otherwise the RoomDeleted event says it in the room's buffer
                model.notice(f"deleted room #{room}")
        case res.PeersListed():
            _peers(controller, result)
        case res.RoomsListed():
            _rooms(controller, result)
        case res.UserControlled(action, room, user):
            model.notice(f"{_DONE[action]} {user} in #{room}")
        case res.RoomModeSet(room, invite_only):
            mode = "invite-only: /invite USER lets someone in" if invite_only else "open to all"
            model.notice(f"#{room} is now {mode}")
        case res.AccessListed(room, invite_only, invited, banned):
            model.notice(f"#{room} is {'invite-only' if invite_only else 'open to all'}")
            model.notice(f"  invited: {', '.join(invited) or '-'}")
            model.notice(f"  banned: {', '.join(banned) or '-'}")
        case res.UsersListed(paths=paths):
            _members(controller, paths)
        case res.OwnFingerprint(_, fingerprint):
            model.notice(f"your identity key fingerprint: {fingerprint}")
        case res.ContactFingerprint(user, fingerprint, number):
            _contact_fingerprint(controller, user, fingerprint, number)
        case res.Registered() | res.LoggedIn() | res.Sent() | res.Bye():
            pass  # the login screen and the send path handle these themselves
        case res.Trusted() | res.Verified() | res.Rejected():
            pass  # the controller runs trust decisions itself, with the key shown
        case _:
            assert_never(result)


def _state_label(controller: ChatController, username: str) -> str:
    if username == controller.model.username:
        return " (you)"
    return f" [{controller.model.verification_of(username)}]"


_DONE = {
    OwnerAction.KICK: "kicked",
    OwnerAction.BAN: "banned",
    OwnerAction.UNBAN: "lifted the ban on",
    OwnerAction.INVITE: "invited",
    OwnerAction.UNINVITE: "withdrew the invite of",
}


def _more(model: ChatModel, shown: int, total: int, command: str, cursor: str | None) -> None:
    if cursor is not None:
        model.notice(f"{shown:,} of {total:,} shown; {command} {cursor} shows the next ones")


def _peers(controller: ChatController, listed: res.PeersListed) -> None:
    model = controller.model
    if not listed.peers:
        model.notice("nobody is online")
        return
    model.notice(f"{plural(listed.total, 'user')} online:")
    model.remember(users=[p.user for p in listed.peers])
    for peer in sorted(listed.peers, key=lambda p: p.user.lower()):
        where = f"in #{peer.room}" if peer.room else "in no room"
        controller.refresh_trust(peer.user)
        model.notice(f"  {peer.user} ({where}){_state_label(controller, peer.user)}")
    _more(model, len(listed.peers), listed.total, "/peers", listed.next)


def _rooms(controller: ChatController, listed: res.RoomsListed) -> None:
    model = controller.model
    if not listed.rooms:
        model.notice("no rooms yet: /create ROOM")
        return
    model.notice(f"{plural(listed.total, 'room')}:")
    model.remember(rooms=[r.room for r in listed.rooms])
    for room in sorted(listed.rooms, key=lambda r: r.room.lower()):
        mode = "  invite-only" if room.invite_only else ""
        model.notice(
            f"  #{room.room}  {len(room.members)}/{room.capacity}  owner {room.owner}{mode}"
            f"  members: {', '.join(room.members) or '-'}"
        )
    _more(model, len(listed.rooms), listed.total, "/rooms", listed.next)


def _members(controller: ChatController, paths: dict[str, str]) -> None:
    model = controller.model
    if model.room is None:
        model.error("you are not in a room")
        return
    model.notice(f"members of #{model.room}:")
    for member in model.members:
        path = f" ({paths[member]})" if member in paths else ""
        model.notice(f"  {member}{_state_label(controller, member)}{path}")


def _contact_fingerprint(
    controller: ChatController, user: str, fingerprint: str, number: str
) -> None:
    model = controller.model
    controller.refresh_trust(user)
    state = model.verification_of(user)
    model.notice(f"{user}'s identity key fingerprint: {fingerprint} [{state}]")
    if state is Verification.KEY_CHANGED:
        model.add(
            model.buffers.current.id,
            LineKind.WARNING,
            f"that is {user}'s NEW key; safety number for it: {number}",
        )
    else:
        model.notice(f"safety number with {user}: {number}")
