"""The tracker session shell: login, heartbeat, reconnect, typed requests and pushes.

Around one :class:`peer.session.link.TrackerLink`:

* Before login the link is opened on demand: the tracker closes connections that do not
  log in within its timeout (10 s by default), so ``register`` and ``login`` connect
  again whenever the link is down, however long the user waited. Such a drop is not a
  loss worth reporting.
* After login a lost link is reported to the :class:`SessionHandler` (``lost``) and
  retried with exponential backoff (0.5 s doubling to 30 s, +-20% jitter): ``RESUME``
  with the resumption ticket of the last LOGIN or RESUME (no Argon2 on either side; the
  reply brings the next ticket), or, if the tracker refuses the ticket (expired,
  revoked, reused), ``LOGIN`` with the cached login secret and the same key; then the
  handler's ``restored`` (the client joins its room again). The ticket and the secret
  live only in this object's memory. A tracker whose certificate no longer verifies
  stops the retries (``failed``). ``SESSION_REPLACED`` ends the session;
  ``SESSION_ENDED`` (someone presented a spent ticket of ours) drops the ticket.
* Replies come back typed (:mod:`peer.session.messages`), and so do pushes; the relay's
  pushes go to the :class:`RelaySink` (:class:`peer.channels.relay.RelayLinks`), which also
  hears every loss of the link, and :meth:`TrackerSession.send_relay` writes ``RELAY``
  frames in order with the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any, Protocol

from commons.codec import JsonObject
from commons.errors import ErrorCode, P2PChatError
from commons.models import PeerInfo, RoomInfo
from commons.relay_frames import RelayedBody, RelayEnded, relay_request
from commons.room_control import RoomAccess
from commons.tracker_protocol import Command
from peer.config import PeerConfig
from peer.errors import TrackerUntrustedError
from peer.session.link import TrackerLink
from peer.session.login_memory import TrackerIdentity
from peer.session.messages import (
    InviteReply,
    JoinReply,
    LoginReply,
    PeerPage,
    RoomPage,
    SaltReply,
    SessionEndedPush,
    SessionReplacedPush,
    TrackerPush,
    parse_created,
    parse_lookup,
    parse_push,
    parse_room_target,
)
from peer.session.pins import endpoint_key
from peer.session.wire import Push
from peer.supervisor import TaskSupervisor

#: The room commands that name a user: ``(room, user)`` in, ``(room, user)`` back
#: (``INVITE`` says more: :meth:`TrackerSession.invite`).
ROOM_TARGET_COMMANDS = frozenset({Command.KICK, Command.BAN, Command.UNBAN, Command.UNINVITE})

log = logging.getLogger(__name__)


class SessionHandler(Protocol):
    def pushed(self, push: TrackerPush) -> None: ...
    def lost(self, detail: str) -> None: ...
    async def restored(self) -> None: ...
    def failed(self, error: P2PChatError) -> None: ...


#: RESUME refusals after which a full LOGIN is worth trying.
_TICKET_REFUSALS = {ErrorCode.TICKET_INVALID, ErrorCode.TICKET_REUSED, ErrorCode.RATE_LIMITED}


class RelaySink(Protocol):
    def received(self, push: RelayedBody) -> None: ...
    def ended(self, push: RelayEnded) -> None: ...
    def lost(self, detail: str) -> None: ...


@dataclass(frozen=True, slots=True)
class _Login:
    """What a LOGIN carries, kept (the login secret, never the password) to log in again."""

    username: str
    secret: str
    identity_key: str
    port: int | None
    host: str | None

    def __repr__(self) -> str:
        return f"_Login({self.username!r}, <hidden>)"


class TrackerSession:
    def __init__(self, config: PeerConfig, handler: SessionHandler, tasks: TaskSupervisor) -> None:
        self._config = config
        self._handler = handler
        self._tasks = tasks
        self._link = TrackerLink(config, self._on_push, self._on_lost, tasks)
        self._login: _Login | None = None
        self._ticket: str | None = None
        self._ended: str | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._closing = False
        self.replaced = False
        self.relay: RelaySink | None = None
        #: The last LOGIN reply (the address the tracker sees, whether it relays).
        self.login_reply: LoginReply | None = None

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def fingerprint(self) -> str | None:
        return self._link.fingerprint

    @property
    def pinned_now(self) -> bool:
        """The last connection pinned the tracker's certificate on first use."""
        return self._link.pinned_now

    @property
    def tracker_identity(self) -> TrackerIdentity:
        """The address the user gave and the certificate of the last connection (what
        :mod:`peer.session.login_memory` remembers a tracker by)."""
        return TrackerIdentity(endpoint_key(*self._config.tracker), self._link.fingerprint)

    @property
    def tracker_address(self) -> str | None:
        """The tracker's IP address, as connected to."""
        return self._link.address

    async def connect(self) -> None:
        await self._link.connect()

    async def _request(self, cmd: Command, **fields: Any) -> JsonObject:
        if self._login is None and not self._closing:
            async with self._connecting:  # on demand: the tracker drops idle anonymous links
                if not self._link.connected:
                    await self._link.connect()
        return await self._link.request(cmd, **fields)

    # ------------------------------------------------------------------ login

    async def salt(self, username: str) -> SaltReply:
        """The account's login salt and cost (any name gets one)."""
        return SaltReply.parse(await self._request(Command.SALT, username=username))

    async def register(self, username: str, secret: str, identity_key: str) -> None:
        await self._request(
            Command.REGISTER, username=username, password=secret, identity_key=identity_key
        )

    async def login(
        self,
        username: str,
        secret: str,
        identity_key: str,
        port: int | None,
        *,
        host: str | None = None,
        replace_key: bool = False,
        legacy: str | None = None,
        upgrade_proof: str | None = None,
    ) -> LoginReply:
        """LOGIN; ``legacy`` (the old digest) with ``upgrade_proof`` (of the identity
        key) upgrades an account of the legacy scheme."""
        login = _Login(username, secret, identity_key, port, host)
        reply = await self._send_login(
            login, replace_key=replace_key, legacy=legacy, upgrade_proof=upgrade_proof
        )
        self._login = login
        return reply

    async def _send_login(
        self,
        login: _Login,
        *,
        replace_key: bool = False,
        legacy: str | None = None,
        upgrade_proof: str | None = None,
    ) -> LoginReply:
        reply = LoginReply.parse(
            await self._request(
                Command.LOGIN,
                username=login.username,
                password=login.secret,
                identity_key=login.identity_key,
                port=login.port,
                host=login.host,
                replace_key=True if replace_key else None,
                legacy_password=legacy,
                upgrade_proof=upgrade_proof,
            )
        )
        return self._started(reply)

    def _started(self, reply: LoginReply) -> LoginReply:
        self._ticket = reply.ticket
        self._ended = None
        self._link.start_heartbeat(reply.heartbeat_interval)
        self.login_reply = reply
        return reply

    async def _resume(self, login: _Login) -> LoginReply:
        """RESUME with the ticket; a refused ticket falls back to LOGIN with the secret."""
        ticket, self._ticket = self._ticket, None  # single use, whatever the answer
        if ticket is not None:
            try:
                reply = await self._link.request(
                    Command.RESUME,
                    username=login.username,
                    ticket=ticket,
                    identity_key=login.identity_key,
                    port=login.port,
                    host=login.host,
                )
            except P2PChatError as exc:
                if exc.code not in _TICKET_REFUSALS:
                    raise
                log.info("the tracker refused the resumption ticket (%s); logging in", exc.code)
            else:
                return self._started(LoginReply.parse(reply))
        return await self._send_login(login)

    # ------------------------------------------------------------------ typed requests

    async def lookup(self, user: str) -> PeerInfo:
        """The one online user ``user`` (``user_offline`` if they are not online)."""
        return parse_lookup(await self._request(Command.LOOKUP, user=user), user)

    async def list_peers(self, cursor: str | None = None, limit: int | None = None) -> PeerPage:
        reply = await self._request(Command.LIST_PEERS, cursor=cursor, limit=limit)
        return PeerPage.parse(reply)

    async def list_rooms(self, cursor: str | None = None, limit: int | None = None) -> RoomPage:
        reply = await self._request(Command.LIST_ROOMS, cursor=cursor, limit=limit)
        return RoomPage.parse(reply)

    async def create_room(
        self, name: str, invite_only: bool = False, relay_only: bool = False
    ) -> RoomInfo:
        reply = await self._request(
            Command.CREATE_ROOM,
            room=name,
            invite_only=True if invite_only else None,
            relay_only=True if relay_only else None,
        )
        return parse_created(reply)

    async def room_target(self, cmd: Command, room: str, user: str) -> tuple[str, str]:
        """KICK, BAN, UNBAN, INVITE or UNINVITE ``user`` in ``room``; the exact names."""
        assert cmd in ROOM_TARGET_COMMANDS
        return parse_room_target(await self._request(cmd, room=room, user=user))

    async def invite(self, room: str, user: str) -> InviteReply:
        """INVITE ``user`` to ``room``: the exact names and how full the room is."""
        return InviteReply.parse(await self._request(Command.INVITE, room=room, user=user))

    async def set_room(self, room: str, invite_only: bool) -> RoomInfo:
        reply = await self._request(Command.SET_ROOM, room=room, invite_only=invite_only)
        return parse_created(reply)

    async def room_access(self, room: str) -> RoomAccess:
        return RoomAccess.from_wire(await self._request(Command.ROOM_ACCESS, room=room))

    async def join_room(self, name: str, relay_only: bool = False) -> JoinReply:
        """``relay_only``: the tracker gives the room's members no address for us."""
        reply = await self._request(
            Command.JOIN_ROOM, room=name, relay_only=True if relay_only else None
        )
        return JoinReply.parse(reply)

    async def leave_room(self, name: str) -> None:
        """``LEAVE_ROOM`` naming the room (a tracker before several rooms ignores it)."""
        await self._request(Command.LEAVE_ROOM, room=name)

    async def delete_room(self, name: str) -> None:
        await self._request(Command.DELETE_ROOM, room=name)

    # ------------------------------------------------------------------ the relay

    def send_relay(self, to: str, link: int, back: bool, body: bytes | None) -> None:
        """One ``RELAY`` frame (a channel body, or the link's end); no reply comes."""
        self._link.send_oneway(relay_request(to, link, back, body))

    async def drain_relay(self) -> None:
        await self._link.drain()

    # ------------------------------------------------------------------ pushes and loss

    def _on_push(self, push: Push) -> None:
        try:
            typed = parse_push(push.event, push.body)
        except P2PChatError as exc:
            log.warning("ignored an invalid %s push: %s", push.event, exc.code)
            return
        if isinstance(typed, RelayedBody | RelayEnded):
            if self.relay is not None:
                if isinstance(typed, RelayedBody):
                    self.relay.received(typed)
                else:
                    self.relay.ended(typed)
            return
        if isinstance(typed, SessionReplacedPush):
            self.replaced = True
        if isinstance(typed, SessionEndedPush):
            log.warning("the tracker ended the session: %s", typed.reason)
            self._ticket = None
            self._ended = typed.reason
            return
        if typed is not None:
            self._handler.pushed(typed)

    def _on_lost(self, detail: str) -> None:
        if self.relay is not None:
            self.relay.lost(detail)
        if self._closing:
            return
        if self._login is None:
            log.info("tracker link closed before login (%s); reconnecting on demand", detail)
            return
        if self._ended is not None:
            detail = f"the tracker ended the session ({self._ended})"
        self._handler.lost(detail)
        if self.replaced:
            return
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = self._tasks.spawn(self._reconnect(), "tracker reconnect")

    async def _reconnect(self) -> None:
        delay = self._config.reconnect_initial_delay
        while not self._closing and self._login is not None:
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))  # noqa: S311
            try:
                await self._link.connect()
                await self._resume(self._login)
                await self._handler.restored()
            except TrackerUntrustedError as exc:
                await self._link.close()
                self._handler.failed(exc)
                return
            except P2PChatError as exc:
                log.info("reconnect failed: %s", exc.code)
                await self._link.close()
                delay = min(delay * 2, self._config.reconnect_max_delay)
                continue
            return

    # ------------------------------------------------------------------ the end

    async def logout(self) -> None:
        """LOGOUT if the session is live (best effort, bounded); then the link closes."""
        if self._login is None or self.replaced or not self._link.connected:
            return
        with contextlib.suppress(P2PChatError, OSError, TimeoutError):
            await asyncio.wait_for(self._link.request(Command.LOGOUT), 3.0)

    async def close(self) -> None:
        self._closing = True
        await self._link.close()

    def abort(self) -> None:
        self._closing = True
        self._link.abort()
