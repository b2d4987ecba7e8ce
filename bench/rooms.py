"""Rooms benchmark: a room of N members who also share 4 other rooms (issue 21).

For each size of ``--sizes`` (default 16, the tracker's default capacity, and 64, its
maximum; both in one run, reported side by side), one in-process
:class:`tracker.server.server.TrackerServer` on 127.0.0.1 (TLS) and N real
:class:`peer.client.chat_client.ChatClient` on one event loop, all with durable
membership:

* **Construction.** Five rooms of capacity N: ``big`` and the side rooms ``side1`` to
  ``side4``, each holding the same N members. Every member is in ``big`` and in exactly
  4 side rooms, and every pair of members shares 5 rooms: the worst case for presence,
  which must still reach each room-mate once, not once per shared room. (The joiner
  below enters the side rooms only once its joins are timed, so that a timed join opens
  fresh channels.)
* **Join.** ``joiner`` enters ``big`` full-but-one (N - 1 members, meshed): from
  ``join_room`` until channels to all N - 1 online members are open. Between runs it
  leaves, and the next run starts once every member has closed its channel to it.
* **Message.** One member sends one message to ``big``: until each of the N - 1 others
  has it (a ``MessageReceived`` event).
* **Presence.** One member logs out (``ChatClient.close``; it stays a member): until
  each of the N - 1 others has seen ``MemberOffline`` for ``big``. Then it logs back in
  (a new ``ChatClient`` on the same home, as after a restart, nothing typed): until each
  has seen ``MemberOnline`` for ``big``, and until the returner has its channels back.
  For each change, every other member's tracker pushes are counted (the session's push
  hook is wrapped here, in the bench only): ``PRESENCE`` frames, every push, and their
  bytes on the wire (length prefix and JSON, as the tracker encodes them).

Reported: medians over ``--repeat`` runs, the 64/16 ratio (largest over smallest size),
and the per-member push counts (max and median over members, the worst run).

Usage: ``python bench/rooms.py [--sizes 16,64] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from commons.codec import encode_message
from crypto.keystore import TEST_KDF_PARAMS
from peer.client.chat_client import ChatClient
from peer.config import PeerConfig
from peer.events import (
    ClientEvent,
    MemberOffline,
    MemberOnline,
    MessageReceived,
)
from peer.session.wire import Push
from tracker.config import TrackerConfig
from tracker.server.server import TrackerServer

BIG = "big"
SIDE_ROOMS = ("side1", "side2", "side3", "side4")
PASSWORD = "bench-password"
#: Generous bounds on each wait: a bench that stalls fails loudly instead of hanging.
SETUP_TIMEOUT = 300.0
STEP_TIMEOUT = 60.0


class RefusedHandshakes(logging.Handler):
    """Counts, per phase of the bench, the peers' inbound handshakes dropped for being
    too many from one source (every peer here is 127.0.0.1; a real room has an address
    per member); other warnings go to stderr as usual."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.phase = "setup"
        self.counts: Counter[str] = Counter()
        self._stderr = logging.StreamHandler()

    def emit(self, record: logging.LogRecord) -> None:
        if "from one source" in record.getMessage():
            self.counts[self.phase] += 1
        else:
            self._stderr.emit(record)


REFUSED = RefusedHandshakes()


@dataclass
class Awaited:
    """Waits until each of ``left`` has seen an event ``match`` accepts."""

    match: Callable[[ClientEvent], bool]
    left: set[str]
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Received:
    """What one member's tracker session pushed during a measured window."""

    events: Counter[str] = field(default_factory=Counter)
    wire_bytes: int = 0
    presence_rooms: list[int] = field(default_factory=list)


class Room:
    """The N clients of one size, their event streams, and what the tracker pushed to
    each (the bench's view; nothing here changes how a client behaves)."""

    def __init__(self, tracker: TrackerServer, base: Path) -> None:
        self.tracker = tracker
        self.base = base
        self.clients: dict[str, ChatClient] = {}
        self.received: dict[str, Received] = {}
        self._awaited: list[Awaited] = []
        self._readers: list[asyncio.Task[None]] = []

    async def start(self, name: str, *, register: bool) -> ChatClient:
        config = PeerConfig(
            tracker=("127.0.0.1", self.tracker.port),
            home=self.base / name,
            cafile=self.tracker.cert_path,
        )
        client = ChatClient(config, kdf_params=TEST_KDF_PARAMS)
        self.clients[name] = client
        self._readers.append(asyncio.create_task(self._read(name, client)))
        await client.connect()
        self._count_pushes(name, client)
        if register:
            await client.register(name, PASSWORD)
        await client.login(name, PASSWORD)
        return client

    def _count_pushes(self, name: str, client: ChatClient) -> None:
        """Wrap the tracker link's push hook (bench only) to count what arrives."""
        link = client._session._link
        hook = link._on_push

        def counted(push: Push) -> None:
            got = self.received.setdefault(name, Received())
            got.events[push.event] += 1
            got.wire_bytes += len(encode_message(push.body))
            rooms = push.body.get("rooms")
            if push.event == "PRESENCE" and isinstance(rooms, list):
                got.presence_rooms.append(len(rooms))
            hook(push)

        link._on_push = counted

    async def _read(self, name: str, client: ChatClient) -> None:
        async for event in client.events():
            for awaited in self._awaited:
                if name in awaited.left and awaited.match(event):
                    awaited.left.discard(name)
                    if not awaited.left:
                        awaited.done.set()

    def expect(self, who: set[str], match: Callable[[ClientEvent], bool]) -> Awaited:
        """Register before acting: events that come before the wait are not missed."""
        awaited = Awaited(match, set(who))
        if not awaited.left:
            awaited.done.set()
        self._awaited.append(awaited)
        return awaited

    async def wait(self, awaited: Awaited) -> None:
        try:
            await asyncio.wait_for(awaited.done.wait(), STEP_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(f"still waiting for {sorted(awaited.left)[:5]}") from None
        finally:
            self._awaited.remove(awaited)

    async def channels_gone(self, name: str) -> None:
        """Until no member holds a channel to ``name`` (a channel closed on purpose ends
        with no event, so its state is looked at, every few milliseconds)."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while any(
            (core := self.clients[other].core) is not None and core.channel_of(name) is not None
            for other in self.others(name)
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"channels to {name} still open after {STEP_TIMEOUT:g} s")
            await asyncio.sleep(0.005)

    def others(self, name: str) -> list[str]:
        return [other for other in self.clients if other != name]

    async def close(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


@dataclass
class Figures:
    """One size's measurements, seconds per run; per-member counts of the worst run."""

    size: int
    join: list[float] = field(default_factory=list)
    message: list[float] = field(default_factory=list)
    offline: list[float] = field(default_factory=list)
    online: list[float] = field(default_factory=list)
    back: list[float] = field(default_factory=list)
    logged_in: list[float] = field(default_factory=list)
    #: Per kind of change (``offline``, ``online``), per other member and run.
    counts: dict[str, PushCounts] = field(
        default_factory=lambda: {"offline": PushCounts(), "online": PushCounts()}
    )
    setup: float = 0.0


@dataclass
class PushCounts:
    """What each other member received for one presence change, one entry per member
    and run: ``PRESENCE`` frames, pushes of any kind, their bytes, and the number of
    rooms each ``PRESENCE`` named."""

    presence: list[int] = field(default_factory=list)
    pushes: list[int] = field(default_factory=list)
    wire_bytes: list[int] = field(default_factory=list)
    rooms_named: list[int] = field(default_factory=list)


async def measure(size: int, repeat: int) -> Figures:
    figures = Figures(size)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        tracker = TrackerServer(
            TrackerConfig(
                host="127.0.0.1",
                port=0,
                data_dir=base / "tracker",
                room_capacity=size,
                rooms_per_owner=len(SIDE_ROOMS) + 1,
                # The joiner's timed joins and leaves come faster than a person's.
                room_changes_burst=100,
                trusted_networks=("127.0.0.0/8",),  # many accounts from one address
            )
        )
        await tracker.start()
        room = Room(tracker, base)
        REFUSED.phase = f"setup {size}"
        try:
            started = time.perf_counter()
            await build(room, size)
            figures.setup = time.perf_counter() - started
            REFUSED.phase = f"join {size}"
            await time_joins(room, figures, repeat)
            REFUSED.phase = f"setup {size}"
            joiner = room.clients["joiner"]
            await joiner.join_room(BIG)
            for side in SIDE_ROOMS:
                await joiner.join_room(side)
            await asyncio.wait_for(joiner.wait_channels(room.others("joiner")), STEP_TIMEOUT)
            REFUSED.phase = f"message {size}"
            await time_messages(room, figures, repeat)
            REFUSED.phase = f"presence {size}"
            await time_presence(room, figures, repeat)
        finally:
            await room.close()
            await tracker.stop()
    return figures


async def build(room: Room, size: int) -> None:
    """N - 1 members in all five rooms, meshed; ``joiner`` registered, in no room."""
    owner = await room.start("m00", register=True)
    for name in (BIG, *SIDE_ROOMS):
        await owner.create_room(name)
    for i in range(1, size - 1):
        member = await room.start(f"m{i:02d}", register=True)
        for name in (BIG, *SIDE_ROOMS):
            await member.join_room(name)
    for name, client in room.clients.items():
        await asyncio.wait_for(client.wait_channels(room.others(name)), SETUP_TIMEOUT)
    await room.start("joiner", register=True)


async def time_joins(room: Room, figures: Figures, repeat: int) -> None:
    joiner = room.clients["joiner"]
    members = room.others("joiner")
    for _ in range(repeat):
        started = time.perf_counter()
        await joiner.join_room(BIG)
        await asyncio.wait_for(joiner.wait_channels(members), STEP_TIMEOUT)
        figures.join.append(time.perf_counter() - started)
        await joiner.leave_room(BIG)
        await room.channels_gone("joiner")


def message_named(text: str) -> Callable[[ClientEvent], bool]:
    return lambda e: isinstance(e, MessageReceived) and e.room == BIG and e.text == text


async def time_messages(room: Room, figures: Figures, repeat: int) -> None:
    sender = "m01"
    for run in range(repeat):
        text = f"bench message {run}"
        arrived = room.expect(set(room.others(sender)), message_named(text))
        started = time.perf_counter()
        await room.clients[sender].send_room(BIG, text)
        await room.wait(arrived)
        figures.message.append(time.perf_counter() - started)


async def time_presence(room: Room, figures: Figures, repeat: int) -> None:
    mover = "m01"
    others = set(room.others(mover))

    def member_event(
        kind: type[MemberOnline] | type[MemberOffline],
    ) -> Callable[[ClientEvent], bool]:
        return lambda e: isinstance(e, kind) and e.room == BIG and e.username == mover

    for _ in range(repeat):
        room.received.clear()
        gone = room.expect(others, member_event(MemberOffline))
        started = time.perf_counter()
        await room.clients[mover].close()
        await room.wait(gone)
        figures.offline.append(time.perf_counter() - started)
        count_change(room, others, figures.counts["offline"])

        room.received.clear()
        back = room.expect(others, member_event(MemberOnline))
        started = time.perf_counter()
        client = await room.start(mover, register=False)
        figures.logged_in.append(time.perf_counter() - started)
        await room.wait(back)
        figures.online.append(time.perf_counter() - started)
        await asyncio.wait_for(client.wait_channels(sorted(others)), STEP_TIMEOUT)
        figures.back.append(time.perf_counter() - started)
        count_change(room, others, figures.counts["online"])


def count_change(room: Room, others: set[str], counts: PushCounts) -> None:
    """One presence change's pushes, per other member (a member that got none counts 0)."""
    for name in sorted(others):
        got = room.received.get(name, Received())
        counts.presence.append(got.events["PRESENCE"])
        counts.pushes.append(sum(got.events.values()))
        counts.wire_bytes.append(got.wire_bytes)
        counts.rooms_named.extend(got.presence_rooms)


def report(all_figures: list[Figures], repeat: int) -> None:
    sizes = [f.size for f in all_figures]
    ratio = f"{sizes[-1]}/{sizes[0]}"
    print(
        f"\nN members in '{BIG}' and in 4 side rooms of the same N members (5 shared rooms "
        f"per pair); median of {repeat} runs, ms"
    )
    header = f"{'':<50}" + "".join(f"{f'N={n}':>12}" for n in sizes)
    print(f"{header}{ratio:>9}")
    rows: list[tuple[str, Callable[[Figures], list[float]]]] = [
        ("join big (N-1 in it) until N-1 channels open", lambda f: f.join),
        ("one message to big until N-1 members have it", lambda f: f.message),
        ("log out until N-1 members saw MemberOffline", lambda f: f.offline),
        ("log back in (new client): until login() returns", lambda f: f.logged_in),
        ("log back in until N-1 members saw MemberOnline", lambda f: f.online),
        ("log back in until its N-1 channels are open", lambda f: f.back),
    ]
    for label, pick in rows:
        medians = [statistics.median(pick(f)) * 1000 for f in all_figures]
        cells = "".join(f"{m:>12,.1f}" for m in medians)
        print(f"{label:<50}{cells}{medians[-1] / medians[0]:>8.1f}x")
    counted: list[tuple[str, Callable[[PushCounts], list[int]]]] = [
        ("PRESENCE frames", lambda c: c.presence),
        ("tracker pushes of any kind", lambda c: c.pushes),
        ("bytes of those pushes", lambda c: c.wire_bytes),
        ("rooms named in the PRESENCE", lambda c: c.rooms_named),
    ]
    for change in ("offline", "online"):
        print(f"\nwhat each other member received for one change to {change} (max / median):")
        for label, pick_count in counted:
            cells = "".join(
                f"{f'{max(v)} / {statistics.median(v):g}':>12}"
                for v in (pick_count(f.counts[change]) for f in all_figures)
            )
            print(f"{label:<50}{cells}")
    setups = ", ".join(f"N={f.size} {f.setup:.1f} s" for f in all_figures)
    print(f"\nsetup (N-1 members meshed in 5 rooms, not timed above): {setups}")
    bounded = all(
        set(c.presence) == {1} and set(c.pushes) == {1}
        for f in all_figures
        for c in f.counts.values()
    )
    refused = ", ".join(f"{phase} {n}" for phase, n in sorted(REFUSED.counts.items()))
    print(f"inbound handshakes refused as too many from 127.0.0.1: {refused or 'none'}")
    verdict = "yes" if bounded else "NO"
    print(f"exactly one PRESENCE per other member per change, nothing else pushed: {verdict}")
    if not bounded:
        raise SystemExit(1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,64", help="room sizes, side by side")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger().addHandler(REFUSED)
    print(f"python {platform.python_version()} on {platform.machine()}, {time.strftime('%F')}")
    all_figures = []
    for size in (int(s) for s in args.sizes.split(",")):
        all_figures.append(await measure(size, args.repeat))
    report(all_figures, args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
