"""Target ``framing``: :class:`commons.framing.FrameDecoder` against a reference parser.

Input: a maximum frame size and chunk sizes (the header bytes), then the stream. The
stream is fed in those chunks; the bodies must be exactly what a one-shot reference
parse finds, an over-long announced length must fail *before* its body is buffered,
the buffer never exceeds the maximum, and a failed decoder stays failed.
"""

from __future__ import annotations

from commons.errors import FrameTooLargeError, ProtocolError
from commons.framing import HEADER, HEADER_SIZE, FrameDecoder, encode_frame
from fuzz.byte_reader import ByteReader

MAX_LEN = 70_000
_SIZES = (1, 3, 4, 5, 16, 255, 1024, 65_535, 65_536)


def _reference(stream: bytes, max_size: int) -> tuple[list[bytes], bool]:
    """Complete bodies, and whether a too-large header was reached."""
    bodies: list[bytes] = []
    pos = 0
    while len(stream) - pos >= HEADER_SIZE:
        (length,) = HEADER.unpack_from(stream, pos)
        if length > max_size:
            return bodies, True
        if len(stream) - pos - HEADER_SIZE < length:
            break
        bodies.append(stream[pos + HEADER_SIZE : pos + HEADER_SIZE + length])
        pos += HEADER_SIZE + length
    return bodies, False


def fuzz_one(data: bytes) -> None:
    reader = ByteReader(data)
    max_size = reader.choice(_SIZES)
    chunk_sizes = [1 + reader.below(64) ** 2 for _ in range(4)]
    stream = reader.rest()
    expected, too_large = _reference(stream, max_size)
    decoder = FrameDecoder(max_size)
    got: list[bytes] = []
    failed = False
    pos = 0
    step = 0
    while pos < len(stream):
        size = chunk_sizes[step % len(chunk_sizes)]
        step += 1
        chunk = stream[pos : pos + size]
        pos += len(chunk)
        try:
            got.extend(decoder.feed(chunk))
        except FrameTooLargeError:
            failed = True
            break
        assert decoder.buffered <= max(max_size, HEADER_SIZE)
    assert failed == too_large, (failed, too_large)
    if failed:
        assert decoder.failed
        assert got == expected[: len(got)]
        try:
            decoder.feed(b"\x00")
        except ProtocolError:
            pass
        else:
            raise AssertionError("a failed decoder accepted more input")
    else:
        assert got == expected
    for body in got:
        assert encode_frame(body, max_size) == HEADER.pack(len(body)) + body


def seeds() -> list[bytes]:
    def frames(*bodies: bytes) -> bytes:
        return b"".join(HEADER.pack(len(b)) + b for b in bodies)

    return [
        bytes([6, 0, 0, 0, 0]) + frames(b"", b"x", b'{"cmd":"PING","id":1}'),
        bytes([4, 1, 2, 3, 5]) + frames(b"a" * 20, b"b" * 16),
        bytes([2, 9, 9, 9, 9]) + HEADER.pack(5) + b"12345",
        bytes([7, 0, 1, 0, 1]) + HEADER.pack(65_536) + b"x" * 10,
        bytes([8, 63, 0, 0, 0]) + frames(b"z" * 1000) + b"\x00\x00",
    ]
