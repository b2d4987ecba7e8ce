"""Channels through the tracker: each relayed *link* is a body transport whose bodies
travel as ``RELAY`` frames on the tracker session (:mod:`commons.relay_frames`).

The channel shell runs exactly the same Noise channel over a :class:`RelayTransport` as
over TCP (same handshake, same identity checks, same frames); only the transport
differs. :class:`RelayLinks` is the routing table:

* :meth:`RelayLinks.open` makes a link to a user (we are its opener);
* a ``RELAY`` push for a link the other user opened and we do not know starts an
  inbound channel (handed to ``accept``, like a TCP connection from the listener) only
  if its body is a handshake start (a first Noise message, exactly
  :data:`crypto.channel.MSG1_LEN` bytes). Anything else on an unknown link is dropped
  without a word: an answer would be paid from *our* relay budget at the tracker, and a
  stranger sending junk on fresh link numbers could spend it until the tracker stops
  reading us (relay reflection);
* starts are admitted under :mod:`peer.channels.inbound_limits`: handshakes in progress
  per relaying *user* (2) and in all (64), 16 of them kept for users we know (``known``:
  room-mates, pinned contacts, users we have a channel with), who also take a
  stranger's slot when all are taken; starts answered per user and in all at a bounded
  rate (:class:`~peer.channels.inbound_limits.StartBudget`); and ``max_links`` links in
  all. A refused start is ended only within a small budget of ends, and one log line
  per interval says how many were refused;
* a ``RELAY`` push for a link we closed lately is dropped (it crossed our end);
* a ``RELAY_END`` ends one link, or every link with a user (their session ended), and
  losing the tracker session ends them all.

Our own link numbers start at a random point in each process, so a restarted client
does not reuse the numbers of its previous run: the other side still remembers those as
closed lately and would drop the new link's first message.

Closing a link sends its end to the other side. A link closed because a direct channel
replaced it *lingers*: it reads nothing more, and its end goes out only after
``linger`` seconds, so that it cannot overtake the other side's own switch to the
direct channel and look like a loss there.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from commons.rate_limited_log import RateLimitedLog
from commons.relay_frames import MAX_LINK_ID, RelayedBody, RelayEndCode, RelayEnded
from crypto.channel import MSG1_LEN
from peer.channels.inbound_limits import (
    DEFAULT_TOTAL,
    RELAYED_PER_USER,
    HandshakeSlots,
    StartBudget,
    StartRates,
)
from peer.channels.link import LinkClosedError, LinkRefusedError
from peer.errors import NotConnectedError
from peer.supervisor import TaskSupervisor

log = logging.getLogger(__name__)

#: Bodies waiting for a link's reader before the link is declared broken (the reader
#: takes all of them at each turn of the event loop, so this is never near in practice).
MAX_QUEUED = 4096
REMOTE_CLOSED = "the peer closed the connection"


class RelaySender(Protocol):
    """The tracker session, as the links use it."""

    def send_relay(self, to: str, link: int, back: bool, body: bytes | None) -> None: ...
    async def drain_relay(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LinkKey:
    """A link: the other user, its number, and whether we opened it."""

    user: str
    link: int
    mine: bool


class RelayTransport:
    """One relayed link, as a :class:`peer.channels.link.BodyTransport`."""

    def __init__(self, links: RelayLinks, key: LinkKey) -> None:
        self._links = links
        self.key = key
        self._bodies: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._ended: LinkClosedError | None = None
        self._sent = 0
        self.closed = False

    # -- BodyTransport

    async def read_bodies(self) -> list[bytes]:
        """Every body received so far (at least one); what arrived before the link
        ended is read before the end is reported, as with TCP."""
        while not self._bodies:
            if self.closed:
                raise LinkClosedError("link closed")
            if self._ended is not None:
                raise self._ended
            self._wake.clear()
            await self._wake.wait()
        bodies = list(self._bodies)
        self._bodies.clear()
        return bodies

    def write_body(self, body: bytes) -> None:
        if self.closed or self._ended is not None:
            raise LinkClosedError("link closed")
        self._links.send(self.key, body)
        self._sent += len(body)

    def buffered_bytes(self) -> int:
        """Nothing waits per link: a body goes straight onto the tracker session (whose
        buffer all links share, and which the tracker shapes); a remote that does not
        read loses the link at the tracker (``receiver_slow``), so no write deadline is
        needed here."""
        return 0

    def sent_bytes(self) -> int:
        return self._sent

    async def drain(self) -> None:
        if self.closed:
            raise LinkClosedError("link closed")
        await self._links.drain()

    def close(self, linger: float = 0.0) -> None:
        """Close; the other side gets the link's end (after ``linger`` seconds)."""
        if not self.closed:
            self.closed = True
            self._wake.set()
            self._links.forget(self, notify=self._ended is None, linger=linger)

    def abort(self) -> None:
        """Drop the link without telling anyone (a crash, as tests simulate it)."""
        if not self.closed:
            self.closed = True
            self._wake.set()
            self._links.forget(self, notify=False, linger=0.0)

    async def wait_closed(self) -> None:
        return None

    # -- from the routing table

    def deliver(self, body: bytes) -> None:
        if self.closed or self._ended is not None:
            return
        if len(self._bodies) >= MAX_QUEUED:
            self.end(LinkClosedError("relay link overflow: the channel does not read"))
            return
        self._bodies.append(body)
        self._wake.set()

    def end(self, error: LinkClosedError) -> None:
        if self._ended is None:
            self._ended = error
            self._wake.set()


Accept = Callable[[RelayTransport], Awaitable[None]]
#: Whether a user is one we know (their handshakes come first); see :class:`RelayLinks`.
Known = Callable[[str], bool]


def _nobody(_user: str) -> bool:
    return False


class RelayLinks:
    """The routing table of relayed links (see the module docstring)."""

    def __init__(
        self,
        sender: RelaySender,
        accept: Accept,
        tasks: TaskSupervisor,
        *,
        max_pending: int = DEFAULT_TOTAL,
        per_user: int = RELAYED_PER_USER,
        reserve: int | None = None,
        max_links: int = 1024,
        rates: StartRates | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``reserve``: slots for known users (default a quarter of ``max_pending``)."""
        self._sender = sender
        self._accept = accept
        self._tasks = tasks
        self._max_links = max_links
        self._clock = clock
        self._links: dict[LinkKey, RelayTransport] = {}
        self._recently_closed: OrderedDict[LinkKey, None] = OrderedDict()
        self._next_link = secrets.randbelow(MAX_LINK_ID)
        self.slots = HandshakeSlots(
            max_pending, per_user, max_pending // 4 if reserve is None else reserve
        )
        self.budget = StartBudget(rates or StartRates(), clock())
        self._tokens = itertools.count(1)
        self._handshaking: dict[int, RelayTransport] = {}
        self._log = RateLimitedLog(log)
        #: Whether the tracker relays for us now (logged in, and it offers the relay).
        self.available = False
        #: Who we know (the client sets it at login: room-mates, contacts, channels).
        self.known: Known = _nobody

    def __len__(self) -> int:
        return len(self._links)

    def open(self, user: str) -> RelayTransport:
        """A new link to ``user`` (we open it); raises if the relay is not available."""
        if not self.available:
            raise NotConnectedError("the tracker does not relay for us now")
        self._next_link = self._next_link % MAX_LINK_ID + 1
        transport = RelayTransport(self, LinkKey(user, self._next_link, mine=True))
        self._links[transport.key] = transport
        return transport

    # -- from the tracker session

    def received(self, push: RelayedBody) -> None:
        key = LinkKey(push.sender, push.link, mine=push.back)
        transport = self._links.get(key)
        if transport is None:
            if key.mine or key in self._recently_closed:
                return  # it crossed our end of that link
            if len(push.body) != MSG1_LEN:
                # Not a handshake start: junk, or the rest of a link we never had.
                self._log.warning("relay-unknown", "relayed frames on unknown links dropped")
                return
            transport = self._inbound(key)
            if transport is None:
                return
        transport.deliver(push.body)

    def _inbound(self, key: LinkKey) -> RelayTransport | None:
        now = self._clock()
        token = next(self._tokens)
        known = self.known(key.user)
        refusal = None
        if not self.available or len(self._links) >= self._max_links or self._tasks.closed:
            refusal = "too many relayed links"
        else:
            refusal = self.budget.allows(key.user, known=known, now=now)
        if refusal is None:
            decision = self.slots.admit(key.user, token, known=known)
            if not decision.admitted:
                refusal = decision.reason
            else:
                self.budget.take(key.user, known=known, now=now)
                if decision.evict is not None:
                    evicted = self._handshaking.pop(decision.evict, None)
                    if evicted is not None:
                        evicted.end(LinkRefusedError("relay: its handshake slot went to another"))
        if refusal is not None:
            self._log.warning("relay-refused", "relayed handshake refused: %s", refusal)
            self._remember_closed(key)
            if self.budget.refusal_end(now):
                self._send(key, None)
            return None
        transport = RelayTransport(self, key)
        self._links[key] = transport
        self._handshaking[token] = transport
        self._tasks.spawn(self._run_accept(transport, token), f"relayed channel from {key.user}")
        return transport

    async def _run_accept(self, transport: RelayTransport, token: int) -> None:
        try:
            await self._accept(transport)
        finally:
            self._handshaking.pop(token, None)
            self.slots.release(transport.key.user, token)

    def ended(self, push: RelayEnded) -> None:
        if push.code == RelayEndCode.CLOSED:
            error: LinkClosedError = LinkClosedError(REMOTE_CLOSED)
        else:
            error = LinkRefusedError(f"relay: {push.msg!r} ({push.code})")
        if push.link is None:
            for key in [k for k in self._links if k.user == push.user]:
                self._end(key, error)
        else:
            self._end(LinkKey(push.user, push.link, mine=push.back), error)

    def lost(self, detail: str) -> None:
        """The tracker session is gone: so is every link (they are redialled)."""
        self.available = False
        for key in list(self._links):
            self._end(key, LinkRefusedError(f"relay: the tracker connection was lost ({detail})"))

    def _end(self, key: LinkKey, error: LinkClosedError) -> None:
        transport = self._links.pop(key, None)
        if transport is not None:
            self._remember_closed(key)
            transport.end(error)

    # -- from the transports

    def send(self, key: LinkKey, body: bytes | None) -> None:
        try:
            self._sender.send_relay(key.user, key.link, not key.mine, body)
        except NotConnectedError:
            raise LinkRefusedError("relay: not connected to the tracker") from None

    def _send(self, key: LinkKey, body: bytes | None) -> None:
        with contextlib.suppress(LinkClosedError):
            self.send(key, body)

    async def drain(self) -> None:
        try:
            await self._sender.drain_relay()
        except (NotConnectedError, OSError):
            raise LinkRefusedError("relay: not connected to the tracker") from None

    def forget(self, transport: RelayTransport, *, notify: bool, linger: float) -> None:
        key = transport.key
        if self._links.get(key) is transport:
            del self._links[key]
        self._remember_closed(key)
        if not notify or not self.available:
            return
        if linger > 0:
            asyncio.get_running_loop().call_later(linger, self._send, key, None)
        else:
            self._send(key, None)

    def _remember_closed(self, key: LinkKey) -> None:
        self._recently_closed[key] = None
        self._recently_closed.move_to_end(key)
        while len(self._recently_closed) > self._max_links:
            self._recently_closed.popitem(last=False)
