"""One room as this client sees it, sans-I/O: the tracker's list refined by the channels.

The tracker's ``ROOM_UPDATE`` is the member list (:attr:`RoomState.members`). The
channels know some things sooner: a ``leave`` frame, a channel that closes or falls
silent past the keepalive deadline. Such a member is *gone* (reported left at once, the
later tracker update is then silent). A member the tracker dropped while our channel to
them is alive (tracker restart, their tracker link down) is *detached*: they stay until
that channel closes or falls silent, and their return in a later update is silent.

Room messages that beat the tracker's update announcing their sender are *held*, at most
``held_limit`` per sender, until the sender is listed (or leaves).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peer.chat_protocol import ChatMessage
from peer.delivery import Failure


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """What a new tracker list means, member by member (this user excluded)."""

    joined: list[str]  # newly listed and not back from detached: report MemberJoined
    returned: list[str]  # back from detached: silent
    removed_gone: list[tuple[str, Failure]]  # already reported gone (and why): forget them
    detached: list[str]  # unlisted, channel alive: keep them for now
    left: list[str]  # unlisted, no channel: report MemberLeft("left")


@dataclass(slots=True)
class RoomState:
    name: str
    owner: str
    capacity: int
    me: str
    members: set[str] = field(default_factory=set)
    gone: dict[str, Failure] = field(default_factory=dict)
    detached: set[str] = field(default_factory=set)
    held: dict[str, list[ChatMessage]] = field(default_factory=dict)

    def known(self, username: str) -> bool:
        """Listed by the tracker, or dropped by it while our channel to them lives on."""
        return username in self.members or username in self.detached

    def present(self) -> set[str]:
        """Who is in the room as far as we can tell: known and not reported gone."""
        return (self.members | self.detached) - set(self.gone)

    def others(self) -> set[str]:
        """Present members other than this user."""
        return self.present() - {self.me}

    def apply(self, members: set[str], has_channel: set[str]) -> MembershipChange:
        """Adopt the tracker's new list; ``has_channel``: users with an open channel."""
        old, self.members = self.members, set(members)
        change = MembershipChange([], [], [], [], [])
        for user in sorted(self.members - old - {self.me}):
            if user in self.detached:
                self.detached.discard(user)
                change.returned.append(user)
            else:
                self.gone.pop(user, None)
                change.joined.append(user)
        for user in sorted(old - self.members - {self.me}):
            self.held.pop(user, None)
            if user in self.gone:
                change.removed_gone.append((user, self.gone.pop(user)))
            elif user in has_channel:
                self.detached.add(user)
                change.detached.append(user)
            else:
                change.left.append(user)
        return change

    def hold(self, frame: ChatMessage, limit: int) -> bool:
        """Keep a room message from a sender not listed yet; False once ``limit`` is held."""
        held = self.held.setdefault(frame.sender, [])
        if len(held) >= limit:
            return False
        held.append(frame)
        return True

    def release_held(self) -> list[ChatMessage]:
        """Held messages whose sender is now listed, in arrival order per sender."""
        out: list[ChatMessage] = []
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
            self.detached.discard(username)
        else:
            self.gone[username] = reason
        return True
