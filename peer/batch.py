"""Batch mode: commands on stdin, one JSON object per line on stdout (for scripts and tests).

Lines are parsed by :mod:`peer.commands.table` and run by :func:`peer.commands.runner.execute`
(the same table and code as the terminal chat). Every output object has an ``"event"``
key: command results (``registered``, ``logged_in``, ``peers``, ``rooms``,
``room_created``, ``joined``, ``left``, ``deleted``, ``users``, ``sent``,
``fingerprint``, ``trusted``, ``verified``, ``rejected``, ``kicked``, ``banned``,
``unbanned``, ``invited``, ``uninvited``, ``room_mode``, ``room_access``, ``bye``),
events from the client (``message`` with ``reply_to`` and ``me``, ``reaction``,
``edited``, ``deleted``, ``typing``, ``read``, ``delivered``, ``failed``, ``member_joined``,
``member_left``, ``room_deleted``, ``key_changed``, ``trust_changed``,
``pins_imported``, ``channel_opened``, ``channel_closed``, ``connection_lost``,
``reconnected``, ``session_replaced``, ``removed_from_room``, ``invited_to_room``,
``channels_refused``) and failures (``error`` with ``code`` and ``message``, and
``retry_after`` in seconds for ``throttled`` and ``rate_limited``). Commands run one
after the other, in input order; events are written as they happen. End of input means
``/quit``.

Back-pressure: a message waits for room in its recipients' backlogs (at most
``CoreSettings.max_pending`` messages per recipient await a receipt) instead of failing
``backlog_full``, and while it waits no further line is taken. Input is read ahead by at
most :data:`LINES_AHEAD` lines, so a script writing faster than its peers acknowledge is
slowed down to their pace (its writes block on the full pipe) and memory stays bounded.

Each object is exactly one line for any line splitter: besides what JSON escapes
anyway, every code point that is unsafe for display (:mod:`commons.untrusted_text`:
C0 and C1 controls, U+0085, bidi controls and every other format character, U+2028 and
U+2029) is written as a ``\\u`` escape, so a consumer that splits on Unicode line
boundaries, or shows a field on a terminal, gets the text inert. Input bytes that are not
UTF-8 become an ``error`` line, never a dead reader.

:func:`run_batch` is the I/O-free core (lines in, objects out); :func:`main_batch` wires it
to stdin and stdout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TextIO, assert_never

from commons.errors import P2PChatError, RateLimitedError
from commons.untrusted_text import replace_unsafe
from peer import events as ev
from peer.client.chat_client import ChatClient
from peer.commands.current_room import aimed_at
from peer.commands.results import Bye, Joined, Result, RoomCreated, RoomSwitched, result_to_json
from peer.commands.runner import SharedCommand, execute
from peer.commands.table import (
    Aimed,
    ClearHistory,
    CloseBuffer,
    Expand,
    Frontend,
    Help,
    Login,
    Query,
    Quit,
    Receipts,
    Search,
    SetSetting,
    Switch,
    command_word,
    parse_line,
)
from peer.config import PeerConfig
from peer.session.pins import endpoint_key

Output = dict[str, Any]
#: Exit status when a ``/login`` failed and no login succeeded afterwards.
EXIT_LOGIN_FAILED = 3
Writer = Callable[[Output], None]
#: Input lines read ahead of the command being run; beyond, stdin is not read.
LINES_AHEAD = 64
TUI_COMMANDS = (
    Help,
    Switch,
    Query,
    CloseBuffer,
    Receipts,
    Search,
    SetSetting,
    ClearHistory,
    Expand,
    Aimed,
)


def event_to_json(event: ev.ClientEvent) -> Output:
    """The batch-mode object of a client event: ``"event"`` (its name) first, then its
    fields under the batch protocol's keys (``user`` for a username, ``by`` for who acted)."""
    name, fields = _event_fields(event)
    return {"event": name, **fields}


def _event_fields(event: ev.ClientEvent) -> tuple[str, Output]:
    """Exhaustive over :data:`peer.events.ClientEvent`: mypy refuses an event type left out."""
    match event:
        case ev.MessageReceived():
            return "message", {
                "room": event.room,
                "from": event.sender,
                "text": event.text,
                "timestamp": event.timestamp,
                "msg_id": event.msg_id,
                "reply_to": None if event.reply_to is None else _ref(event.reply_to),
                "me": event.me,
            }
        case ev.ReactionChanged():
            return "reaction", {
                "room": event.room,
                "user": event.username,
                "target": _ref(event.target),
                "emoji": event.emoji,
                "on": event.on,
                "timestamp": event.timestamp,
            }
        case ev.MessageEdited():
            return "edited", {
                "room": event.room,
                "user": event.username,
                "msg_id": event.msg_id,
                "text": event.text,
                "timestamp": event.timestamp,
            }
        case ev.MessageDeleted():
            return "deleted", {
                "room": event.room,
                "user": event.username,
                "msg_id": event.msg_id,
                "timestamp": event.timestamp,
            }
        case ev.TypingChanged():
            return "typing", {"room": event.room, "user": event.username, "active": event.active}
        case ev.ReadUpTo():
            return "read", {"room": event.room, "user": event.username, "up_to": _ref(event.up_to)}
        case ev.MemberJoined():
            return "member_joined", {"room": event.room, "user": event.username}
        case ev.MemberLeft():
            return "member_left", {
                "room": event.room,
                "user": event.username,
                "reason": event.reason,
            }
        case ev.MemberOnline():
            return "member_online", {"room": event.room, "user": event.username}
        case ev.MemberOffline():
            return "member_offline", {"room": event.room, "user": event.username}
        case ev.RoomsRestored():
            return "rooms_restored", {"rooms": list(event.rooms)}
        case ev.RoomDeleted():
            return "room_deleted", {"room": event.room, "by": event.owner}
        case ev.KeyChanged():
            return "key_changed", {
                "user": event.username,
                "fingerprint": event.fingerprint,
                "pending": list(event.pending),
            }
        case ev.TrustChanged():
            return "trust_changed", {
                "user": event.username,
                "trust": event.state,
                "fingerprint": event.fingerprint,
            }
        case ev.ChannelOpened():
            return "channel_opened", {"user": event.username, "path": event.path}
        case ev.ChannelClosed():
            return "channel_closed", {"user": event.username, "reason": event.reason}
        case ev.ConnectionLost():
            return "connection_lost", {"detail": event.detail}
        case ev.Reconnected():
            return "reconnected", {}
        case ev.SessionReplaced():
            return "session_replaced", {}
        case ev.MessageDelivered():
            return "delivered", {"msg_id": event.msg_id, "user": event.username}
        case ev.MessageFailed():
            return "failed", {
                "msg_id": event.msg_id,
                "user": event.username,
                "reason": event.reason,
            }
        case ev.RemovedFromRoom():
            return "removed_from_room", {
                "room": event.room,
                "by": event.by,
                "reason": event.reason,
            }
        case ev.RoomLost():
            return "room_lost", {"room": event.room}
        case ev.InvitedToRoom():
            return "invited_to_room", {"room": event.room, "by": event.by}
        case ev.ChannelsRefused():
            return "channels_refused", {
                "user": event.username,
                "code": event.code,
                "count": event.count,
                "seconds": event.seconds,
            }
        case ev.ErrorEvent():
            return "error", {"code": event.code, "message": event.message}
        case _:
            assert_never(event)


def _ref(ref: ev.MessageRef) -> Output:
    return {"from": ref.author, "msg_id": ref.msg_id}


def error_to_json(exc: P2PChatError, command: str | None = None) -> Output:
    out: Output = {"event": "error", "code": str(exc.code), "message": exc.message}
    if isinstance(exc, RateLimitedError):
        out["retry_after"] = exc.retry_after
    if command is not None:
        out["command"] = command
    return out


def _endpoint(address: tuple[str, int] | None) -> str | None:
    return None if address is None else endpoint_key(*address)


async def run_batch(config: PeerConfig, lines: AsyncIterator[str], write: Writer) -> int:
    """Run a client driven by ``lines``; every reply and event goes to ``write``.

    Returns the process exit status: 0 after /quit or end of input, 1 if the tracker
    could not be reached (or verified) at start, :data:`EXIT_LOGIN_FAILED` if a
    ``/login`` failed and the session ended without any login succeeding (a script
    whose password is wrong must not look like it worked).
    """
    client = ChatClient(config)
    pump = asyncio.create_task(_pump_events(client, write))
    try:
        await client.connect()
    except P2PChatError as exc:
        write(error_to_json(exc, "connect"))
        await client.close()
        await pump
        return 1
    write(
        {
            "event": "ready",
            "tracker": endpoint_key(*config.tracker),
            "tracker_fingerprint": client.tracker_fingerprint,
            "listen": _endpoint(client.listen_address),
        }
    )
    login_failed = False
    current = CurrentRoom(client)
    async for line in lines:
        try:
            command = parse_line(line, Frontend.BATCH)
        except P2PChatError as exc:
            write(error_to_json(exc, command_word(line)))
            continue
        if command is None:
            continue
        if isinstance(command, Quit):
            break
        assert not isinstance(command, TUI_COMMANDS)  # the batch table offers none of them
        try:
            result = await execute(client, current.aim(command), wait=True)
            current.after(result)
            write(result_to_json(result))
        except P2PChatError as exc:
            write(error_to_json(exc, command_word(line.strip())))
            login_failed = login_failed or isinstance(command, Login)
    logged_in = client.username is not None
    await client.close()
    await pump
    write(result_to_json(Bye()))
    return EXIT_LOGIN_FAILED if login_failed and not logged_in else 0


class CurrentRoom:
    """Where batch's plain lines go: the room last joined, created or ``/switch``ed to;
    when that is not one of ours any more (left, kicked, deleted, after a login), the
    first of the client's rooms in join order. The client itself has no current room."""

    def __init__(self, client: ChatClient) -> None:
        self._client = client
        self._chosen: str | None = None

    @property
    def room(self) -> str | None:
        rooms = self._client.rooms
        if self._chosen in rooms:
            return self._chosen
        return rooms[0] if rooms else None

    def aim(self, command: SharedCommand) -> SharedCommand:
        """``command`` with the current room filled in where it names none."""
        aimed = aimed_at(command, self.room)
        assert not isinstance(aimed, TUI_COMMANDS)  # aiming keeps the command's type
        return aimed

    def after(self, result: Result) -> None:
        match result:
            case Joined(room) | RoomSwitched(room):
                self._chosen = room
            case RoomCreated(room) if room in self._client.rooms:
                self._chosen = room
            case _:
                pass


async def _pump_events(client: ChatClient, write: Writer) -> None:
    async for event in client.events():
        write(event_to_json(event))


def _stdin_lines(stream: TextIO, ahead: int = LINES_AHEAD) -> AsyncIterator[str]:
    """Lines of a blocking stream, read by a daemon thread (works for pipes, files, TTYs).

    At most ``ahead`` lines wait to be taken: the thread then blocks, and the stream is
    not read until the consumer takes one (back-pressure up to whoever writes it)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=ahead)

    def post(item: str | None) -> bool:
        """Hand ``item`` over, waiting for room; False once the loop is gone (exiting)."""
        try:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
        except (RuntimeError, concurrent.futures.CancelledError):
            return False
        return True

    def reader() -> None:
        # Bytes, decoded per line: one line that is not UTF-8 must not end the input.
        source = getattr(stream, "buffer", None)
        lines = stream if source is None else source
        for line in lines:
            text = line if isinstance(line, str) else line.decode("utf-8", "surrogateescape")
            if not post(text):
                return
        post(None)

    threading.Thread(target=reader, name="p2pchat-stdin", daemon=True).start()

    async def lines() -> AsyncIterator[str]:
        while True:
            item = await queue.get()
            if item is None:
                return
            yield item

    return lines()


def _json_escape(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"  # a lone surrogate (never passes decoding) would not be text
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def json_line(obj: Output) -> str:
    """``obj`` as one compact JSON line (no newline) with no unsafe character raw."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return replace_unsafe(text, _json_escape)


def json_line_writer(stream: TextIO) -> Writer:
    """One compact JSON object per line, flushed at once."""

    def write(obj: Output) -> None:
        stream.write(json_line(obj) + "\n")
        stream.flush()

    return write


async def main_batch(config: PeerConfig) -> int:
    """Batch mode on this process's stdin and stdout."""
    return await run_batch(config, _stdin_lines(sys.stdin), json_line_writer(sys.stdout))
