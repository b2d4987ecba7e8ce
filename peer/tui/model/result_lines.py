"""Command results as chat lines: the terminal chat's rendering of
:mod:`peer.commands.results` (the batch mode writes the same results as JSON).

Some results make the model stale: after ``/join`` the room and its members changed,
after ``/peers`` the trust states shown beside each name must be current.
:func:`refresh_for` says what to copy from the client (a :class:`Refresh`); the controller
copies it, then :func:`show_result` draws the lines from the model as it is then, and
moves the screen along (after ``/join`` the room's buffer is shown). Neither knows the
controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from crypto.pinning import TrustState
from peer.commands import results as res
from peer.commands.table import OwnerAction
from peer.tui.model.buffers import LineKind, room_buffer
from peer.tui.model.chat_model import ChatModel
from peer.tui.model.rendering import plural, trust_label


@dataclass(frozen=True, slots=True)
class Refresh:
    """What a result made stale in the model: ``room`` (the client's room, owner and
    members, with the members' trust states) and the trust states of the users in
    ``trust``."""

    room: bool = False
    trust: tuple[str, ...] = ()


def refresh_for(result: res.Result) -> Refresh:
    """What to copy from the client into the model before ``result`` is drawn."""
    match result:
        case res.RoomCreated() | res.Joined() | res.Left() | res.Deleted():
            return Refresh(room=True)
        case res.PeersListed():
            return Refresh(trust=tuple(peer.user for peer in result.peers))
        case res.ContactFingerprint():
            return Refresh(trust=(result.user,))
        case (
            res.Registered()
            | res.LoggedIn()
            | res.RoomsListed()
            | res.MyRoomsListed()
            | res.RoomSwitched()
            | res.UserControlled()
            | res.RoomModeSet()
            | res.AccessListed()
            | res.UsersListed()
            | res.Sent()
            | res.Signalled()
            | res.OwnFingerprint()
            | res.Trusted()
            | res.Verified()
            | res.Rejected()
            | res.Bye()
        ):
            return Refresh()
        case res.Forgotten():
            return Refresh(trust=(result.user,))
        case _:
            assert_never(result)


def show_result(model: ChatModel, result: res.Result, room_before: str | None) -> None:
    """Draw ``result`` into ``model``, already refreshed as :func:`refresh_for` said.

    ``room_before`` is the model's room before that refresh: a ``/delete`` of the room we
    were in is announced by its ``RoomDeleted`` event in the room's buffer, not here.
    """
    match result:
        case res.RoomCreated(room, relay_only=relay_only):
            model.deleted_rooms.discard(room)
            model.banned_from.discard(room)
            if room in model.joined:
                model.buffers.switch_to(room_buffer(room))
                model.notice(f"created #{room}; you own it and are its first member")
                _relay_only_notice(model, relay_only)
            else:
                model.notice(f"created #{room}; /join {room} to enter it")
        case res.Joined(room, relay_only=relay_only):
            _entered(model, room)
            _relay_only_notice(model, relay_only)
        case res.Left(room):
            model.notice(f"you left #{room}" if room else "you are not in a room")
        case res.Deleted(room):
            if room != room_before:
                model.notice(f"deleted room #{room}")
        case res.PeersListed():
            _peers(model, result)
        case res.RoomsListed():
            _rooms(model, result)
        case res.MyRoomsListed():
            _my_rooms(model, result)
        case res.RoomSwitched():
            pass  # batch only: the terminal chat switches buffers itself
        case res.UserControlled(action, room, user, member_count, capacity):
            model.notice(f"{_DONE[action]} {user} in #{room}")
            if result.full:
                model.notice(
                    f"  #{room} is full ({member_count}/{capacity}): {user} can join"
                    " once someone leaves"
                )
        case res.RoomModeSet(room, invite_only):
            mode = "invite-only: /invite USER lets someone in" if invite_only else "open to all"
            model.notice(f"#{room} is now {mode}")
        case res.AccessListed(room, invite_only, invited, banned):
            model.notice(f"#{room} is {'invite-only' if invite_only else 'open to all'}")
            model.notice(f"  invited: {', '.join(invited) or '-'}")
            model.notice(f"  banned: {', '.join(banned) or '-'}")
        case res.UsersListed(paths=paths):
            _members(model, paths)
        case res.OwnFingerprint(_, fingerprint):
            model.notice(f"your identity key fingerprint: {fingerprint}")
        case res.ContactFingerprint(user, fingerprint, number):
            _contact_fingerprint(model, user, fingerprint, number)
        case res.Registered() | res.LoggedIn() | res.Sent() | res.Signalled() | res.Bye():
            pass  # the login screen and the send path handle these themselves
        case res.Trusted() | res.Verified() | res.Rejected():
            pass  # the controller runs trust decisions itself, with the key shown
        case res.Forgotten(user, fingerprint):
            model.forget(user)
            model.notice(
                f"forgot {user}: their pinned key {fingerprint} and every decision about"
                " their keys are dropped; the next key they present is pinned once you"
                " write to them again"
            )
        case _:
            assert_never(result)


def _my_rooms(model: ChatModel, listed: res.MyRoomsListed) -> None:
    """Our rooms in join order, each member marked online (●) or offline (○)."""
    if not listed.rooms:
        model.notice("you are in no room: /list shows the rooms, /join ROOM enters one")
        return
    model.notice(f"your rooms ({len(listed.rooms)}), ● online ○ offline:")
    for room in listed.rooms:
        online = sum(m.online for m in room.members)
        marks = ", ".join(f"{'●' if m.online else '○'} {m.user}" for m in room.members)
        head = f"  #{room.room} ({room.owner}'s, {len(room.members)}/{room.capacity},"
        model.notice(f"{head} {online} online): {marks}")


def _state_label(model: ChatModel, username: str) -> str:
    if username == model.username:
        return " (you)"
    return f" [{trust_label(model.verification_of(username))}]"


def _entered(model: ChatModel, room: str) -> None:
    model.buffers.switch_to(room_buffer(room))
    others = [m for m in model.members if m != model.username]
    who = ", ".join(others) if others else "nobody else yet"
    model.notice(f"you joined #{room}; here: {who}")
    if model.replaced_key and others:
        model.add(
            room_buffer(room),
            LineKind.WARNING,
            "you replaced your identity key this session: members who knew the old one"
            " refuse your channel (and get none of your messages) until they accept the"
            " new key; the status buffer (F1) says who refused",
        )


def _relay_only_notice(model: ChatModel, relay_only: bool) -> None:
    if relay_only:
        model.notice(
            "relay-only: the members get no address of yours; every channel to them goes"
            " through the tracker's relay (\u21c4 relay), still end-to-end encrypted"
        )


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


def _peers(model: ChatModel, listed: res.PeersListed) -> None:
    if not listed.peers:
        model.notice("nobody is online")
        return
    model.notice(f"{plural(listed.total, 'user')} online:")
    model.remember(users=[p.user for p in listed.peers])
    for peer in sorted(listed.peers, key=lambda p: p.user.lower()):
        where = f"in #{peer.room}" if peer.room else "in no room"
        model.notice(f"  {peer.user} ({where}){_state_label(model, peer.user)}")
    _more(model, len(listed.peers), listed.total, "/peers", listed.next)


def _rooms(model: ChatModel, listed: res.RoomsListed) -> None:
    if not listed.rooms:
        model.notice("no rooms yet: /create ROOM")
        return
    model.notice(f"{plural(listed.total, 'room')}:")
    model.rooms_listed(r.room for r in listed.rooms)
    for room in sorted(listed.rooms, key=lambda r: r.room.lower()):
        mode = "  invite-only" if room.invite_only else ""
        model.notice(
            f"  #{room.room}  {len(room.members)}/{room.capacity}  owner {room.owner}{mode}"
            f"  members: {', '.join(room.members) or '-'}"
        )
    _more(model, len(listed.rooms), listed.total, "/list", listed.next)


def _members(model: ChatModel, paths: dict[str, str]) -> None:
    if model.room is None:
        model.error("you are not in a room")
        return
    model.notice(f"members of #{model.room}:")
    for member in model.members:
        path = f" ({paths[member]})" if member in paths else ""
        model.notice(f"  {member}{_state_label(model, member)}{path}")


def _contact_fingerprint(model: ChatModel, user: str, fingerprint: str, number: str) -> None:
    state = model.verification_of(user)
    model.notice(f"{user}'s identity key fingerprint: {fingerprint} [{trust_label(state)}]")
    if state is TrustState.KEY_CHANGED:
        model.add(
            model.buffers.current.id,
            LineKind.WARNING,
            f"that is {user}'s NEW key; safety number for it: {number}",
        )
    else:
        model.notice(f"safety number with {user}: {number}")
