"""The channel shell: dial, accept, read and write end-to-end channels. No rules here.

It turns what happens on the wire into calls on a :class:`ChannelHandler` (the client,
which passes them to :class:`peer.core.peer_core.PeerCore`) and carries out the core's actions on
channels named by the ids it hands out. How a channel's bodies travel is pluggable: a
:data:`Connector` opens a :class:`peer.channels.link.BodyTransport` to an endpoint (direct
TCP), :class:`peer.channels.relay.RelayLinks` opens one through the tracker, and
:meth:`ChannelShell.accept` takes an inbound transport from either (the TCP listener,
the relay). Which path a dial takes is :mod:`peer.channels.dialer`'s; the handshake, the
identity checks and the frames are the same on both.

Protocol per channel: the Noise handshake, with the handler's whole identity policy
inside it (:class:`crypto.authorization.Admission`: before message 3 is sent by the
dialler or accepted by the listener, after the handler had a chance to refresh its
listing of the remote); then the responder applies the core's tie-break and channel cap
and sends ``accept`` or ``reject`` (the initiator sends nothing before ``accept``), and
what the identity check learned is settled. Each read is decoded and handed over as one
batch of frames; the first invalid frame ends the channel after the valid ones before it.

Limits carried out here: a dial goes only to an address the
:class:`peer.channels.dial_policy.AddressPolicy` allows (a host name is resolved and checked
first); a channel's reading stops while the handler says so (the event queue's
back-pressure); every channel's send buffer is watched (:mod:`peer.channels.write_watch`): one
that stops draining is closed as ``STALLED``, and :meth:`ChannelShell.drain` waits a
bounded time. Refused inbound channels are logged at a bounded rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field
from typing import Protocol

from commons.errors import P2PChatError, ProtocolError
from commons.network_source import UNKNOWN_SOURCE, source_key
from commons.rate_limited_log import RateLimitedLog
from crypto.authorization import Admission
from crypto.errors import OutdatedPeerError
from crypto.identity import IdentityKey
from peer.channels.dial_policy import AddressPolicy
from peer.channels.dialer import (
    DUPLICATE,
    ChannelDialer,
    Connector,
    DialHandler,
    Endpoint,
    tcp_connector,
)
from peer.channels.link import BodyTransport, LinkClosedError, P2PLink, TcpTransport
from peer.channels.listener import P2PListener
from peer.channels.relay import RelayLinks, RelayTransport
from peer.channels.write_watch import WriteState, WriteWatch
from peer.config import PeerConfig
from peer.core.actions import Admit, ChannelPath, CloseReason
from peer.core.frames import Accept, Frame, Reject, decode_frame, encode_chat_frame
from peer.supervisor import TaskSupervisor

__all__ = ["BUSY", "ChannelHandler", "ChannelShell", "Connector", "Endpoint", "tcp_connector"]

log = logging.getLogger(__name__)

#: The ``reject`` code when every channel slot is taken.
BUSY = "busy"


@dataclass(slots=True)
class _Channel:
    """An open channel's link and what the shell watches for it."""

    link: P2PLink
    watch: WriteWatch
    readable: asyncio.Event = field(default_factory=asyncio.Event)
    check: asyncio.TimerHandle | None = None
    stalled: str | None = None  # why the write deadline closed it


class ChannelHandler(DialHandler, Protocol):
    """What the shell asks and reports to.

    ``admission(expected)`` is the identity policy of one channel (``expected``: the user
    dialled); ``before_authorize`` runs just before it decides; ``settle`` records what it
    learned once the channel is accepted or refused (``False``: drop it after all);
    ``refused`` tells the user about an inbound channel the policy refused."""

    async def refused(self, admission: Admission, error: P2PChatError) -> None: ...
    def admit(self, user: str, path: ChannelPath) -> Admit: ...
    def opened(
        self, user: str, channel: int, *, initiator: bool, path: ChannelPath, upgrade: bool
    ) -> None: ...
    def received(self, channel: int, frames: list[Frame]) -> None: ...
    def closed(self, channel: int, reason: CloseReason, detail: str) -> None: ...


class ChannelShell:
    def __init__(
        self, config: PeerConfig, tasks: TaskSupervisor, connector: Connector = tcp_connector
    ) -> None:
        self._config = config
        self._handler: ChannelHandler | None = None
        self._tasks = tasks
        self._dialler = ChannelDialer(config, connector)
        self._listener = P2PListener(self._accept_tcp, tasks)
        self._links: dict[int, _Channel] = {}
        self._ids = itertools.count(1)
        self._me: str | None = None
        self._identity: IdentityKey | None = None
        #: Set by :meth:`bind`: inbound channels that came during the login wait for it.
        self._bound_now = asyncio.Event()
        self._log = RateLimitedLog(log)
        #: The relay through the tracker (the client sets it; ``None``: direct only).
        self.relay: RelayLinks | None = None

    @property
    def address_policy(self) -> AddressPolicy:
        """Which addresses may be dialled (set at login, from the tracker's address)."""
        return self._dialler.address_policy

    @address_policy.setter
    def address_policy(self, policy: AddressPolicy) -> None:
        self._dialler.address_policy = policy

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        return await self._listener.start(host, port)

    def bind(self, me: str, identity: IdentityKey, handler: ChannelHandler) -> None:
        """Channels need our name, our key and someone to report to: until this is
        called (at login) inbound channels wait for it, within the handshake's time, then
        are refused."""
        self._me, self._identity, self._handler = me, identity, handler
        self._bound_now.set()

    @property
    def _bound(self) -> tuple[str, IdentityKey, ChannelHandler] | None:
        if self._me is None or self._identity is None or self._handler is None:
            return None
        return self._me, self._identity, self._handler

    # ------------------------------------------------------------------ actions

    def send(self, channel: int, frame: Frame) -> None:
        open_channel = self._links.get(channel)
        if open_channel is None:
            return
        link = open_channel.link
        with contextlib.suppress(P2PChatError):  # its reader reports the loss
            link.send_nowait(encode_chat_frame(frame))
        transport = link.transport
        state = open_channel.watch.wrote(transport.buffered_bytes(), transport.sent_bytes(), _now())
        if state is WriteState.STALLED:
            self._stall(channel, "more than the most we buffer waits for them")
        elif state is WriteState.WATCH:
            self._arm_check(channel, open_channel)

    def _arm_check(self, channel: int, open_channel: _Channel) -> None:
        at = open_channel.watch.check_at
        if at is not None:
            open_channel.check = asyncio.get_running_loop().call_at(at, self._check_writes, channel)

    def _check_writes(self, channel: int) -> None:
        open_channel = self._links.get(channel)
        if open_channel is None:
            return
        open_channel.check = None
        transport = open_channel.link.transport
        state = open_channel.watch.check(transport.buffered_bytes(), transport.sent_bytes(), _now())
        if state is WriteState.STALLED:
            timeout = open_channel.watch.timeout
            self._stall(channel, f"they read nothing we sent for {timeout:g} s")
        elif state is WriteState.WATCH:
            self._arm_check(channel, open_channel)

    def _stall(self, channel: int, detail: str) -> None:
        """Drop a channel whose remote does not read: its reader reports it lost."""
        open_channel = self._links.get(channel)
        if open_channel is None or open_channel.stalled is not None:
            return
        open_channel.stalled = detail
        open_channel.readable.set()  # a paused reader must see the end too
        open_channel.link.abort()

    def close(self, channel: int, reason: CloseReason = CloseReason.SHUTDOWN) -> None:
        """Close ``channel``. A relayed one that a direct channel replaced tells the
        other end only after a while (it would otherwise look like a loss there)."""
        open_channel = self._links.pop(channel, None)
        if open_channel is not None:
            _forget(open_channel)
            replaced = reason is CloseReason.REPLACED
            open_channel.link.close(self._config.handshake_timeout if replaced else 0.0)

    def remote_key(self, channel: int) -> bytes | None:
        """The static key the remote of ``channel`` proved in its handshake."""
        open_channel = self._links.get(channel)
        return None if open_channel is None else open_channel.link.channel.remote_static

    def pause_reading(self, channel: int) -> None:
        open_channel = self._links.get(channel)
        if open_channel is not None:
            open_channel.readable.clear()

    def resume_reading(self, channel: int) -> None:
        open_channel = self._links.get(channel)
        if open_channel is not None:
            open_channel.readable.set()

    async def drain(self, channels: list[int]) -> None:
        """Back-pressure: wait while these channels' send buffers are above their mark,
        at most the write deadline; a channel that made us wait that long is not waited
        for again until it has drained (its own deadline still drops it if it stops)."""
        waiting = []
        for channel in channels:
            open_channel = self._links.get(channel)
            if open_channel is None:
                continue
            if open_channel.watch.worth_waiting(open_channel.link.transport.buffered_bytes()):
                waiting.append(open_channel)
        if not waiting:
            return
        drains = {asyncio.ensure_future(_drained(c.link)): c for c in waiting}
        _, late = await asyncio.wait(drains, timeout=self._config.write_timeout)
        for task in late:
            drains[task].watch.slow = True
            task.cancel()

    def dial(self, user: str, endpoint: Endpoint | None, *, upgrade: bool = False) -> None:
        """Open a channel to ``user``: at ``endpoint`` (falling back to the relay), or
        through the relay when there is no endpoint; ``upgrade``: direct only."""
        self._tasks.spawn(self._dial(user, endpoint, upgrade), f"dial {user}")

    async def _dial(self, user: str, endpoint: Endpoint | None, upgrade: bool) -> None:
        bound = self._bound
        assert bound is not None, "dial before login"
        me, identity, handler = bound
        relay = self.relay if self.relay is not None and self.relay.available else None
        dialled = await self._dialler.dial(
            user, endpoint, me, identity, handler, relay=relay, upgrade=upgrade
        )
        if dialled is not None:
            link, path = dialled
            self._adopt(user, link, handler, initiator=True, path=path, upgrade=upgrade)

    def abort_all(self) -> None:
        """Drop every channel at once, unflushed (a crash, as tests simulate it)."""
        for open_channel in self._links.values():
            _forget(open_channel)
            open_channel.link.abort()
        self._links.clear()

    async def close_all(self) -> None:
        for open_channel in self._links.values():
            _forget(open_channel)
            open_channel.link.close()
        self._links.clear()
        await self._listener.close()

    # ------------------------------------------------------------------ accepting

    async def _accept_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        source = source_key(str(peername[0])) if peername else UNKNOWN_SOURCE
        await self.accept(TcpTransport(reader, writer), source)

    async def accept_relayed(self, transport: RelayTransport) -> None:
        """An inbound channel through the relay (:class:`RelayLinks` calls this): the
        lookups it may cost are charged to the relaying account."""
        await self.accept(transport, f"relay:{transport.key.user}", ChannelPath.RELAY)

    async def accept(
        self,
        transport: BodyTransport,
        source: str = UNKNOWN_SOURCE,
        path: ChannelPath = ChannelPath.DIRECT,
    ) -> None:
        """Run the responder's side on an inbound transport until accepted or refused.
        ``source`` (:func:`commons.network_source.source_key`) is whom the lookups this
        handshake may cost are charged to.

        Before login it waits for :meth:`bind`: the tracker tells our room-mates we are
        online as it answers our ``LOGIN``, so one may dial us while this client is still
        reading that answer. The wait is bounded by the handshake timeout and holds one of
        the listener's handshake slots, like any handshake."""
        if self._bound is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bound_now.wait(), self._config.handshake_timeout)
        bound = self._bound
        if bound is None:
            transport.close()
            return
        me, identity, handler = bound
        admission = handler.admission(expected=None)
        link = P2PLink.secure(
            transport, initiator=False, identity=identity, username=me, admission=admission
        )
        try:
            await asyncio.wait_for(
                self._responder(link, handler, admission, source, path),
                self._config.handshake_timeout,
            )
        except TimeoutError:
            link.close()
        except OutdatedPeerError as exc:
            # Our own text, which names the versions.
            self._log.warning("inbound-outdated", "inbound channel refused: %s", exc.message)
            link.close()
        except P2PChatError as exc:
            self._log.warning("inbound-refused", "inbound channel refused: %s", exc.code)
            link.close()
            await handler.refused(admission, exc)
        except BaseException:
            link.close()
            raise

    async def _responder(
        self,
        link: P2PLink,
        handler: ChannelHandler,
        admission: Admission,
        source: str,
        path: ChannelPath,
    ) -> None:
        """Handshake (the identity check runs inside it), then accept unless duplicate."""

        async def before_authorize(user: str, key: bytes) -> None:
            await handler.before_authorize(user, key, source)

        await link.handshake(False, before_authorize)
        name = link.channel.remote_username
        assert name is not None
        verdict = handler.admit(name, path)
        if verdict is Admit.DUPLICATE:
            await _reject(link, DUPLICATE, "a channel between us is already being set up")
            return
        if verdict is Admit.FULL:
            self._log.warning("inbound-full", "inbound channel refused: every slot is taken")
            await _reject(link, BUSY, "this peer has too many channels open; try later")
            return
        link.send_nowait(encode_chat_frame(Accept()))
        if await handler.settle(admission, accepted=True):
            self._adopt(name, link, handler, initiator=False, path=path)
        else:
            link.close()

    # ------------------------------------------------------------------ open channels

    def _adopt(
        self,
        user: str,
        link: P2PLink,
        handler: ChannelHandler,
        *,
        initiator: bool,
        path: ChannelPath,
        upgrade: bool = False,
    ) -> None:
        if self._tasks.closed:
            link.close()
            return
        channel = next(self._ids)
        open_channel = self._links[channel] = _Channel(link, WriteWatch(self._config.write_timeout))
        open_channel.readable.set()
        handler.opened(user, channel, initiator=initiator, path=path, upgrade=upgrade)
        self._tasks.spawn(self._read(channel, user, open_channel, handler), f"channel {user}")

    async def _read(
        self, channel: int, user: str, open_channel: _Channel, handler: ChannelHandler
    ) -> None:
        reason, detail = CloseReason.REMOTE_CLOSED, "closed"
        link = open_channel.link
        try:
            while True:
                if not open_channel.readable.is_set():
                    await open_channel.readable.wait()
                frames: list[Frame] = []
                error: P2PChatError | None = None
                for plaintext in await link.receive_batch():
                    try:
                        frames.append(_chat_frame(plaintext, user))
                    except P2PChatError as exc:
                        error = exc
                        break
                if frames:
                    handler.received(channel, frames)
                if error is not None:
                    raise error
        except LinkClosedError as exc:
            detail = exc.message
            if "closed the connection" not in detail:
                reason = CloseReason.NETWORK_ERROR
        except P2PChatError as exc:
            reason, detail = CloseReason.PROTOCOL_ERROR, f"{exc.message} ({exc.code})"
        except Exception as exc:
            # A bug must not leave a member listed with a dead channel: report it closed.
            log.error("channel to %s failed unexpectedly: %s", user, type(exc).__name__)
            reason, detail = CloseReason.INTERNAL_ERROR, f"internal error ({type(exc).__name__})"
        finally:
            link.close()
            if self._links.get(channel) is open_channel:
                del self._links[channel]
            _forget(open_channel)
        if open_channel.stalled is not None:
            reason, detail = CloseReason.STALLED, f"{CloseReason.STALLED}: {open_channel.stalled}"
        handler.closed(channel, reason, detail)


def _now() -> float:
    return asyncio.get_running_loop().time()


def _forget(open_channel: _Channel) -> None:
    if open_channel.check is not None:
        open_channel.check.cancel()
        open_channel.check = None


async def _drained(link: P2PLink) -> None:
    with contextlib.suppress(P2PChatError):
        await link.drain()


def _chat_frame(plaintext: bytes, user: str) -> Frame:
    frame = decode_frame(plaintext, user)
    if isinstance(frame, Accept | Reject):
        raise ProtocolError("control frame on an open channel")
    return frame


async def _reject(link: P2PLink, code: str, reason: str) -> None:
    with contextlib.suppress(P2PChatError):
        await link.send(encode_chat_frame(Reject(code, reason[:200])))
    link.close()
    await link.wait_closed()
