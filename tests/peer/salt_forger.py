"""A tracker turned hostile, for the login tests: it holds the real tracker's certificate
and key (or whoever stole them does), answers ``SALT`` with whatever the test forged, and
refuses everything else, keeping every byte and frame it received.

The realm test forges another group's realm and salt, the downgrade test a ``legacy``
flag; what each checks is what the client then sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from commons.codec import decode_object, encode_message
from commons.errors import ErrorCode
from commons.framing import FrameDecoder
from commons.tracker_protocol import error, ok
from tracker.server.server import TrackerServer


class SaltForger:
    """Answers ``SALT`` with ``salt_reply`` (less its ``status`` and ``id``), anything else
    with ``auth_failed``."""

    def __init__(self, real: TrackerServer, salt_reply: dict[str, Any]) -> None:
        self._real = real
        self._salt = {k: v for k, v in salt_reply.items() if k not in ("status", "id")}
        self.received: list[dict[str, Any]] = []
        self.raw = bytearray()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=self._real.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                self.raw += data
                for body in decoder.feed(data):
                    frame = decode_object(body)
                    self.received.append(frame)
                    if frame.get("cmd") == "SALT":
                        reply = ok(frame.get("id"), **self._salt)
                    else:
                        reply = error(frame.get("id"), ErrorCode.AUTH_FAILED, "no")
                    writer.write(encode_message(reply))
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
