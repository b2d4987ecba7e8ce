"""One client connection of the tracker: TLS record layer, framing, the order of requests.

Why here: the bytes of one connection (TLS over memory BIOs, frame decoding, the order
of its requests) are one job; which part handles a request, what it means and what
becomes of the outcome are its owner's (:class:`ConnectionOwner`, in practice
:class:`~tracker.server.server.TrackerServer`), and the rules are
:class:`~tracker.state.tracker_state.TrackerState`'s. A connection knows its owner only
through that Protocol, so this module imports nothing of the server's.

Each connection is one :class:`TrackerConnection` (an ``asyncio.Protocol``) driving an
``ssl.SSLObject`` over memory BIOs. asyncio's own TLS transport keeps a 256 KiB read
buffer per connection; doing TLS here keeps a session to a few kilobytes and needs no
task per connection. Requests go through :class:`~tracker.server.request_decoder.RequestDecoder`
(a frame it rejects is answered here) and then to :meth:`ConnectionOwner.dispatch`; only
the requests that must await (account commands: argon2, disk; room changes: disk; group
commands: the group's lock; a shaped RELAY frame: its wait) run as short tasks
(:meth:`TrackerConnection.run_async`, :meth:`TrackerConnection.hold`), during which the
connection stops reading so that its requests stay in order.

Contract: :meth:`TrackerConnection.send` never raises (values that came through
:mod:`commons.codec` always encode; anything else is replaced or dropped and reported on
one rate-limited line) and affects this connection only; :meth:`~TrackerConnection.close`
and :meth:`~TrackerConnection.abort` may be called any number of times (the server's
clean-up, ``connection_gone``, is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import Counter, deque
from collections.abc import Coroutine
from typing import Any, Protocol

from commons.codec import JsonObject, encode_message
from commons.errors import ErrorCode, FrameTooLargeError
from commons.rate_limited_log import RateLimitedLog
from commons.relay_frames import RelayFrame
from commons.tracker_protocol import Request, error, is_push, parse_request_id
from crypto.legacy_upgrade import UpgradeChallenge
from tracker.config import TrackerConfig
from tracker.network.admission import AdmissionVerdict, Verdict
from tracker.server.request_decoder import Decoded, Rejected, RequestDecoder
from tracker.state.tracker_state import SessionId

log = logging.getLogger("tracker.server")

_READ_CHUNK = 16 * 1024
_HANDSHAKING, _OPEN, _CLOSED = 0, 1, 2


class ConnectionOwner(Protocol):
    """What a connection needs from the tracker that accepted it."""

    @property
    def config(self) -> TrackerConfig: ...
    @property
    def ssl_context(self) -> ssl.SSLContext: ...
    @property
    def problems(self) -> RateLimitedLog:
        """Problems a client can trigger: one line per kind per 10 s."""
        ...

    @property
    def counters(self) -> Counter[str]:
        """What strangers did that was refused or failed, by kind."""
        ...

    def register_connection(self, conn: TrackerConnection) -> None:
        """The connection is up (called once, before any request)."""
        ...

    def connection_gone(self, conn: TrackerConnection) -> None:
        """The connection closed or was aborted; idempotent (it may be called again)."""
        ...

    def dispatch(self, conn: TrackerConnection, item: Request | RelayFrame) -> None:
        """Handle ``conn``'s next request, in order; work that awaits goes through
        :meth:`TrackerConnection.run_async` or :meth:`TrackerConnection.hold`."""
        ...

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task the owner cancels when it stops."""
        ...


class TrackerConnection(asyncio.Protocol):
    """One client connection: TLS record layer, framing, and the order of its requests."""

    __slots__ = (
        "_backlog",
        "_busy",
        "_decoder",
        "_in",
        "_out",
        "_owner",
        "_phase",
        "_rejecting",
        "_tls",
        "admitted",
        "host",
        "opened",
        "session",
        "transport",
        "upgrade_challenge",
    )

    def __init__(
        self, owner: ConnectionOwner, admitted: AdmissionVerdict, host: str, session: SessionId
    ) -> None:
        self._owner = owner
        #: The admission's verdict on this connection (admitted, or refused politely).
        self.admitted = admitted
        self.session = session
        self.transport: asyncio.Transport | None = None
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = owner.ssl_context.wrap_bio(self._in, self._out, server_side=True)
        self._decoder = RequestDecoder(owner.config.max_frame_size)
        self._phase = _HANDSHAKING
        self._busy = False
        self._backlog: deque[Decoded] | None = None
        self._rejecting = admitted.verdict is not Verdict.ADMIT
        self.host = host
        self.opened = time.monotonic()
        #: The legacy upgrade challenge of this connection's last ``SALT`` (for an
        #: account of the old scheme), spent by its next ``LOGIN`` whatever the outcome.
        self.upgrade_challenge: UpgradeChallenge | None = None

    # ------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self._phase == _CLOSED:  # evicted before its transport was up
            transport.abort()
            return
        self.transport = transport
        self._owner.register_connection(self)
        if self._rejecting:
            # Not tracked by the sweep: bound its life so the cap cannot be dodged.
            asyncio.get_running_loop().call_later(self._owner.config.auth_timeout, self.abort)

    def data_received(self, data: bytes) -> None:
        try:
            self._receive(data)
        except Exception as exc:
            self._owner.problems.warning(
                "handler",
                "session %d: handler failed (%s); closing it",
                self.session,
                type(exc).__name__,
            )
            self.abort()

    def eof_received(self) -> bool | None:
        self.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = _CLOSED
        self._owner.connection_gone(self)

    # ------------------------------------------------------------ TLS record layer

    def _receive(self, data: bytes) -> None:
        if self._phase == _CLOSED:
            return
        self._in.write(data)
        if self._phase == _HANDSHAKING:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except (ssl.SSLError, OSError) as exc:
                self._owner.counters["tls_handshake_failed"] += 1
                self._owner.problems.warning(
                    "tls_handshake",
                    "TLS handshake from %s failed: %s",
                    self.admitted.source,
                    exc.__class__.__name__,
                )
                self.abort()
                return
            self._phase = _OPEN
            self._flush()
            if self._rejecting:
                reason = self.admitted.reason or "the tracker is full"
                self.send(error(None, ErrorCode.TOO_MANY_CONNECTIONS, reason))
                self.close()
                return
        while self._phase == _OPEN:
            try:
                chunk = self._tls.read(_READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.close()
                return
            except ssl.SSLError:
                self.abort()
                return
            if not chunk:
                self.close()
                return
            for item in self._decoder.feed(chunk):
                if self._phase != _OPEN:
                    return  # dropped (e.g. it does not read): the rest is not worth doing
                if self._busy:
                    assert self._backlog is not None
                    self._backlog.append(item)
                else:
                    self._handle(item)
        self._flush()

    def _flush(self) -> None:
        pending = self._out.pending
        if pending and self.transport is not None and not self.transport.is_closing():
            self.transport.write(self._out.read(pending))

    def send(self, message: JsonObject) -> None:
        """Queue one frame to this client. Never raises; affects this connection only.

        A message that cannot be encoded (impossible for values that came through the
        codec; this is the second line) becomes an ``internal_error`` reply to the same
        id, or is dropped if it is a push. A client that stops reading is dropped.
        """
        if self._phase != _OPEN or self.transport is None:
            return
        try:
            frame = self._encode(message)
            if frame is None:
                return
            self._tls.write(frame)
            self._flush()
        except Exception as exc:
            self._owner.problems.warning(
                "send", "session %d: send failed (%s); closing it", self.session, type(exc).__name__
            )
            self.abort()
            return
        if self.transport.get_write_buffer_size() > self._owner.config.max_send_buffer:
            log.info("session %d does not read its replies; dropping it", self.session)
            self.abort()

    def _encode(self, message: JsonObject) -> bytes | None:
        try:
            return encode_message(message, self._owner.config.max_frame_size)
        except FrameTooLargeError:
            reason = "reply too large"
        except (ValueError, TypeError):  # UnicodeEncodeError is a ValueError
            reason = "reply could not be encoded"
        self._owner.problems.warning(reason, "session %d: %s", self.session, reason)
        if is_push(message):
            return None
        request_id = parse_request_id({"id": message.get("id")})
        return encode_message(error(request_id, ErrorCode.INTERNAL, reason))

    def close(self) -> None:
        """Send close_notify and close after the queued bytes are written."""
        if self._phase == _CLOSED:
            return
        if self._phase == _OPEN:
            with contextlib.suppress(ssl.SSLError, OSError):
                self._tls.unwrap()
            self._flush()
        self._phase = _CLOSED
        if self.transport is not None:
            self.transport.close()
        self._owner.connection_gone(self)

    def abort(self) -> None:
        self._phase = _CLOSED
        if self.transport is not None:
            self.transport.abort()
        self._owner.connection_gone(self)

    @property
    def closed(self) -> bool:
        return self._phase == _CLOSED

    @property
    def unsent(self) -> int:
        """Bytes queued for this client and not yet taken by its socket."""
        return 0 if self.transport is None else self.transport.get_write_buffer_size()

    # ------------------------------------------------------------ requests

    def _handle(self, item: Decoded) -> None:
        """Answer a rejected frame here; hand a request to the owner."""
        if isinstance(item, Rejected):
            self.send(item.reply)
            if item.close:
                self.close()
            return
        self._owner.dispatch(self, item)

    def hold(self, wait: float, item: RelayFrame) -> None:
        """Shape: read nothing more from this client for ``wait`` s, then retry ``item``."""
        self.run_async(asyncio.sleep(wait))
        assert self._backlog is not None
        self._backlog.appendleft(item)

    def run_async(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` while holding back this connection's further requests."""
        self._busy = True
        self._backlog = deque()
        if self.transport is not None:
            self.transport.pause_reading()
        self._owner.spawn(self._finish_async(work))

    async def _finish_async(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        finally:
            self._busy = False
            backlog, self._backlog = self._backlog, None
            while backlog and not self.closed and not self._busy:
                self._handle(backlog.popleft())
            if self._busy and backlog:
                assert self._backlog is not None
                # After what the new work holds (a shaped RELAY frame), in order.
                self._backlog.extend(backlog)
            if not self.closed and not self._busy and self.transport is not None:
                self.transport.resume_reading()
