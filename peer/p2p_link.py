"""One TCP connection to another peer carrying one end-to-end channel.

The asyncio shell around a sans-I/O channel object (:class:`crypto.channel.SecureChannel`
in production; the benchmark plugs in a plaintext stand-in with the same shape): frame
bodies travel as :mod:`commons.framing` frames, the channel turns them into plaintexts.
The link knows nothing about chat: :mod:`peer.client` decides what the plaintexts mean.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from commons.errors import ErrorCode, P2PChatError
from commons.framing import FrameDecoder, encode_frame
from crypto.channel import CLOSED_DURING_HANDSHAKE_HINT, MAX_BODY

READ_CHUNK = 256 * 1024


class ChannelOutputLike(Protocol):
    @property
    def send(self) -> list[bytes]: ...
    @property
    def messages(self) -> list[bytes]: ...
    @property
    def established(self) -> bool: ...
    @property
    def identified(self) -> tuple[str, bytes] | None: ...


#: Awaited with the remote's claimed username and proven key before they are authorized.
BeforeAuthorize = Callable[[str, bytes], Awaitable[None]]


class ChannelLike(Protocol):
    """What the link needs from a channel (``SecureChannel`` satisfies it)."""

    @property
    def established(self) -> bool: ...
    @property
    def remote_username(self) -> str | None: ...
    @property
    def remote_static(self) -> bytes | None: ...
    def start(self) -> bytes: ...
    def receive(self, body: bytes) -> ChannelOutputLike: ...
    def authorize_remote(self) -> ChannelOutputLike: ...
    def encrypt(self, plaintext: bytes) -> bytes: ...
    def close(self) -> None: ...


class LinkClosedError(P2PChatError):
    """The TCP connection ended (EOF or error) or the link was closed locally."""

    code = ErrorCode.CHANNEL_CLOSED


class P2PLink:
    """Frames in, plaintexts out. Not safe for concurrent ``receive`` calls (one reader)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        channel: ChannelLike,
        max_body: int = MAX_BODY,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.channel = channel
        self._max_body = max_body
        self._decoder = FrameDecoder(max_body)
        self._bodies: deque[bytes] = deque()
        self._messages: deque[bytes] = deque()
        self.closed = False

    @property
    def peer_address(self) -> tuple[str, int] | None:
        address = self._writer.get_extra_info("peername")
        return (str(address[0]), int(address[1])) if address else None

    async def _next_body(self) -> bytes:
        while not self._bodies:
            if self.closed:
                raise LinkClosedError("link closed")
            try:
                data = await self._reader.read(READ_CHUNK)
            except OSError as exc:
                raise LinkClosedError(f"connection failed: {exc.__class__.__name__}") from None
            if not data:
                raise LinkClosedError("the peer closed the connection")
            self._bodies.extend(self._decoder.feed(data))
        return self._bodies.popleft()

    def _write_body(self, body: bytes) -> None:
        if self.closed or self._writer.is_closing():
            raise LinkClosedError("link closed")
        self._writer.write(encode_frame(body, self._max_body))

    async def handshake(
        self, initiator: bool, before_authorize: BeforeAuthorize | None = None
    ) -> None:
        """Run the channel's handshake to completion; errors propagate (link unusable).

        A channel that defers authorization (``identified`` in its output) is held there
        while ``before_authorize(username, key)`` runs, then authorized; nothing is sent
        in between. If the remote closes the connection before the dialler's handshake
        completes, the :class:`LinkClosedError` says what an outdated remote looks like
        from here.
        """
        if initiator:
            self._write_body(self.channel.start())
        while not self.channel.established:
            try:
                body = await self._next_body()
            except LinkClosedError as exc:
                if not initiator or self.closed:
                    raise
                raise LinkClosedError(
                    f"{exc.message} during the handshake ({CLOSED_DURING_HANDSHAKE_HINT})"
                ) from None
            output = self.channel.receive(body)
            if output.identified is not None:
                if before_authorize is not None:
                    await before_authorize(*output.identified)
                output = self.channel.authorize_remote()
            for body in output.send:
                self._write_body(body)
            self._messages.extend(output.messages)
        await self._writer.drain()

    async def receive(self) -> bytes:
        """The next plaintext; raises LinkClosedError at EOF, channel errors on tampering."""
        while not self._messages:
            output = self.channel.receive(await self._next_body())
            self._messages.extend(output.messages)
        return self._messages.popleft()

    def send_nowait(self, plaintext: bytes) -> None:
        """Encrypt and queue one message; ordering is the order of calls."""
        self._write_body(self.channel.encrypt(plaintext))

    async def send(self, plaintext: bytes) -> None:
        """Encrypt, queue, and wait while the transport buffer is above its high mark."""
        self.send_nowait(plaintext)
        await self.drain()

    async def drain(self) -> None:
        """Backpressure: wait while the transport buffer is above its high-water mark."""
        if self.closed:
            raise LinkClosedError("link closed")
        try:
            await self._writer.drain()
        except OSError as exc:
            raise LinkClosedError(f"connection failed: {exc.__class__.__name__}") from None

    def close(self) -> None:
        """Close the channel (keys forgotten) and the socket; idempotent."""
        if self.closed:
            return
        self.closed = True
        self.channel.close()
        self._writer.close()

    def abort(self) -> None:
        """Drop the connection at once (no flush): used to simulate a crash."""
        self.closed = True
        self.channel.close()
        transport = self._writer.transport
        transport.abort()

    async def wait_closed(self) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)
