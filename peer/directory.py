"""What the tracker last said about online users: keys and addresses, sans-I/O.

Filled from ``ROOM_UPDATE`` and ``JOIN_ROOM`` member lists, ``LIST_PEERS`` and
``KEY_CHANGED``. Dials read the address and the expected key here; an inbound channel's
claimed key is checked against it, and when the listing is missing or disagrees the
client refreshes it from the tracker, at most once per ``refresh_interval`` (so a
stranger's claims cannot make us flood the tracker).
"""

from __future__ import annotations

from dataclasses import dataclass

from commons.models import decode_identity_key
from peer.channels import Endpoint
from peer.tracker_messages import PeerList


@dataclass(slots=True)
class Listing:
    key: bytes
    host: str
    port: int


class Directory:
    def __init__(self, refresh_interval: float = 1.0) -> None:
        self.refresh_interval = refresh_interval
        self._listings: dict[str, Listing] = {}
        self._last_refresh: float | None = None

    def remember(self, username: str, identity_key: str, host: str, port: int) -> None:
        self._listings[username] = Listing(decode_identity_key(identity_key), host, port)

    def refreshed(self, peers: PeerList, now: float) -> None:
        """A full ``LIST_PEERS`` answer: users it does not list are offline."""
        if not peers.truncated:
            listed = {p.username for p in peers.peers}
            for name in [n for n in self._listings if n not in listed]:
                del self._listings[name]
        for peer in peers.peers:
            self.remember(peer.username, peer.identity_key, peer.host, peer.port)
        self._last_refresh = now

    def key_changed(self, username: str, key: bytes) -> None:
        listing = self._listings.get(username)
        if listing is not None:
            listing.key = key

    def key(self, username: str) -> bytes | None:
        listing = self._listings.get(username)
        return None if listing is None else listing.key

    def endpoint(self, username: str) -> Endpoint | None:
        listing = self._listings.get(username)
        return None if listing is None else Endpoint(listing.host, listing.port, listing.key)

    def may_refresh(self, now: float) -> bool:
        """Whether a refresh is allowed now (rate limit against claim floods)."""
        last = self._last_refresh
        return last is None or now - last >= self.refresh_interval
