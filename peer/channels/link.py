"""One end-to-end channel over one transport: frame bodies in, plaintexts out.

The asyncio shell around a sans-I/O channel object (:class:`crypto.channel.SecureChannel`
in production; the benchmark plugs in a plaintext stand-in with the same shape). What
carries the channel's bodies is a :class:`BodyTransport`: :class:`TcpTransport` frames
them with :mod:`commons.framing` on a direct TCP connection; another transport (a relay
through the tracker) only has to move whole bodies in order. The link knows nothing
about chat: :mod:`peer.channels.shell` decides what the plaintexts mean.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from commons.errors import ErrorCode, P2PChatError
from commons.framing import FrameDecoder, encode_frame
from crypto.authorization import Admission
from crypto.channel import CLOSED_DURING_HANDSHAKE_HINT, MAX_BODY, SecureChannel
from crypto.identity import IdentityKey

READ_CHUNK = 256 * 1024
#: A closing link flushes at most this much; a larger backlog is dropped at once.
CLOSE_FLUSH_LIMIT = 64 * 1024
#: ... and for at most this many seconds.
CLOSE_FLUSH_TIMEOUT = 10.0


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
    """The connection ended (EOF or error) or the link was closed locally."""

    code = ErrorCode.CHANNEL_CLOSED


class LinkRefusedError(LinkClosedError):
    """The path ended the link, not the peer (the relay refused it or dropped frames,
    the tracker connection was lost): nothing to say about the remote's version."""


class BodyTransport(Protocol):
    """Moves a channel's bodies, whole and in order, to the other end.

    ``buffered_bytes()`` is what was written but still waits in this process;
    ``sent_bytes()`` counts every byte that ever left it (for the write deadlines of
    :mod:`peer.channels.write_watch`)."""

    @property
    def closed(self) -> bool: ...
    async def read_bodies(self) -> list[bytes]: ...
    def write_body(self, body: bytes) -> None: ...
    def buffered_bytes(self) -> int: ...
    def sent_bytes(self) -> int: ...
    async def drain(self) -> None: ...
    def close(self, linger: float = 0.0) -> None: ...
    def abort(self) -> None: ...
    async def wait_closed(self) -> None: ...


class TcpTransport:
    """Bodies as length-prefixed frames on a TCP stream, size-checked before buffering."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_body: int = MAX_BODY
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._max_body = max_body
        self._decoder = FrameDecoder(max_body)
        self._written = 0
        self.closed = False

    async def read_bodies(self) -> list[bytes]:
        """At least one body; every body the next read completed."""
        while True:
            if self.closed:
                raise LinkClosedError("link closed")
            try:
                data = await self.reader.read(READ_CHUNK)
            except OSError as exc:
                raise LinkClosedError(f"connection failed: {exc.__class__.__name__}") from None
            if not data:
                raise LinkClosedError("the peer closed the connection")
            bodies = self._decoder.feed(data)
            if bodies:
                return bodies

    def write_body(self, body: bytes) -> None:
        if self.closed or self.writer.is_closing():
            raise LinkClosedError("link closed")
        frame = encode_frame(body, self._max_body)
        self._written += len(frame)
        self.writer.write(frame)

    def buffered_bytes(self) -> int:
        return self.writer.transport.get_write_buffer_size()

    def sent_bytes(self) -> int:
        return self._written - self.buffered_bytes()

    async def drain(self) -> None:
        if self.closed:
            raise LinkClosedError("link closed")
        try:
            await self.writer.drain()
        except OSError as exc:
            raise LinkClosedError(f"connection failed: {exc.__class__.__name__}") from None

    def close(self, linger: float = 0.0) -> None:
        """Close after flushing what waits, unless it is more than a remote that reads
        would have taken by now: a remote that stopped reading must not keep the
        connection (and its buffer) open for ever. (``linger`` is for transports whose
        end could overtake a switch of path; a TCP connection closes now.)"""
        self.closed = True
        waiting = self.buffered_bytes()
        if waiting > CLOSE_FLUSH_LIMIT:
            self.writer.transport.abort()
            return
        self.writer.close()
        if waiting:
            transport = self.writer.transport
            asyncio.get_running_loop().call_later(CLOSE_FLUSH_TIMEOUT, transport.abort)

    def abort(self) -> None:
        self.closed = True
        self.writer.transport.abort()

    async def wait_closed(self) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)


class P2PLink:
    """Bodies in, plaintexts out. One reader at a time (``receive``/``receive_batch``)."""

    def __init__(self, transport: BodyTransport, channel: ChannelLike) -> None:
        self.transport = transport
        self.channel = channel
        self._bodies: deque[bytes] = deque()
        self._messages: deque[bytes] = deque()
        self._error: BaseException | None = None

    @classmethod
    def over_tcp(
        cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, channel: ChannelLike
    ) -> P2PLink:
        return cls(TcpTransport(reader, writer), channel)

    @classmethod
    def secure(
        cls,
        transport: BodyTransport,
        *,
        initiator: bool,
        identity: IdentityKey,
        username: str,
        admission: Admission,
    ) -> P2PLink:
        """A link whose Noise channel checks the remote with ``admission``, deferred to
        :meth:`handshake` so the check may await a look-up first (both ends of a peer's
        channels, dialled and accepted, are made here)."""
        channel = SecureChannel(
            initiator=initiator,
            identity=identity,
            username=username,
            authorize=admission.authorize,
            defer_authorize=True,
        )
        return cls(transport, channel)

    @property
    def closed(self) -> bool:
        return self.transport.closed

    async def _next_body(self) -> bytes:
        if not self._bodies:
            self._bodies.extend(await self.transport.read_bodies())
        return self._bodies.popleft()

    def _write_body(self, body: bytes) -> None:
        self.transport.write_body(body)

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
                if not initiator or self.closed or isinstance(exc, LinkRefusedError):
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
        await self.transport.drain()

    async def receive(self) -> bytes:
        """The next plaintext; raises LinkClosedError at EOF, channel errors on tampering."""
        while not self._messages:
            if self._error is not None:
                raise self._error
            output = self.channel.receive(await self._next_body())
            self._messages.extend(output.messages)
        return self._messages.popleft()

    async def receive_batch(self) -> list[bytes]:
        """Every plaintext of the bodies already read (at least one). An error after some
        good messages is kept for the next call, so those messages are not lost."""
        if not self._messages:
            self._messages.append(await self.receive())
        try:
            while self._bodies:
                self._messages.extend(self.channel.receive(self._bodies.popleft()).messages)
        except P2PChatError as exc:
            self._error = exc
            self._bodies.clear()
        batch = list(self._messages)
        self._messages.clear()
        return batch

    def send_nowait(self, plaintext: bytes) -> None:
        """Encrypt and queue one message; ordering is the order of calls."""
        self._write_body(self.channel.encrypt(plaintext))

    async def send(self, plaintext: bytes) -> None:
        """Encrypt, queue, and wait while the transport buffer is above its high mark."""
        self.send_nowait(plaintext)
        await self.drain()

    async def drain(self) -> None:
        """Backpressure: wait while the transport buffer is above its high-water mark."""
        await self.transport.drain()

    def close(self, linger: float = 0.0) -> None:
        """Close the channel (keys forgotten) and the transport; idempotent."""
        if self.transport.closed:
            return
        self.channel.close()
        self.transport.close(linger)

    def abort(self) -> None:
        """Drop the connection at once (no flush): used to simulate a crash."""
        self.channel.close()
        self.transport.abort()

    async def wait_closed(self) -> None:
        await self.transport.wait_closed()
