"""Which *source* an address belongs to, for every per-source limit. Sans-I/O.

One person controls one IPv4 address, but usually a whole IPv6 /64 (the smallest
prefix a site gets; SLAAC and privacy addresses pick freely inside it), so an IPv6
address is counted by its /64 and an attacker cannot get a fresh counter by changing
the low 64 bits. IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``, what a dual-stack
socket reports) count as the IPv4 address. Anything unparsable (a Unix socket, a
missing peer name) becomes one shared source, so it cannot dodge the limits either.

The tracker (:mod:`tracker.limits.source`) and the peer's P2P listener both count by it. Both
functions are cached (a flood comes from few addresses, and every accepted socket
asks), so classifying a connection costs a dictionary lookup.
"""

from __future__ import annotations

import functools
import ipaddress

#: The one source every unparsable address shares.
UNKNOWN_SOURCE = "unknown"

_IPV6_SOURCE_PREFIX = 64

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)
def parse_address(host: str) -> IPAddress | None:
    """The address of ``host`` with IPv4-mapped IPv6 unwrapped; ``None`` if not an IP."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=4096)
def source_key(host: str) -> str:
    """``"192.0.2.1"`` for IPv4, ``"2001:db8:1:2::/64"`` for IPv6: the unit of every limit."""
    address = parse_address(host)
    if address is None:
        return UNKNOWN_SOURCE
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    network = ipaddress.IPv6Network((address, _IPV6_SOURCE_PREFIX), strict=False)
    return str(network)
