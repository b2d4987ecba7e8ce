"""What the tracker last said about each online user, and when it said it (no I/O).

A channel's identity check compares the key a remote presents with the key the tracker
lists for its name (:mod:`crypto.authorization`). A listing is only as good as it is
recent: after bob replaces a stolen key, a contact who shares no room with him gets no
push, and an old entry would go on vouching for the thief's key. So every entry carries
the time the tracker said it (``seen_at``, on the caller's monotonic clock, passed in):
:meth:`Directory.fresh` returns an entry only while it is younger than ``max_age``
(:data:`MAX_LISTING_AGE` seconds by default), and :meth:`Directory.should_refresh` tells
the shell to ask the tracker again before relying on a missing or old entry, or on one
that disagrees with the key presented (the user may just have moved to a new machine),
at most once per ``refresh_interval`` however many strangers dial in.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

MAX_LISTING_AGE = 30.0
REFRESH_INTERVAL = 1.0


@dataclass(slots=True)
class Listing:
    """How to reach an online user and the key the tracker lists for them."""

    key: bytes
    host: str
    port: int
    seen_at: float


class Directory:
    """Listings by username; every method takes the current time instead of reading it."""

    def __init__(
        self, max_age: float = MAX_LISTING_AGE, refresh_interval: float = REFRESH_INTERVAL
    ) -> None:
        self.max_age = max_age
        self.refresh_interval = refresh_interval
        self._entries: dict[str, Listing] = {}
        self._last_refresh: float | None = None

    def __contains__(self, username: object) -> bool:
        return username in self._entries

    def get(self, username: str) -> Listing | None:
        """The last listing, however old (for dialling: where to connect)."""
        return self._entries.get(username)

    def fresh(self, username: str, now: float) -> Listing | None:
        """The listing if the tracker gave it less than ``max_age`` seconds ago."""
        listing = self._entries.get(username)
        if listing is None or now - listing.seen_at > self.max_age:
            return None
        return listing

    def remember(self, username: str, key: bytes, host: str, port: int, now: float) -> None:
        """The tracker listed ``username`` (a reply or a room push)."""
        self._entries[username] = Listing(key, host, port, now)

    def replace_all(
        self, listings: Iterable[tuple[str, bytes, str, int]], now: float, *, complete: bool
    ) -> None:
        """A ``LIST_PEERS`` reply; ``complete`` (not truncated) also forgets the unlisted."""
        fresh = {name: Listing(key, host, port, now) for name, key, host, port in listings}
        if complete:
            self._entries = fresh
        else:
            self._entries.update(fresh)

    def key_changed(self, username: str, key: bytes, now: float) -> None:
        """A ``KEY_CHANGED`` push: the tracker now lists ``key`` (address unchanged)."""
        listing = self._entries.get(username)
        if listing is not None:
            listing.key, listing.seen_at = key, now

    def should_refresh(self, username: str, now: float, presented: bytes | None = None) -> bool:
        """Whether to ask the tracker before relying on ``username``'s listing: it is
        missing, too old, or lists another key than ``presented``; rate-limited."""
        listing = self.fresh(username, now)
        if listing is not None and (
            presented is None or hmac.compare_digest(listing.key, presented)
        ):
            return False
        return self._last_refresh is None or now - self._last_refresh >= self.refresh_interval

    def refresh_started(self, now: float) -> None:
        self._last_refresh = now
