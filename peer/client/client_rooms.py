"""The client's tracker commands: finding users, listing, rooms and their owner's control.

A part of the :class:`peer.client.chat_client.ChatClient` facade. No feature reads the whole user
list: ``look_up`` asks for one user (``LOOKUP``), and the lists come a page at a time
(``list_peers``/``list_rooms`` with the cursor of the previous page). A room's owner
kicks, bans, unbans, invites and uninvites users, makes the room invite-only and reads
its access lists; the commands name a room, or mean the current one.
"""

from __future__ import annotations

from commons.errors import ErrorCode, P2PChatError
from commons.models import PeerInfo, RoomInfo, validate_room_name, validate_username
from commons.room_control import RoomAccess
from commons.tracker_protocol import Command
from peer.client.client_base import ClientBase
from peer.errors import NotInRoomError
from peer.session.messages import PeerPage, RoomPage


class RoomCommands(ClientBase):
    async def look_up(self, username: str) -> PeerInfo:
        """``username`` as the tracker lists them now (``user_offline`` if they are not
        online); their key is remembered for ``fingerprint`` and ``safety_number``."""
        driver, _ = self._require()
        return await driver.lookups.look_up(validate_username(username))

    async def list_peers(self, cursor: str | None = None, limit: int | None = None) -> PeerPage:
        """One page of online users in name order (``page.next_cursor``: the next)."""
        self._require()
        return await self._session.list_peers(cursor, limit)

    async def list_rooms(self, cursor: str | None = None, limit: int | None = None) -> RoomPage:
        """One page of rooms in name order (``page.next_cursor``: the next)."""
        self._require()
        return await self._session.list_rooms(cursor, limit)

    async def create_room(self, name: str, invite_only: bool = False) -> RoomInfo:
        """Create ``name``; the tracker makes the creator its owner and first member."""
        driver, _ = self._require()
        name = validate_room_name(name)
        driver.joining(name)
        info = await self._session.create_room(name, invite_only)
        if driver.core.me in info.members:
            driver.room_entered(info, [])
        return info

    async def join_room(self, name: str) -> list[str]:
        """Join ``name`` and open channels to its members; returns the member names."""
        driver, _ = self._require()
        name = validate_room_name(name)
        driver.joining(name)
        reply = await self._session.join_room(name)
        driver.room_entered(reply.room, reply.members)
        return self.members

    async def leave_room(self) -> None:
        """Send a leave notice to every member, tell the tracker, close room-only channels."""
        driver, _ = self._require()
        room = driver.core.room
        if room is None:
            raise NotInRoomError("you are not in a room")
        driver.apply(driver.core.leave_notices())
        await driver.drain(room.others())
        try:
            await self._session.leave_room()
        except P2PChatError as exc:
            if exc.code not in (ErrorCode.NOT_IN_ROOM, ErrorCode.NOT_CONNECTED, ErrorCode.TIMEOUT):
                raise
        finally:
            if driver.core.room is room:
                driver.apply(driver.core.room_closed(deleted=False))

    async def delete_room(self, name: str) -> None:
        """Delete ``name`` (owner only); members are told by the tracker."""
        driver, _ = self._require()
        name = validate_room_name(name)
        await self._session.delete_room(name)
        if self.room == name:
            driver.apply(driver.core.room_closed(deleted=True))

    # ------------------------------------------------------------------ owner control

    def _room_named(self, room: str | None) -> str:
        if room is not None:
            return validate_room_name(room)
        if self.room is None:
            raise NotInRoomError("name the room: you are not in one")
        return self.room

    async def _on_user(self, cmd: Command, username: str, room: str | None) -> tuple[str, str]:
        self._require()
        user = validate_username(username)
        return await self._session.room_target(cmd, self._room_named(room), user)

    async def kick(self, username: str, room: str | None = None) -> tuple[str, str]:
        """Remove ``username`` from the room (owner only); they may join again (unless
        the room is invite-only). Returns the room and the member's exact name."""
        return await self._on_user(Command.KICK, username, room)

    async def ban(self, username: str, room: str | None = None) -> tuple[str, str]:
        """Ban ``username`` from the room (and remove them if they are in it)."""
        return await self._on_user(Command.BAN, username, room)

    async def unban(self, username: str, room: str | None = None) -> tuple[str, str]:
        return await self._on_user(Command.UNBAN, username, room)

    async def invite(self, username: str, room: str | None = None) -> tuple[str, str]:
        """Invite ``username`` (they are told if online); needed to join an invite-only room."""
        return await self._on_user(Command.INVITE, username, room)

    async def uninvite(self, username: str, room: str | None = None) -> tuple[str, str]:
        """Withdraw an invite (a member stays a member)."""
        return await self._on_user(Command.UNINVITE, username, room)

    async def set_invite_only(self, invite_only: bool, room: str | None = None) -> RoomInfo:
        """Make the room invite-only (whoever is in it is invited) or open again."""
        self._require()
        return await self._session.set_room(self._room_named(room), invite_only)

    async def room_access(self, room: str | None = None) -> RoomAccess:
        """The room's mode, invite list and ban list (owner only)."""
        self._require()
        return await self._session.room_access(self._room_named(room))
