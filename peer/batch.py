"""Batch mode: commands on stdin, one JSON object per line on stdout (for scripts and tests).

Every output object has an ``"event"`` key: replies to commands (``registered``,
``logged_in``, ``peers``, ``rooms``, ``room_created``, ``joined``, ``left``, ``deleted``,
``users``, ``sent``, ``fingerprint``, ``trusted``, ``verified``, ``bye``), events from
the client (``message``, ``member_joined``, ``member_left``, ``room_deleted``,
``key_changed``, ``channel_opened``, ``channel_closed``, ``connection_lost``,
``reconnected``, ``session_replaced``) and failures (``error`` with ``code`` and
``message``). Commands run one after the other, in input order; events are written as
they happen. End of input means ``/quit``.

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
import contextlib
import json
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TextIO

from commons.errors import P2PChatError
from commons.untrusted_text import has_lone_surrogate, replace_unsafe
from peer import batch_commands as cmd
from peer import events as ev
from peer.client import ChatClient
from peer.config import PeerConfig
from peer.tracker_pins import endpoint_key

Output = dict[str, Any]
Writer = Callable[[Output], None]


def event_to_json(event: ev.Event) -> Output:
    """The batch-mode object of a client event."""
    if isinstance(event, ev.MessageReceived):
        return {
            "event": "message",
            "room": event.room,
            "from": event.sender,
            "text": event.text,
            "timestamp": event.timestamp,
            "msg_id": event.msg_id,
        }
    if isinstance(event, ev.MemberJoined):
        return {"event": "member_joined", "room": event.room, "user": event.username}
    if isinstance(event, ev.MemberLeft):
        return {
            "event": "member_left",
            "room": event.room,
            "user": event.username,
            "reason": event.reason,
        }
    if isinstance(event, ev.RoomDeleted):
        return {"event": "room_deleted", "room": event.room}
    if isinstance(event, ev.KeyChanged):
        return {"event": "key_changed", "user": event.username, "fingerprint": event.fingerprint}
    if isinstance(event, ev.ChannelOpened):
        return {"event": "channel_opened", "user": event.username}
    if isinstance(event, ev.ChannelClosed):
        return {"event": "channel_closed", "user": event.username, "reason": event.reason}
    if isinstance(event, ev.ConnectionLost):
        return {"event": "connection_lost", "detail": event.detail}
    if isinstance(event, ev.Reconnected):
        return {"event": "reconnected"}
    if isinstance(event, ev.SessionReplaced):
        return {"event": "session_replaced"}
    return {"event": "error", "code": event.code, "message": event.message}


def error_to_json(exc: P2PChatError, command: str | None = None) -> Output:
    out: Output = {"event": "error", "code": str(exc.code), "message": exc.message}
    if command is not None:
        out["command"] = command
    return out


def _endpoint(address: tuple[str, int] | None) -> str | None:
    return None if address is None else endpoint_key(*address)


async def execute(client: ChatClient, command: cmd.BatchCommand) -> Output:
    """Run one command and return its reply object (errors raise P2PChatError)."""
    if isinstance(command, cmd.Register):
        await client.register(command.username, command.password)
        return {"event": "registered", "user": command.username}
    if isinstance(command, cmd.Login):
        await client.login(command.username, command.password, command.replace_key)
        return {
            "event": "logged_in",
            "user": command.username,
            "fingerprint": client.fingerprint(),
            "listen": _endpoint(client.listen_address),
        }
    if isinstance(command, cmd.ListPeers):
        peers = await client.list_peers()
        return {
            "event": "peers",
            "peers": [
                {
                    "user": p.username,
                    "host": p.host,
                    "port": p.port,
                    "room": p.room,
                    "fingerprint": client.fingerprint(p.username),
                }
                for p in peers
            ],
        }
    if isinstance(command, cmd.ListRooms):
        rooms = await client.list_rooms()
        return {
            "event": "rooms",
            "rooms": [
                {
                    "room": r.name,
                    "owner": r.owner,
                    "members": list(r.members),
                    "capacity": r.capacity,
                }
                for r in rooms
            ],
        }
    if isinstance(command, cmd.CreateRoom):
        info = await client.create_room(command.room)
        return {
            "event": "room_created",
            "room": info.name,
            "owner": info.owner,
            "members": list(info.members),
            "capacity": info.capacity,
        }
    if isinstance(command, cmd.JoinRoom):
        members = await client.join_room(command.room)
        return {
            "event": "joined",
            "room": command.room,
            "owner": client.room_owner,
            "members": members,
        }
    if isinstance(command, cmd.LeaveRoom):
        room = client.room
        await client.leave_room()
        return {"event": "left", "room": room}
    if isinstance(command, cmd.DeleteRoom):
        await client.delete_room(command.room)
        return {"event": "deleted", "room": command.room}
    if isinstance(command, cmd.ListUsers):
        return {
            "event": "users",
            "room": client.room,
            "owner": client.room_owner,
            "members": client.members,
            "connected": client.connected_peers,
        }
    if isinstance(command, cmd.SendPrivate):
        msg_id = await client.send_private(command.username, command.text)
        return {"event": "sent", "room": None, "to": command.username, "msg_id": msg_id}
    if isinstance(command, cmd.SendRoom):
        msg_id = await client.send_room(command.text)
        return {"event": "sent", "room": client.room, "to": None, "msg_id": msg_id}
    if isinstance(command, cmd.ShowFingerprint):
        return _fingerprint_reply(client, command.username)
    if isinstance(command, cmd.Trust):
        await client.trust(command.username)
        return {"event": "trusted", "user": command.username}
    if isinstance(command, cmd.Verify):
        await client.verify(command.username)
        return {"event": "verified", "user": command.username}
    await client.close()
    return {"event": "bye"}


def _fingerprint_reply(client: ChatClient, username: str | None) -> Output:
    if username is None or username == client.username:
        return {
            "event": "fingerprint",
            "user": client.username,
            "fingerprint": client.fingerprint(),
        }
    state = client.trust_state(username)
    return {
        "event": "fingerprint",
        "user": username,
        "fingerprint": client.fingerprint(username),
        "safety_number": client.safety_number(username),
        "trust": None if state is None else str(state),
    }


def _command_name(line: str) -> str:
    """The command word of ``line`` for error replies (``say`` for a room message)."""
    if line.startswith("/") and not line.startswith("//"):
        word = line[1:].split(" ", 1)[0].strip().lower()[:32]
        return word.encode("utf-8", "replace").decode("utf-8") if has_lone_surrogate(word) else word
    return "say"


async def run_batch(config: PeerConfig, lines: AsyncIterator[str], write: Writer) -> int:
    """Run a client driven by ``lines``; every reply and event goes to ``write``.

    Returns the process exit status: 0 after /quit or end of input, 1 if the tracker
    could not be reached (or verified) at start.
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
    quit_reply: Output = {"event": "bye"}
    async for line in lines:
        try:
            command = cmd.parse_line(line)
        except P2PChatError as exc:
            write(error_to_json(exc, _command_name(line)))
            continue
        if command is None:
            continue
        if isinstance(command, cmd.Quit):
            break
        try:
            write(await execute(client, command))
        except P2PChatError as exc:
            write(error_to_json(exc, _command_name(line.strip())))
    await client.close()
    await pump
    write(quit_reply)
    return 0


async def _pump_events(client: ChatClient, write: Writer) -> None:
    async for event in client.events():
        write(event_to_json(event))


def _stdin_lines(stream: TextIO) -> AsyncIterator[str]:
    """Lines of a blocking stream, read by a daemon thread (works for pipes, files, TTYs)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def post(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: we are exiting
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def reader() -> None:
        # Bytes, decoded per line: one line that is not UTF-8 must not end the input.
        source = getattr(stream, "buffer", None)
        if source is None:
            for line in stream:
                post(line)
        else:
            for raw in source:
                post(raw.decode("utf-8", "surrogateescape"))
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
