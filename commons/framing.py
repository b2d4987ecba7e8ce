"""Length-prefixed framing, sans-I/O.

A frame is a 4-byte unsigned big-endian length followed by exactly that many body bytes.
The tracker protocol puts one UTF-8 JSON object in each body (see :mod:`commons.codec`);
the peer-to-peer channel puts one Noise message in each body.

:class:`FrameDecoder` is fed whatever the transport delivered (any split, any merge) and
returns the complete bodies. It checks an announced length against ``max_frame_size``
*before* buffering a single byte of that body, so a hostile length costs no memory.
After an error the decoder is poisoned: the stream has lost sync and must be closed.
"""

from __future__ import annotations

import struct

from commons.errors import FrameTooLargeError, ProtocolError

HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size
DEFAULT_MAX_FRAME_SIZE = 64 * 1024
ABSOLUTE_MAX_FRAME_SIZE = 2**32 - 1


def encode_frame(body: bytes, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> bytes:
    """Return ``body`` with its length prefix; refuse bodies the receiver would refuse."""
    if len(body) > max_frame_size:
        raise FrameTooLargeError(
            f"frame body of {len(body)} bytes exceeds the maximum of {max_frame_size}"
        )
    return HEADER.pack(len(body)) + body


class FrameDecoder:
    """Incremental decoder: ``feed(bytes) -> list[bytes]`` of complete frame bodies."""

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if not 0 < max_frame_size <= ABSOLUTE_MAX_FRAME_SIZE:
            raise ValueError("max_frame_size must be between 1 and 2**32-1")
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._expected: int | None = None
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame (bounded by the max size)."""
        return len(self._buffer)

    @property
    def failed(self) -> bool:
        return self._failed

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data`` and return every body it completed, in order.

        Raises :class:`FrameTooLargeError` when a header announces more than the maximum;
        bodies completed earlier in the same ``data`` are lost with the stream, which is
        correct: the connection is about to be closed.
        """
        if self._failed:
            raise ProtocolError("frame decoder used after a framing error")
        frames: list[bytes] = []
        view = memoryview(data)
        while view:
            if self._expected is None:
                need = HEADER_SIZE - len(self._buffer)
                self._buffer += view[:need]
                view = view[need:]
                if len(self._buffer) < HEADER_SIZE:
                    break
                (length,) = HEADER.unpack(self._buffer)
                self._buffer.clear()
                if length > self.max_frame_size:
                    self._failed = True
                    raise FrameTooLargeError(
                        f"announced frame of {length} bytes exceeds the maximum of "
                        f"{self.max_frame_size}"
                    )
                self._expected = length
            need = self._expected - len(self._buffer)
            self._buffer += view[:need]
            view = view[need:]
            if len(self._buffer) == self._expected:
                frames.append(bytes(self._buffer))
                self._buffer.clear()
                self._expected = None
        return frames
