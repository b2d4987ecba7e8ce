"""The TLS connection to the tracker: verification, request/reply, pushes, heartbeat.

Verification, in order of preference:

* ``cafile``: normal X.509 chain and host name verification against that CA file;
* ``tracker_fingerprint``: the certificate's SHA-256 must equal it (constant time);
* otherwise trust on first use: the first fingerprint seen for ``host:port`` is pinned
  in ``home/known_trackers.json`` and any later change is refused (:mod:`peer.session.pins`).

In the last two cases the TLS layer does not verify the chain; the link checks the
fingerprint itself right after the handshake and before sending a single byte. The link
does not reconnect on its own: it reports the loss through ``on_lost`` and the owner
(:class:`peer.session.session.TrackerSession`) reconnects and logs in again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import Any

from commons.codec import JsonObject
from commons.errors import P2PChatError
from commons.tls_fingerprint import cert_fingerprint, fingerprints_match, normalize_fingerprint
from commons.tls_groups import prefer_hybrid_key_exchange
from commons.tracker_protocol import Command
from peer.config import PeerConfig
from peer.errors import (
    NotConnectedError,
    RequestTimeoutError,
    TrackerUntrustedError,
    describe_connect_error,
)
from peer.session.pins import PINS_FILE, PinDecision, check_pin, endpoint_key, load_pins, save_pins
from peer.session.wire import Push, Reply, TrackerClientProtocol, reply_error
from peer.supervisor import TaskSupervisor

log = logging.getLogger(__name__)

READ_CHUNK = 65536


def _client_context(config: PeerConfig) -> ssl.SSLContext:
    if config.cafile is not None:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(config.cafile))
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    prefer_hybrid_key_exchange(ctx)
    return ctx


class TrackerLink:
    """One TLS session with the tracker; ``connect`` may be called again after a loss."""

    def __init__(
        self,
        config: PeerConfig,
        on_push: Callable[[Push], None],
        on_lost: Callable[[str], None],
        tasks: TaskSupervisor,
    ) -> None:
        self._config = config
        self._tasks = tasks
        self._on_push = on_push
        self._on_lost = on_lost
        self._writer: asyncio.StreamWriter | None = None
        self._protocol = TrackerClientProtocol()
        self._pending: dict[int | str, asyncio.Future[Reply]] = {}
        self._reader_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._closing = False
        self.fingerprint: str | None = None
        self.pinned_now = False
        #: The tracker's IP address as the last connection saw it (decides which
        #: addresses the peer will dial: :mod:`peer.channels.dial_policy`).
        self.address: str | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        """Open TLS, verify the certificate, start reading. Raises on failure."""
        host, port = self._config.tracker
        ctx = _client_context(self._config)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ctx, server_hostname=host),
                self._config.connect_timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            raise TrackerUntrustedError(
                f"tracker certificate did not verify against {self._config.cafile}: "
                f"{exc.verify_message}"
            ) from None
        except TimeoutError:
            raise RequestTimeoutError(
                f"the tracker at {endpoint_key(host, port)} did not answer within"
                f" {self._config.connect_timeout:g} s (a firewall, or the wrong address?)"
            ) from None
        except OSError as exc:
            raise NotConnectedError(
                f"cannot reach the tracker at {endpoint_key(host, port)}: "
                f"{describe_connect_error(exc)}"
            ) from None
        try:
            await self._verify(writer)
        except BaseException:
            writer.close()
            raise
        self._closing = False
        self._protocol = TrackerClientProtocol()
        self._writer = writer
        peername = writer.get_extra_info("peername")
        self.address = str(peername[0]) if peername else None
        self._reader_task = self._tasks.spawn(self._read_loop(reader, writer), "tracker reader")

    async def _verify(self, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            raise TrackerUntrustedError("the tracker presented no certificate")
        actual = cert_fingerprint(der)
        self.fingerprint = actual
        if self._config.cafile is not None:
            return
        if self._config.tracker_fingerprint is not None:
            if not fingerprints_match(self._config.tracker_fingerprint, actual):
                raise TrackerUntrustedError(
                    "the tracker's certificate fingerprint is\n"
                    f"  SHA256:{actual}\nnot the expected\n"
                    f"  SHA256:{normalize_fingerprint(self._config.tracker_fingerprint)}\n"
                    "Connection refused (possible man in the middle)."
                )
            return
        path = self._config.home / PINS_FILE
        loop = asyncio.get_running_loop()
        pins = await loop.run_in_executor(None, load_pins, path)
        endpoint = endpoint_key(*self._config.tracker)
        self.pinned_now = False
        if check_pin(pins, endpoint, actual, path) is PinDecision.NEW:
            self.pinned_now = True
            pins[endpoint] = actual
            await loop.run_in_executor(None, save_pins, path, pins)
            log.info("pinned tracker %s certificate SHA256:%s (first use)", endpoint, actual)

    async def request(self, cmd: Command, **fields: Any) -> JsonObject:
        """Send one request and return the OK reply's body; raise the typed error otherwise."""
        writer = self._writer
        if writer is None or writer.is_closing():
            raise NotConnectedError("not connected to the tracker")
        request_id, frame = self._protocol.request(cmd, **fields)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            writer.write(frame)
            reply = await asyncio.wait_for(future, self._config.request_timeout)
        except TimeoutError:
            raise RequestTimeoutError(f"the tracker did not answer {cmd} in time") from None
        finally:
            self._pending.pop(request_id, None)
        if not reply.ok:
            raise reply_error(reply)
        return reply.body

    def send_oneway(self, frame: JsonObject) -> None:
        """Write a frame that gets no reply (``RELAY``), in order with the requests."""
        writer = self._writer
        if writer is None or writer.is_closing():
            raise NotConnectedError("not connected to the tracker")
        writer.write(self._protocol.oneway(frame))

    async def drain(self) -> None:
        """Back-pressure: wait while the link's send buffer is above its high mark."""
        writer = self._writer
        if writer is None or writer.is_closing():
            raise NotConnectedError("not connected to the tracker")
        await writer.drain()

    def start_heartbeat(self, interval: float) -> None:
        """PING every ``interval`` seconds until the connection ends."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        self._heartbeat_task = self._tasks.spawn(
            self._heartbeat(max(interval, 0.05)), "tracker heartbeat"
        )

    async def _heartbeat(self, interval: float) -> None:
        while self.connected:
            await asyncio.sleep(interval)
            try:
                await self.request(Command.PING)
            except P2PChatError as exc:
                log.debug("heartbeat failed: %s", exc.code)
                if isinstance(exc, RequestTimeoutError) and self._writer is not None:
                    self._writer.close()
                return

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        detail = "the tracker closed the connection"
        try:
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    break
                for item in self._protocol.receive(data):
                    if isinstance(item, Push):
                        self._on_push(item)
                    else:
                        future = self._pending.get(item.id)
                        if future is not None and not future.done():
                            future.set_result(item)
        except P2PChatError as exc:
            detail = f"tracker sent an invalid frame ({exc.code})"
        except (OSError, ssl.SSLError) as exc:
            detail = f"tracker connection failed: {exc.__class__.__name__}"
        finally:
            self._teardown(writer)
        if not self._closing:
            self._on_lost(detail)

    def _teardown(self, writer: asyncio.StreamWriter) -> None:
        if self._writer is writer:
            self._writer = None
        writer.close()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NotConnectedError("the tracker connection was lost"))
        self._pending.clear()

    def abort(self) -> None:
        """Drop the connection at once without reporting it (crash simulation in tests)."""
        self._closing = True
        writer = self._writer
        if writer is not None:
            writer.transport.abort()
            self._teardown(writer)

    async def close(self) -> None:
        """Close without reporting a loss."""
        self._closing = True
        writer = self._writer
        if writer is not None:
            self._teardown(writer)
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2.0)
        task = self._reader_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._reader_task = None
