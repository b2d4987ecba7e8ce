"""One room as this client sees it, sans-I/O: the tracker's list refined by the channels.

The tracker's ``ROOM_UPDATE`` is the member list (:attr:`RoomState.members`). The
channels know some things sooner: a ``leave`` frame, a channel that closes or falls
silent past the keepalive deadline. Such a member is *gone* (reported left at once, the
later tracker update is then silent). A member the tracker dropped while our channel to
them is alive (tracker restart, their tracker link down) is *detached*: they stay until
that channel closes or falls silent, or for at most ``detach_grace`` seconds if the
tracker does not list them again, and their return in a later update is silent. A
member the tracker says *departed* (left, kicked or banned: ``ROOM_UPDATE``'s
``removed``) is never detached, live channel or not: that is how an owner's kick takes
effect at every member, not only at the kicked client (whose own code may ignore it).

Room messages that beat the tracker's update announcing their sender are *held*, at most
``held_limit`` per sender, until the sender is listed (or leaves).

Durable membership: a tracker that keeps members while they are offline sends the whole
*roster* (every member, join order: :attr:`RoomState.roster`) and says who of them is
online; :attr:`RoomState.members` is then the online ones, and everything above applies
to them (channels are made only to online members). A member in the roster but not
online is *offline* (:meth:`RoomState.offline`), which is not leaving. From an older
tracker the roster is simply the list it gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from commons.room_control import Departure
from peer.core.delivery import Failure
from peer.core.frames import Receipted

#: Unlisted senders whose room messages one room holds at once (a member's first
#: messages may beat the tracker's update that lists them; strangers can fake that).
MAX_HELD_SENDERS = 8


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """What a new tracker list means, member by member (this user excluded)."""

    joined: list[str]  # newly listed and not back from detached: report MemberJoined
    returned: list[str]  # back from detached: silent
    removed_gone: list[tuple[str, Failure]]  # already reported gone (and why): forget them
    detached: list[str]  # unlisted, channel alive: keep them for now
    left: list[tuple[str, str]]  # unlisted, no channel or departed: report MemberLeft(why)


@dataclass(slots=True)
class RoomState:
    name: str
    owner: str
    capacity: int
    me: str
    members: set[str] = field(default_factory=set)
    gone: dict[str, Failure] = field(default_factory=dict)
    #: Detached members and when the tracker stopped listing them.
    detached: dict[str, float] = field(default_factory=dict)
    held: dict[str, list[Receipted]] = field(default_factory=dict)
    #: We entered the room relay-only: the tracker gives its members no address for
    #: us, and every channel to them goes through the relay (never a direct dial, which
    #: would show them our address).
    relay_only: bool = False
    #: Every member, online or not, in join order (this user included).
    roster: list[str] = field(default_factory=list)

    def offline(self, username: str) -> bool:
        """A member the tracker keeps while their session is down."""
        return username in self.roster and username not in self.members

    def online(self, username: str) -> bool:
        """Listed online by the tracker (this user always is)."""
        return username == self.me or username in self.members

    def known(self, username: str) -> bool:
        """Listed by the tracker, or dropped by it while our channel to them lives on."""
        return username in self.members or username in self.detached

    def present(self) -> set[str]:
        """Who is in the room as far as we can tell: known and not reported gone."""
        return (self.members | self.detached.keys()) - set(self.gone)

    def listed_others(self) -> set[str]:
        """Everyone but this user a room message may be queued for: the present ones and
        those gone but still listed (a re-dial may bring them back). A sender waiting for
        room in backlogs waits on these."""
        return (self.members | self.detached.keys()) - {self.me}

    def others(self) -> set[str]:
        """Present members other than this user."""
        return self.present() - {self.me}

    def apply(
        self,
        members: set[str],
        has_channel: set[str],
        now: float,
        departed: tuple[str, Departure] | None = None,
    ) -> MembershipChange:
        """Adopt the tracker's new list; ``has_channel``: users with an open channel;
        ``departed``: the member this update removes on purpose, and why."""
        old, self.members = self.members, set(members)
        change = MembershipChange([], [], [], [], [])
        for user in sorted(self.members - old - {self.me}):
            if user in self.detached:
                del self.detached[user]
                change.returned.append(user)
            else:
                self.gone.pop(user, None)
                change.joined.append(user)
        why = {} if departed is None else {departed[0]: str(departed[1])}
        for user in sorted(old - self.members - {self.me}):
            self.held.pop(user, None)
            if user in self.gone:
                change.removed_gone.append((user, self.gone.pop(user)))
            elif user in has_channel and user not in why:
                self.detached[user] = now
                change.detached.append(user)
            else:
                change.left.append((user, why.get(user, "left")))
        for user in why.keys() & self.detached.keys() - self.members:
            # Named after it was already unlisted: one update names one member, so a
            # batch of departures comes as several updates with the same list.
            del self.detached[user]
            change.left.append((user, why[user]))
        return change

    def detach_expired(self, now: float, grace: float) -> list[str]:
        """Detached members the tracker has not listed again within ``grace`` seconds:
        forgotten (they count as gone from the room)."""
        expired = sorted(u for u, since in self.detached.items() if now - since >= grace)
        for user in expired:
            del self.detached[user]
            self.held.pop(user, None)
        return expired

    def next_detach_expiry(self, grace: float) -> float | None:
        return min(self.detached.values()) + grace if self.detached else None

    def hold(self, frame: Receipted, limit: int) -> bool:
        """Keep a room message from a sender not listed yet; False once ``limit`` is held
        for them, or when :data:`MAX_HELD_SENDERS` others are held already (anyone with a
        channel to us can name our room: only so many unlisted senders are waited for)."""
        held = self.held.get(frame.sender)
        if held is None:
            if len(self.held) >= MAX_HELD_SENDERS:
                return False
            held = self.held[frame.sender] = []
        if len(held) >= limit:
            return False
        held.append(frame)
        return True

    def release_held(self) -> list[Receipted]:
        """Held messages whose sender is now listed, in arrival order per sender."""
        out: list[Receipted] = []
        for sender in [s for s in self.held if s in self.members]:
            out += self.held.pop(sender)
        return out

    def mark_gone(self, username: str, reason: Failure) -> bool:
        """Report ``username`` gone; False if they were not present (nothing to report).

        A detached member is simply forgotten: the tracker no longer lists them, so no
        later update will mention them."""
        if username not in self.present():
            return False
        self.held.pop(username, None)
        if username in self.detached:
            del self.detached[username]
        else:
            self.gone[username] = reason
        return True
