"""Which addresses the peer will dial, and how often. Sans-I/O.

A room member's address comes from the tracker: the address it saw them connect from,
or the host they *advertised* (``--advertise-host``). An advertised host is a claim
anyone can make, and dialling it on their word would let a stranger point every member
of a room at a third party's service, or at the member's own machine and network
(``127.0.0.1:6379``, ``169.254.169.254``). So:

* an address that is not unicast (unspecified, multicast, broadcast, reserved) is never
  dialled;
* a loopback or link-local address is dialled only when the tracker itself is at such
  an address (then the peers really are on this machine or link, as in tests);
* a host name is resolved first and every address it gives is checked the same way; the
  dial then goes to the checked address, not to a second resolution;
* dials to one address (host and port) take a token from that address's bucket
  (:data:`DIAL_BURST` at once, then one every :data:`DIAL_INTERVAL` seconds), so no
  member list, re-dial schedule or stream of ``/msg`` makes this peer hammer one
  address. At most :data:`MAX_ADDRESSES` buckets are kept (least recently used go).
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict

from commons.network_source import IPAddress, parse_address
from commons.token_bucket import TokenBucket

DIAL_BURST = 8
DIAL_INTERVAL = 1.0
MAX_ADDRESSES = 1024


def _local(address: IPAddress) -> bool:
    return address.is_loopback or address.is_link_local


class AddressPolicy:
    """``tracker_address``: the tracker's IP as this client connected to it."""

    def __init__(self, tracker_address: str | None) -> None:
        tracker = None if tracker_address is None else parse_address(tracker_address)
        self.tracker_is_local = tracker is not None and _local(tracker)

    def refusal(self, host: str) -> str | None:
        """Why ``host`` (an IP literal) must not be dialled, or ``None`` if it may be.
        A host name returns ``None``: resolve it and check each address."""
        address = parse_address(host)
        if address is None:
            return None
        if _local(address):
            if self.tracker_is_local:
                return None
            kind = "loopback" if address.is_loopback else "link-local"
            return f"{host} is a {kind} address and the tracker is not on this machine"
        if (
            address.is_unspecified
            or address.is_multicast
            or address.is_reserved
            or (isinstance(address, ipaddress.IPv4Address) and address == _BROADCAST)
        ):
            return f"{host} is not a unicast address"
        return None


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class DialRate:
    """One token bucket per dialled address (host and port)."""

    def __init__(
        self,
        burst: int = DIAL_BURST,
        interval: float = DIAL_INTERVAL,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.burst = burst
        self.interval = interval
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[tuple[str, int], TokenBucket] = OrderedDict()

    def take(self, host: str, port: int, now: float) -> float:
        """0 if a dial to ``host:port`` may go now (a token is taken), else the wait."""
        key = (host, port)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.burst, 1.0 / self.interval, now)
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        return bucket.take(now)
