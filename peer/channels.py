"""The channel shell: dial, accept, read and write end-to-end channels. No rules here.

It turns what happens on the wire into calls on a :class:`ChannelHandler` (the client,
which passes them to :class:`peer.core.PeerCore`) and carries out the core's actions on
channels named by the ids it hands out. How a channel's bodies travel is pluggable: a
:data:`Connector` opens a :class:`peer.p2p_link.BodyTransport` to an endpoint (direct TCP
today), and :meth:`ChannelShell.accept` takes an inbound transport from any source (the
TCP listener today).

Protocol per channel: the Noise handshake, with the handler's whole identity policy
inside it (:class:`crypto.authorization.Admission`: before message 3 is sent by the
dialler or accepted by the listener, after the handler had a chance to refresh its
listing of the remote); then the responder applies the core's tie-break and sends
``accept`` or ``reject`` (the initiator sends nothing before ``accept``), and what the
identity check learned is settled. Each read is decoded and handed over as one batch of
frames; the first invalid frame ends the channel after the valid ones before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from commons.errors import ErrorCode, P2PChatError, ProtocolError
from crypto.authorization import Admission
from crypto.channel import SecureChannel
from crypto.errors import KeyChangedError, KeyMismatchError, OutdatedPeerError
from crypto.identity import IdentityKey
from peer.actions import CloseReason, DialFailure
from peer.chat_protocol import Accept, Frame, Reject, decode_frame, encode_frame
from peer.config import PeerConfig
from peer.p2p_link import BodyTransport, LinkClosedError, P2PLink, TcpTransport
from peer.p2p_listener import P2PListener
from peer.supervisor import TaskSupervisor

log = logging.getLogger(__name__)

DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a user's channel can be opened."""

    host: str
    port: int


Connector = Callable[[Endpoint], Awaitable[BodyTransport]]


async def tcp_connector(endpoint: Endpoint) -> BodyTransport:
    """A direct TCP connection to ``endpoint``."""
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    return TcpTransport(reader, writer)


class ChannelHandler(Protocol):
    """What the shell asks and reports to.

    ``admission(expected)`` is the identity policy of one channel (``expected``: the user
    dialled); ``before_authorize`` runs just before it decides; ``settle`` records what it
    learned once the channel is accepted or refused (``False``: drop it after all);
    ``refused`` tells the user about an inbound channel the policy refused."""

    def admission(self, expected: str | None) -> Admission: ...
    async def before_authorize(self, user: str, key: bytes) -> None: ...
    async def settle(self, admission: Admission, *, accepted: bool) -> bool: ...
    async def refused(self, admission: Admission, error: P2PChatError) -> None: ...
    def admit(self, user: str) -> bool: ...
    def opened(self, user: str, channel: int, *, initiator: bool) -> None: ...
    def received(self, channel: int, frames: list[Frame]) -> None: ...
    def closed(self, channel: int, reason: CloseReason, detail: str) -> None: ...
    def dial_failed(self, user: str, failure: DialFailure, detail: str) -> None: ...


class ChannelShell:
    def __init__(
        self, config: PeerConfig, tasks: TaskSupervisor, connector: Connector = tcp_connector
    ) -> None:
        self._config = config
        self._handler: ChannelHandler | None = None
        self._tasks = tasks
        self._connector = connector
        self._listener = P2PListener(self._accept_tcp, tasks)
        self._links: dict[int, P2PLink] = {}
        self._ids = itertools.count(1)
        self._me: str | None = None
        self._identity: IdentityKey | None = None

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        return await self._listener.start(host, port)

    def bind(self, me: str, identity: IdentityKey, handler: ChannelHandler) -> None:
        """Channels need our name, our key and someone to report to: until this is
        called (at login) inbound channels are refused."""
        self._me, self._identity, self._handler = me, identity, handler

    @property
    def _bound(self) -> tuple[str, IdentityKey, ChannelHandler] | None:
        if self._me is None or self._identity is None or self._handler is None:
            return None
        return self._me, self._identity, self._handler

    # ------------------------------------------------------------------ actions

    def send(self, channel: int, frame: Frame) -> None:
        link = self._links.get(channel)
        if link is not None:
            with contextlib.suppress(P2PChatError):  # its reader reports the loss
                link.send_nowait(encode_frame(frame))

    def close(self, channel: int) -> None:
        link = self._links.pop(channel, None)
        if link is not None:
            link.close()

    async def drain(self, channels: list[int]) -> None:
        """Back-pressure: wait while these channels' send buffers are above their mark."""
        for channel in channels:
            link = self._links.get(channel)
            if link is not None:
                with contextlib.suppress(P2PChatError):
                    await link.drain()

    def dial(self, user: str, endpoint: Endpoint) -> None:
        self._tasks.spawn(self._dial(user, endpoint), f"dial {user}")

    def abort_all(self) -> None:
        """Drop every channel at once, unflushed (a crash, as tests simulate it)."""
        for link in self._links.values():
            link.abort()
        self._links.clear()

    async def close_all(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()
        await self._listener.close()

    # ------------------------------------------------------------------ dialling

    async def _dial(self, user: str, endpoint: Endpoint) -> None:
        bound = self._bound
        assert bound is not None, "dial before login"
        me, identity, handler = bound
        try:
            transport = await asyncio.wait_for(
                self._connector(endpoint), self._config.connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            detail = f"cannot reach {user}: {exc.__class__.__name__}"
            handler.dial_failed(user, DialFailure.UNREACHABLE, detail)
            return
        admission = handler.admission(expected=user)
        channel = SecureChannel(
            initiator=True,
            identity=identity,
            username=me,
            authorize=admission.authorize,
            defer_authorize=True,
        )
        link = P2PLink(transport, channel)
        try:
            answer = await self._dial_handshake(user, link, handler)
        except TimeoutError:
            link.close()
            detail = f"{user} did not complete the handshake"
            handler.dial_failed(user, DialFailure.TIMEOUT, detail)
            return
        except LinkClosedError as exc:
            link.close()
            detail = exc.message
            if channel.established:  # they closed after our message 3: they refused us
                detail = f"{user} closed the channel without accepting it (they may not"
                detail += " accept your key yet)"
            handler.dial_failed(user, DialFailure.REFUSED, detail)
            return
        except P2PChatError as exc:
            link.close()
            await handler.settle(admission, accepted=False)
            handler.dial_failed(user, _dial_failure(exc), exc.message)
            return
        except BaseException:
            link.close()
            raise
        if isinstance(answer, Reject):
            link.close()
            failure = DialFailure.DUPLICATE if answer.code == DUPLICATE else DialFailure.REFUSED
            handler.dial_failed(user, failure, f"{user} refused the channel: {answer.reason}")
            return
        if not await handler.settle(admission, accepted=True):
            link.close()
            detail = f"the key of {user} changed while connecting"
            handler.dial_failed(user, DialFailure.KEY_CHANGED, detail)
            return
        self._adopt(user, link, handler, initiator=True)

    async def _dial_handshake(self, user: str, link: P2PLink, handler: ChannelHandler) -> Frame:
        timeout = self._config.handshake_timeout
        await asyncio.wait_for(link.handshake(True, handler.before_authorize), timeout)
        answer = decode_frame(await asyncio.wait_for(link.receive(), timeout), user)
        if not isinstance(answer, Accept | Reject):
            raise ProtocolError(f"{user} sent a message before accepting the channel")
        return answer

    # ------------------------------------------------------------------ accepting

    async def _accept_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.accept(TcpTransport(reader, writer))

    async def accept(self, transport: BodyTransport) -> None:
        """Run the responder's side on an inbound transport until accepted or refused."""
        bound = self._bound
        if bound is None:
            transport.close()
            return
        me, identity, handler = bound
        admission = handler.admission(expected=None)
        channel = SecureChannel(
            initiator=False,
            identity=identity,
            username=me,
            authorize=admission.authorize,
            defer_authorize=True,
        )
        link = P2PLink(transport, channel)
        try:
            await asyncio.wait_for(
                self._responder(link, handler, admission), self._config.handshake_timeout
            )
        except TimeoutError:
            link.close()
        except OutdatedPeerError as exc:
            log.info("inbound channel refused: %s", exc.message)  # our own text, names versions
            link.close()
        except P2PChatError as exc:
            log.info("inbound channel refused: %s", exc.code)
            link.close()
            await handler.refused(admission, exc)
        except BaseException:
            link.close()
            raise

    async def _responder(
        self, link: P2PLink, handler: ChannelHandler, admission: Admission
    ) -> None:
        """Handshake (the identity check runs inside it), then accept unless duplicate."""
        await link.handshake(False, handler.before_authorize)
        name = link.channel.remote_username
        assert name is not None
        if not handler.admit(name):
            await _reject(link, DUPLICATE, "a channel between us is already being set up")
            return
        link.send_nowait(encode_frame(Accept()))
        if await handler.settle(admission, accepted=True):
            self._adopt(name, link, handler, initiator=False)
        else:
            link.close()

    # ------------------------------------------------------------------ open channels

    def _adopt(self, user: str, link: P2PLink, handler: ChannelHandler, *, initiator: bool) -> None:
        if self._tasks.closed:
            link.close()
            return
        channel = next(self._ids)
        self._links[channel] = link
        handler.opened(user, channel, initiator=initiator)
        self._tasks.spawn(self._read(channel, user, link, handler), f"channel {user}")

    async def _read(self, channel: int, user: str, link: P2PLink, handler: ChannelHandler) -> None:
        reason, detail = CloseReason.REMOTE_CLOSED, "closed"
        try:
            while True:
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
            self._links.pop(channel, None)
        handler.closed(channel, reason, detail)


def _chat_frame(plaintext: bytes, user: str) -> Frame:
    frame = decode_frame(plaintext, user)
    if isinstance(frame, Accept | Reject):
        raise ProtocolError("control frame on an open channel")
    return frame


def _dial_failure(exc: P2PChatError) -> DialFailure:
    if isinstance(exc, KeyChangedError):
        return DialFailure.KEY_CHANGED
    if isinstance(exc, KeyMismatchError) or exc.code is ErrorCode.KEY_MISMATCH:
        return DialFailure.IDENTITY
    return DialFailure.REFUSED


async def _reject(link: P2PLink, code: str, reason: str) -> None:
    with contextlib.suppress(P2PChatError):
        await link.send(encode_frame(Reject(code, reason[:200])))
    link.close()
    await link.wait_closed()
