"""Dialling a channel: the path, the address check, the connection, the initiator's
handshake.

Part of the channel shell (:mod:`peer.channels.shell`), no rules of its own: a user with an
address is dialled directly, the address going through the
:class:`peer.channels.dial_policy.AddressPolicy` first (a host name is resolved here and each of
its addresses checked; the connection goes to a checked one, never to a second
resolution); if that address is refused by the policy, refuses the connection or does
not answer within ``direct_timeout`` (1.5 s), the dial goes on through the tracker's
relay (:class:`peer.channels.relay.RelayLinks`), as it does at once for a user without an
address. An upgrade (a relayed channel's endpoint offer) is direct only. Then the Noise
handshake runs with the handler's identity policy inside it, the same on either path,
and the responder's ``accept`` or ``reject`` decides. Every failure is reported to the
handler as a :class:`peer.core.actions.DialFailure`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from commons.errors import ErrorCode, P2PChatError, ProtocolError
from crypto.authorization import Admission
from crypto.errors import KeyChangedError, KeyMismatchError
from crypto.identity import IdentityKey
from peer.channels.dial_policy import AddressPolicy
from peer.channels.link import (
    BodyTransport,
    LinkClosedError,
    LinkRefusedError,
    P2PLink,
    TcpTransport,
)
from peer.channels.relay import RelayLinks
from peer.config import PeerConfig
from peer.core.actions import ChannelPath, DialFailure
from peer.core.frames import Accept, Frame, Reject, decode_frame

log = logging.getLogger(__name__)

#: The ``reject`` code of the tie-break between two dials crossing.
DUPLICATE = "duplicate"


class AddressRefusedError(P2PChatError):
    """The address to dial is one the dial policy refuses."""

    code = ErrorCode.HANDSHAKE_FAILED


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


class DialHandler(Protocol):
    """What a dial asks and reports (part of :class:`peer.channels.shell.ChannelHandler`)."""

    def admission(self, expected: str | None) -> Admission: ...
    async def before_authorize(self, user: str, key: bytes, source: str | None = None) -> None:
        """Runs just before the identity check; ``source``: an inbound handshake's."""

    async def settle(self, admission: Admission, *, accepted: bool) -> bool: ...
    def dial_failed(
        self, user: str, failure: DialFailure, detail: str, *, upgrade: bool = False
    ) -> None: ...


class ChannelDialer:
    def __init__(self, config: PeerConfig, connector: Connector = tcp_connector) -> None:
        self._config = config
        self._connector = connector
        #: Which addresses may be dialled (set at login, from the tracker's address).
        self.address_policy = AddressPolicy(None)

    async def dial(
        self,
        user: str,
        endpoint: Endpoint | None,
        me: str,
        identity: IdentityKey,
        handler: DialHandler,
        *,
        relay: RelayLinks | None = None,
        upgrade: bool = False,
    ) -> tuple[P2PLink, ChannelPath] | None:
        """The link of an accepted channel to ``user`` and its path, or ``None`` (the
        handler was told why, with ``dial_failed``). ``relay``: the relay, if the
        tracker relays for us now; ``upgrade``: direct only."""
        connected = await self._open(user, endpoint, None if upgrade else relay, upgrade)
        if not isinstance(connected[0], DialFailure):
            transport, path = connected
        else:
            failure, detail = connected
            handler.dial_failed(user, failure, detail, upgrade=upgrade)
            return None
        link = await self._handshake(user, transport, me, identity, handler, upgrade)
        return None if link is None else (link, path)

    async def _open(
        self, user: str, endpoint: Endpoint | None, relay: RelayLinks | None, upgrade: bool
    ) -> tuple[BodyTransport, ChannelPath] | tuple[DialFailure, str]:
        """A transport to ``user`` and its path, or why there is none."""
        why = (DialFailure.UNREACHABLE, f"no address for {user} and the tracker does not relay")
        if endpoint is not None and self._config.direct_dials:
            patience = self._config.connect_timeout
            if relay is not None:
                patience = self._config.direct_timeout
            try:
                return await asyncio.wait_for(self._connect(endpoint), patience), ChannelPath.DIRECT
            except AddressRefusedError as exc:
                why = (DialFailure.ADDRESS, f"not dialling {user}: {exc}")
            except (OSError, TimeoutError) as exc:
                why = (DialFailure.UNREACHABLE, f"cannot reach {user}: {exc.__class__.__name__}")
            if relay is not None:
                log.info("direct dial to %s failed (%s); through the relay", user, why[1])
        elif upgrade:
            return DialFailure.UNREACHABLE, f"no direct dial to {user} (relay only)"
        if relay is None:
            return why
        try:
            return relay.open(user), ChannelPath.RELAY
        except P2PChatError as exc:  # the tracker link dropped meanwhile
            return DialFailure.UNREACHABLE, f"cannot reach {user}: {exc.message}"

    async def _handshake(
        self,
        user: str,
        transport: BodyTransport,
        me: str,
        identity: IdentityKey,
        handler: DialHandler,
        upgrade: bool,
    ) -> P2PLink | None:
        admission = handler.admission(expected=user)
        link = P2PLink.secure(
            transport, initiator=True, identity=identity, username=me, admission=admission
        )
        try:
            answer = await self._dial_handshake(user, link, handler)
        except TimeoutError:
            link.close()
            detail = f"{user} did not complete the handshake"
            handler.dial_failed(user, DialFailure.TIMEOUT, detail, upgrade=upgrade)
            return None
        except LinkRefusedError as exc:  # the relay ended it: they are offline, or gone
            link.close()
            handler.dial_failed(user, DialFailure.UNREACHABLE, exc.message, upgrade=upgrade)
            return None
        except LinkClosedError as exc:
            link.close()
            detail = exc.message
            if link.channel.established:  # they closed after our message 3: they refused us
                detail = f"{user} closed the channel without accepting it (they may not"
                detail += " accept your key yet)"
            handler.dial_failed(user, DialFailure.REFUSED, detail, upgrade=upgrade)
            return None
        except P2PChatError as exc:
            link.close()
            await handler.settle(admission, accepted=False)
            handler.dial_failed(user, _dial_failure(exc), exc.message, upgrade=upgrade)
            return None
        except BaseException:
            link.close()
            raise
        if isinstance(answer, Reject):
            link.close()
            failure = DialFailure.DUPLICATE if answer.code == DUPLICATE else DialFailure.REFUSED
            detail = f"{user} refused the channel: {answer.reason}"
            handler.dial_failed(user, failure, detail, upgrade=upgrade)
            return None
        if not await handler.settle(admission, accepted=True):
            link.close()
            detail = f"the key of {user} changed while connecting"
            handler.dial_failed(user, DialFailure.KEY_CHANGED, detail, upgrade=upgrade)
            return None
        return link

    async def _connect(self, endpoint: Endpoint) -> BodyTransport:
        """Connect to an address the policy allows: a host name is resolved here and
        each address checked; the connection goes to a checked one."""
        refusal = self.address_policy.refusal(endpoint.host)
        if refusal is not None:
            raise AddressRefusedError(refusal)
        infos = await asyncio.get_running_loop().getaddrinfo(
            endpoint.host, endpoint.port, type=socket.SOCK_STREAM
        )
        reasons = []
        for *_, address in infos:
            host = str(address[0])
            refusal = self.address_policy.refusal(host)
            if refusal is None:
                return await self._connector(Endpoint(host, endpoint.port))
            reasons.append(refusal)
        raise AddressRefusedError("; ".join(reasons) or f"{endpoint.host} has no address")

    async def _dial_handshake(self, user: str, link: P2PLink, handler: DialHandler) -> Frame:
        timeout = self._config.handshake_timeout
        await asyncio.wait_for(link.handshake(True, handler.before_authorize), timeout)
        answer = decode_frame(await asyncio.wait_for(link.receive(), timeout), user)
        if not isinstance(answer, Accept | Reject):
            raise ProtocolError(f"{user} sent a message before accepting the channel")
        return answer


def _dial_failure(exc: P2PChatError) -> DialFailure:
    if isinstance(exc, KeyChangedError):
        return DialFailure.KEY_CHANGED
    if isinstance(exc, KeyMismatchError) or exc.code is ErrorCode.KEY_MISMATCH:
        return DialFailure.IDENTITY
    return DialFailure.REFUSED
