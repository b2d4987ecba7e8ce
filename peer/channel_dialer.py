"""Dialling a channel: the address check, the connection, the initiator's handshake.

Part of the channel shell (:mod:`peer.channels`), no rules of its own: the address goes
through the :class:`peer.dial_policy.AddressPolicy` first (a host name is resolved here
and each of its addresses checked; the connection goes to a checked one, never to a
second resolution), then the Noise handshake runs with the handler's identity policy
inside it, and the responder's ``accept`` or ``reject`` decides. Every failure is
reported to the handler as a :class:`peer.actions.DialFailure`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from commons.errors import ErrorCode, P2PChatError, ProtocolError
from crypto.authorization import Admission
from crypto.channel import SecureChannel
from crypto.errors import KeyChangedError, KeyMismatchError
from crypto.identity import IdentityKey
from peer.actions import DialFailure
from peer.chat_protocol import Accept, Frame, Reject, decode_frame
from peer.config import PeerConfig
from peer.dial_policy import AddressPolicy
from peer.p2p_link import BodyTransport, LinkClosedError, P2PLink, TcpTransport

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
    """What a dial asks and reports (part of :class:`peer.channels.ChannelHandler`)."""

    def admission(self, expected: str | None) -> Admission: ...
    async def before_authorize(self, user: str, key: bytes, source: str | None = None) -> None:
        """Runs just before the identity check; ``source``: an inbound handshake's."""

    async def settle(self, admission: Admission, *, accepted: bool) -> bool: ...
    def dial_failed(self, user: str, failure: DialFailure, detail: str) -> None: ...


class ChannelDialer:
    def __init__(self, config: PeerConfig, connector: Connector = tcp_connector) -> None:
        self._config = config
        self._connector = connector
        #: Which addresses may be dialled (set at login, from the tracker's address).
        self.address_policy = AddressPolicy(None)

    async def dial(
        self, user: str, endpoint: Endpoint, me: str, identity: IdentityKey, handler: DialHandler
    ) -> P2PLink | None:
        """The link of an accepted channel to ``user``, or ``None`` (the handler was told
        why, with ``dial_failed``)."""
        try:
            transport = await asyncio.wait_for(
                self._connect(endpoint), self._config.connect_timeout
            )
        except AddressRefusedError as exc:
            handler.dial_failed(user, DialFailure.ADDRESS, f"not dialling {user}: {exc}")
            return None
        except (OSError, TimeoutError) as exc:
            detail = f"cannot reach {user}: {exc.__class__.__name__}"
            handler.dial_failed(user, DialFailure.UNREACHABLE, detail)
            return None
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
            return None
        except LinkClosedError as exc:
            link.close()
            detail = exc.message
            if channel.established:  # they closed after our message 3: they refused us
                detail = f"{user} closed the channel without accepting it (they may not"
                detail += " accept your key yet)"
            handler.dial_failed(user, DialFailure.REFUSED, detail)
            return None
        except P2PChatError as exc:
            link.close()
            await handler.settle(admission, accepted=False)
            handler.dial_failed(user, _dial_failure(exc), exc.message)
            return None
        except BaseException:
            link.close()
            raise
        if isinstance(answer, Reject):
            link.close()
            failure = DialFailure.DUPLICATE if answer.code == DUPLICATE else DialFailure.REFUSED
            handler.dial_failed(user, failure, f"{user} refused the channel: {answer.reason}")
            return None
        if not await handler.settle(admission, accepted=True):
            link.close()
            detail = f"the key of {user} changed while connecting"
            handler.dial_failed(user, DialFailure.KEY_CHANGED, detail)
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
