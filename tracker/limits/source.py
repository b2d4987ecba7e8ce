"""Which *source* a connection comes from, for every per-source limit. Sans-I/O.

One person controls one IPv4 address, but usually a whole IPv6 /64 (the smallest
prefix a site gets; SLAAC and privacy addresses pick freely inside it), so an IPv6
address is counted by its /64 and an attacker cannot get a fresh counter by changing
the low 64 bits. IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``, what a dual-stack
socket reports) count as the IPv4 address. Anything unparsable (a Unix socket, a
missing peer name) becomes one shared source, so it cannot dodge the limits either.

Trusted networks (``--trusted-network``) are exempt from the per-source limits (not
from the global ones): the operator's own hosts, or loopback for benchmarks.

The classification itself lives in :mod:`commons.network_source` (the peer's listener
counts by it too).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from commons.network_source import UNKNOWN_SOURCE, IPAddress, parse_address, source_key

__all__ = [
    "UNKNOWN_SOURCE",
    "IPAddress",
    "IPNetwork",
    "TrustedNetworks",
    "parse_address",
    "parse_networks",
    "source_key",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``--trusted-network`` values (``127.0.0.0/8``, ``::1``); :class:`ValueError` if bad."""
    networks: list[IPNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP network: {value!r}") from None
    return tuple(networks)


class TrustedNetworks:
    """Answers "is this host inside one of the trusted networks?"."""

    __slots__ = ("_networks",)

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self._networks = parse_networks(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def contains(self, host: str) -> bool:
        if not self._networks:
            return False
        address = parse_address(host)
        if address is None:
            return False
        return any(address in network for network in self._networks)
