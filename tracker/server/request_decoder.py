"""Bytes from one client connection to validated requests or error replies. Sans-I/O.

This is the untrusted edge: frames are size-checked before buffering
(:class:`commons.framing.FrameDecoder`), bodies are decoded strictly
(:mod:`commons.codec`) and requests validated field by field
(:func:`commons.tracker_protocol.parse_request`; ``RELAY`` frames, which are not
requests, by :func:`commons.relay_frames.parse_relay`). Anything wrong becomes a
:class:`Rejected` holding the ``ERROR`` reply to send. Only a framing error loses the
stream's sync, so only that one asks for the connection to be closed; a bad body is
answered and the next frame is read normally, up to a point: after
:data:`MAX_REJECTED_IN_A_ROW` bad frames without a valid request between them the
decoder answers ``too_many_errors`` and asks for the connection to be closed. A burst of
tiny bad frames (a zero-length frame is 4 bytes, its error reply ~90) therefore costs
the tracker at most that many replies, not one per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from commons.codec import JsonObject, decode_object
from commons.errors import ErrorCode, P2PChatError, ProtocolError
from commons.framing import FrameDecoder
from commons.relay_frames import RELAY_COMMAND, RelayFrame, parse_relay
from commons.tracker_protocol import Request, error, error_from, parse_request, parse_request_id

#: Bad frames in a row (no valid request between them) before the connection is closed;
#: the last of them is answered ``too_many_errors`` instead of its own error.
MAX_REJECTED_IN_A_ROW = 8


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input that earned an ``ERROR`` reply; ``close`` when the stream is unusable."""

    reply: JsonObject
    close: bool = False


Decoded = Request | RelayFrame | Rejected


class RequestDecoder:
    """``feed(bytes) -> list[Request | RelayFrame | Rejected]`` for one connection.

    After it has returned a ``Rejected`` with ``close`` set, it returns nothing more.
    """

    __slots__ = ("_done", "_frames", "_rejected_in_a_row")

    def __init__(self, max_frame_size: int) -> None:
        self._frames = FrameDecoder(max_frame_size)
        self._rejected_in_a_row = 0
        self._done = False

    @property
    def buffered(self) -> int:
        return self._frames.buffered

    def feed(self, data: bytes) -> list[Decoded]:
        if self._done:
            return []
        try:
            bodies = self._frames.feed(data)
        except ProtocolError as exc:
            self._done = True
            return [Rejected(error(None, exc.code, exc.message), close=True)]
        items: list[Decoded] = []
        for body in bodies:
            item = self._parse(body)
            if not isinstance(item, Rejected):
                self._rejected_in_a_row = 0
            else:
                self._rejected_in_a_row += 1
                if self._rejected_in_a_row >= MAX_REJECTED_IN_A_ROW:
                    self._done = True
                    message = f"{MAX_REJECTED_IN_A_ROW} bad frames in a row; closing"
                    items.append(
                        Rejected(error(None, ErrorCode.TOO_MANY_ERRORS, message), close=True)
                    )
                    break
            items.append(item)
        return items

    @staticmethod
    def _parse(body: bytes) -> Decoded:
        try:
            obj = decode_object(body)
        except ProtocolError as exc:
            return Rejected(error_from(None, exc))
        try:
            if obj.get("cmd") == RELAY_COMMAND:
                return parse_relay(obj)
            return parse_request(obj)
        except P2PChatError as exc:
            return Rejected(error_from(parse_request_id(obj), exc))
        except Exception:  # a validator bug must cost one reply, not the connection
            return Rejected(error(parse_request_id(obj), ErrorCode.BAD_REQUEST, "bad request"))
