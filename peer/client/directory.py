"""What the tracker last said about each user we deal with, and when. No I/O.

A channel's identity check compares the key a remote presents with the key the tracker
lists for its name (:mod:`crypto.authorization`). Listings come from the tracker's room
pushes (``ROOM_UPDATE``, the ``JOIN_ROOM`` reply: every member) and from ``LOOKUP`` of
one user (before a private message, for an inbound channel from someone we know nothing
recent about, for ``/fingerprint``). They hold keys, not addresses: the tracker gives
addresses only to room-mates, in the room's member list, and the driver keeps those. No
client feature reads the whole user list: a thousand fake accounts online cannot hide
anyone.

A listing is only as good as it is recent: after bob replaces a stolen key, a contact
who shares no room with him gets no push, and an old entry would go on vouching for the
thief's key. So every entry carries the time the tracker said it (``seen_at``, on the
caller's monotonic clock, passed in): :meth:`Directory.fresh` returns an entry only
while it is younger than ``max_age`` (:data:`MAX_LISTING_AGE` seconds by default), and
:meth:`Directory.should_look_up` tells the shell to ask the tracker again before relying
on a missing or old entry, or on one that disagrees with the key presented (the user may
just have moved to a new machine). What strangers can make us ask is bounded: one
``LOOKUP`` per name per ``refresh_interval``, and, for a handshake from a *source* (an
IPv4 address or IPv6 /64), a budget per source (:data:`LOOKUP_BURST` at once, then
:data:`LOOKUPS_PER_SECOND`); past it, the check goes on with what we have (an unknown
name is refused). A budget per source, not a shared one, so that a stranger who dials
with made-up names cannot spend the lookups an honest newcomer from elsewhere needs. At
most :data:`MAX_ENTRIES` users and :data:`MAX_SOURCES` sources are remembered (the least
recently used go first).
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from dataclasses import dataclass

from commons.token_bucket import TokenBucket

MAX_LISTING_AGE = 30.0
REFRESH_INTERVAL = 1.0
LOOKUP_BURST = 5
LOOKUPS_PER_SECOND = 1.0
MAX_ENTRIES = 4096
MAX_SOURCES = 1024


@dataclass(slots=True)
class Listing:
    """The key the tracker lists for a user, and when it said so."""

    key: bytes
    seen_at: float


class Directory:
    """Listings by username; every method takes the current time instead of reading it."""

    def __init__(
        self,
        max_age: float = MAX_LISTING_AGE,
        refresh_interval: float = REFRESH_INTERVAL,
        lookup_burst: int = LOOKUP_BURST,
        lookups_per_second: float = LOOKUPS_PER_SECOND,
    ) -> None:
        self.max_age = max_age
        self.refresh_interval = refresh_interval
        self.lookup_burst = lookup_burst
        self.lookups_per_second = lookups_per_second
        self._entries: OrderedDict[str, Listing] = OrderedDict()
        self._asked: OrderedDict[str, float] = OrderedDict()  # name -> last LOOKUP
        self._budgets: OrderedDict[str, TokenBucket] = OrderedDict()  # per source

    def __contains__(self, username: object) -> bool:
        return username in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, username: str) -> Listing | None:
        """The last listing, however old (for dialling: is the user online at all)."""
        return self._entries.get(username)

    def fresh(self, username: str, now: float) -> Listing | None:
        """The listing if the tracker gave it less than ``max_age`` seconds ago."""
        listing = self._entries.get(username)
        if listing is None or now - listing.seen_at > self.max_age:
            return None
        return listing

    def remember(self, username: str, key: bytes, now: float) -> None:
        """The tracker listed ``username`` (a room push, a join or a lookup reply)."""
        self._entries[username] = Listing(key, now)
        self._entries.move_to_end(username)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    def forget(self, username: str) -> None:
        """The tracker says ``username`` is not online."""
        self._entries.pop(username, None)

    def key_changed(self, username: str, key: bytes, now: float) -> None:
        """A ``KEY_CHANGED`` push: the tracker now lists ``key``."""
        listing = self._entries.get(username)
        if listing is not None:
            listing.key, listing.seen_at = key, now

    def should_look_up(
        self,
        username: str,
        now: float,
        presented: bytes | None = None,
        source: str | None = None,
    ) -> bool:
        """Whether to ``LOOKUP`` ``username`` before relying on their listing: it is
        missing, too old, or lists another key than ``presented``; and neither this
        name nor ``source``'s budget (an inbound handshake's; ``None``: our own dial) is
        over its rate. True counts as a lookup made."""
        listing = self.fresh(username, now)
        if listing is not None and (
            presented is None or hmac.compare_digest(listing.key, presented)
        ):
            return False
        asked = self._asked.get(username)
        if asked is not None and now - asked < self.refresh_interval:
            return False
        if source is not None and self._budget(source, now).take(now) > 0:
            return False
        self._asked[username] = now
        self._asked.move_to_end(username)
        while len(self._asked) > MAX_ENTRIES:
            self._asked.popitem(last=False)
        return True

    def _budget(self, source: str, now: float) -> TokenBucket:
        bucket = self._budgets.get(source)
        if bucket is None:
            bucket = self._budgets[source] = TokenBucket(
                self.lookup_burst, self.lookups_per_second, now
            )
            while len(self._budgets) > MAX_SOURCES:
                self._budgets.popitem(last=False)
        self._budgets.move_to_end(source)
        return bucket
