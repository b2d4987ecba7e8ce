"""A TCP proxy for wire tests: records every byte and can tamper with one frame.

It understands only the length-prefixed framing (commons.framing), never the content:
``mutate(direction, index, body)`` may return a modified body for frame ``index`` of a
direction (``"out"``: dialler to listener, ``"in"``: back). ``frames[direction]`` keeps
every frame body seen, in order; :meth:`FramingProxy.wait_finished` waits until
connections have ended in both directions, so a test can assert on everything that
crossed. ``hold()`` swallows what is sent from then on (frames lost in flight) until
``cut()`` drops the connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from commons.framing import FrameDecoder, encode_frame

Mutator = Callable[[str, int, bytes], bytes]


class FramingProxy:
    def __init__(self, mutate: Mutator | None = None) -> None:
        self.target: tuple[str, int] | None = None
        self.recorded = bytearray()
        self._mutate = mutate
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0
        self.connections = 0
        self.frames: dict[str, list[bytes]] = {"out": [], "in": []}
        self._finished = 0
        self._changed = asyncio.Condition()
        self.holding = False
        self.swallowed = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.target is not None
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe("out", reader, up_writer),
            self._pipe("in", up_reader, writer),
            return_exceptions=True,
        )
        async with self._changed:
            self._finished += 1
            self._changed.notify_all()

    async def wait_finished(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` proxied connections have closed in both directions."""

        async def finished() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self._finished >= count)

        await asyncio.wait_for(finished(), timeout)

    async def _pipe(
        self, direction: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        decoder = FrameDecoder(70000)
        index = 0
        try:
            while data := await reader.read(65536):
                self.recorded += data
                for body in decoder.feed(data):
                    self.frames[direction].append(body)
                    if self._mutate is not None:
                        body = self._mutate(direction, index, body)
                    index += 1
                    if self.holding:
                        async with self._changed:
                            self.swallowed += 1
                            self._changed.notify_all()
                        continue
                    writer.write(encode_frame(body, 70000))
                await writer.drain()
        finally:
            writer.close()

    def hold(self) -> None:
        """Forward nothing more on the connections under way (lost in flight)."""
        self.holding = True

    async def wait_swallowed(self, count: int, timeout: float = 10.0) -> None:
        """Until ``count`` frames were swallowed while holding."""

        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.swallowed >= count)

        await asyncio.wait_for(wait(), timeout)

    def cut(self) -> None:
        """Drop the connections under way, as a network blip would; new ones still pass."""
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        self.holding = False

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
