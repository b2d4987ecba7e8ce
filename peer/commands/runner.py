"""Runs a command both front ends share on a chat client: :func:`execute`.

Both front ends call :func:`execute` for the commands they share and get a typed result
(:mod:`peer.commands.results`) or a :class:`commons.errors.P2PChatError`. It runs on the one
client there is, :class:`peer.client.chat_client.ChatClient` (same level, no cycle): the tests
run it on real clients, so no Protocol repeats the facade's signatures.
"""

from __future__ import annotations

from typing import assert_never

from commons.errors import ErrorCode, P2PChatError
from commons.models import decode_identity_key
from peer.client.chat_client import ChatClient
from peer.commands import table as cmd
from peer.commands.results import (
    AccessListed,
    Bye,
    ContactFingerprint,
    Deleted,
    Forgotten,
    Joined,
    Left,
    LoggedIn,
    MemberPresence,
    MyRoom,
    MyRoomsListed,
    OwnFingerprint,
    PeerEntry,
    PeersListed,
    PendingKey,
    Registered,
    Rejected,
    Result,
    RoomCreated,
    RoomEntry,
    RoomModeSet,
    RoomsListed,
    RoomSwitched,
    Sent,
    Signalled,
    Trusted,
    UserControlled,
    UsersListed,
    Verified,
)
from peer.core.actions import SentMessage
from peer.errors import NotInRoomError
from peer.session.pins import endpoint_key

#: The commands both front ends run through :func:`execute`.
SharedCommand = (
    cmd.Register
    | cmd.Login
    | cmd.ListPeers
    | cmd.ListRooms
    | cmd.CreateRoom
    | cmd.ControlUser
    | cmd.SetInviteOnly
    | cmd.ShowAccess
    | cmd.JoinRoom
    | cmd.LeaveRoom
    | cmd.MyRooms
    | cmd.SwitchRoom
    | cmd.DeleteRoom
    | cmd.ListUsers
    | cmd.SendPrivate
    | cmd.SendRoom
    | cmd.Reply
    | cmd.SendAction
    | cmd.React
    | cmd.EditMessage
    | cmd.Unsend
    | cmd.SetTyping
    | cmd.MarkRead
    | cmd.ShowFingerprint
    | cmd.Trust
    | cmd.Verify
    | cmd.Reject
    | cmd.Forget
    | cmd.Quit
)


def _endpoint(address: tuple[str, int] | None) -> str | None:
    return None if address is None else endpoint_key(*address)


def _sent(sent: SentMessage) -> Sent:
    to = sent.recipients[0] if sent.room is None else None
    return Sent(sent.room, to, sent.msg_id, list(sent.recipients))


def fingerprint_result(
    client: ChatClient, username: str | None
) -> OwnFingerprint | ContactFingerprint:
    if username is None or username == client.username:
        return OwnFingerprint(client.username, client.fingerprint())
    state = client.trust_state(username)
    pinned = client.pinned_key(username)
    pending = [
        PendingKey(client.fingerprint(key=key), client.safety_number(username, key))
        for key in client.pending_keys(username)
    ]
    return ContactFingerprint(
        username,
        client.fingerprint(username),
        client.safety_number(username),
        None if state is None else str(state),
        None if pinned is None else client.fingerprint(key=pinned),
        pending,
    )


async def refresh_key(client: ChatClient, username: str) -> None:
    """Ask the tracker for ``username``'s key now (``LOOKUP``), so a key to show or to
    verify is current. Offline, or the tracker out of reach: what is known will do (the
    pinned key); a user with no key known at all stays an error for the caller."""
    try:
        await client.look_up(username)
    except P2PChatError as exc:
        if exc.code not in (ErrorCode.USER_OFFLINE, ErrorCode.NOT_CONNECTED, ErrorCode.TIMEOUT):
            raise


_OWNER_ACTIONS = {
    cmd.OwnerAction.KICK: lambda c, u, r: c.kick(u, r),
    cmd.OwnerAction.BAN: lambda c, u, r: c.ban(u, r),
    cmd.OwnerAction.UNBAN: lambda c, u, r: c.unban(u, r),
    cmd.OwnerAction.UNINVITE: lambda c, u, r: c.uninvite(u, r),
}


def my_room(client: ChatClient, name: str) -> MyRoom:
    """One of our rooms as ``/rooms`` lists it."""
    members = [MemberPresence(m.username, m.online) for m in client.room_members(name)]
    return MyRoom(name, client.room_owner_of(name) or "", client.room_capacity(name), members)


async def execute(client: ChatClient, command: SharedCommand, *, wait: bool = False) -> Result:
    """Run one command; errors raise :class:`commons.errors.P2PChatError`.

    ``wait``: a message waits for room in its recipients' backlogs instead of failing
    ``backlog_full`` (the batch mode: a script is slowed down, never loses messages)."""
    match command:
        case cmd.Register(username, password):
            await client.register(username, password)
            return Registered(username)
        case cmd.Login(username, password, replace_key):
            await client.login(username, password, replace_key)
            return LoggedIn(username, client.fingerprint(), _endpoint(client.listen_address))
        case cmd.ListPeers(cursor):
            peers = await client.list_peers(cursor)
            entries = [
                PeerEntry(
                    p.username,
                    p.room,
                    client.fingerprint(key=decode_identity_key(p.identity_key)),
                )
                for p in peers.peers
            ]
            return PeersListed(entries, peers.page.total, peers.page.next_cursor)
        case cmd.ListRooms(cursor):
            rooms = await client.list_rooms(cursor)
            listed = [RoomEntry.of(r) for r in rooms.rooms]
            return RoomsListed(listed, rooms.page.total, rooms.page.next_cursor)
        case cmd.CreateRoom(room, invite_only, relay_only):
            info = await client.create_room(room, invite_only, relay_only=relay_only)
            return RoomCreated.of(info, relay_only)
        case cmd.ControlUser(cmd.OwnerAction.INVITE as action, username, room):
            invited = await client.invite(username, room)
            return UserControlled(
                action, invited.room, invited.user, invited.member_count, invited.capacity
            )
        case cmd.ControlUser(action, username, room):
            done_room, done_user = await _OWNER_ACTIONS[action](client, username, room)
            return UserControlled(action, done_room, done_user)
        case cmd.SetInviteOnly(invite_only, room):
            info = await client.set_invite_only(invite_only, room)
            return RoomModeSet(info.name, info.invite_only)
        case cmd.ShowAccess(room):
            access = await client.room_access(room)
            return AccessListed(
                access.room, access.invite_only, list(access.invited), list(access.banned)
            )
        case cmd.JoinRoom(room, relay_only):
            members = await client.join_room(room, relay_only=relay_only)
            return Joined(room, client.room_owner, members, relay_only)
        case cmd.LeaveRoom(room):
            return Left(await client.leave_room(room))
        case cmd.MyRooms():
            return MyRoomsListed([my_room(client, name) for name in client.rooms])
        case cmd.SwitchRoom(room):
            if room not in client.rooms:
                raise NotInRoomError(f"you are not in {room}: /join {room} first")
            return RoomSwitched(room)
        case cmd.DeleteRoom(room):
            await client.delete_room(room)
            return Deleted(room)
        case cmd.ListUsers(room):
            shown = room if room in client.rooms else client.room
            return UsersListed(
                shown,
                None if shown is None else client.room_owner_of(shown),
                [] if shown is None else client.present_members(shown),
                client.connected_peers,
                client.channel_paths,
            )
        case cmd.SendPrivate(username, text):
            sent = await client.send_private(username, text, wait=wait)
            return Sent(None, username, sent.msg_id, list(sent.recipients))
        case cmd.SendRoom(text, room):
            target = room if room is not None else client.room
            if target is None:
                raise NotInRoomError("join a room first (or use a private message)")
            sent = await client.send_room(target, text, wait=wait)
            return Sent(sent.room, None, sent.msg_id, list(sent.recipients))
        case cmd.Reply(msg_id, text):
            return _sent(await client.reply(msg_id, text, wait=wait))
        case cmd.SendAction(text, room):
            return _sent(await client.send_me(text, room=room, wait=wait))
        case cmd.React(msg_id, emoji, on):
            return _sent(await client.react(msg_id, emoji, on=on, wait=wait))
        case cmd.EditMessage(msg_id, text):
            return _sent(await client.edit(msg_id, text, wait=wait))
        case cmd.Unsend(msg_id):
            return _sent(await client.delete(msg_id, wait=wait))
        case cmd.SetTyping(active, username, room):
            target = None if username else (room if room is not None else client.room)
            went = client.typing(active, room=target, user=username)
            return Signalled("typing", target, username, went)
        case cmd.MarkRead(msg_id):
            where = client.locate(msg_id).conversation
            return Signalled("read", where.room, where.peer, client.mark_read(msg_id))
        case cmd.ShowFingerprint(username):
            if username is not None and username != client.username:
                await refresh_key(client, username)
            return fingerprint_result(client, username)
        case cmd.Trust(username, typed):
            key = client.key_to_trust(username, typed)
            await client.trust(username, key)
            return Trusted(username, client.fingerprint(key=key))
        case cmd.Verify(username, typed):
            key = client.key_to_verify(username, typed)
            await client.verify(username, key)
            return Verified(username, client.fingerprint(key=key))
        case cmd.Reject(username):
            refused = await client.reject(username)
            kept = client.pinned_key(username)
            return Rejected(
                username,
                None if kept is None else client.fingerprint(key=kept),
                [client.fingerprint(key=k) for k in refused],
            )
        case cmd.Forget(username):
            pinned = client.pinned_key(username)
            await client.forget(username)
            assert pinned is not None  # forget refuses a contact with no pin
            return Forgotten(username, client.fingerprint(key=pinned))
        case cmd.Quit():
            await client.close()
            return Bye()
    assert_never(command)
