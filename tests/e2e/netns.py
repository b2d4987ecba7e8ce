"""Network namespaces for tests: a small internet of our own, behind NATs.

:class:`Topology` builds, with ``ip netns``, veth pairs and nftables, a set of
namespaces that exist only for the test (unique names, private addresses of our own)
and deletes them afterwards; nothing is sent anywhere else, and the host's own
namespace is never touched (each veth pair is created straight inside its two
namespaces)::

                 core  (the internet and the tracker: 10.91.1.1)
       /          |            \\                \\
    lan1       lan2            nata              natb      (NATs: masquerade, and drop
  10.91.1.2  10.91.2.2     10.91.3.2          10.91.4.2     every unsolicited inbound)
                               |                  |
                             homea              homeb
                         192.168.91.2        192.168.92.2

``lan1`` and ``lan2`` are two machines of a routed network that can dial each other;
``homea`` and ``homeb`` sit behind NATs that let them dial out and nobody dial in.
:func:`unavailable` says why namespaces cannot be made here (not root, no ``ip`` or
``nft``, a kernel without netns or nf_tables), so the tests can skip with that reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence

TRACKER_ADDRESS = "10.91.1.1"

_LINKS = [
    # (namespace a, interface, address/prefix, namespace b, interface, address/prefix)
    ("core", "c1", "10.91.1.1/24", "lan1", "wan", "10.91.1.2/24"),
    ("core", "c2", "10.91.2.1/24", "lan2", "wan", "10.91.2.2/24"),
    ("core", "c3", "10.91.3.1/24", "nata", "wan", "10.91.3.2/24"),
    ("core", "c4", "10.91.4.1/24", "natb", "wan", "10.91.4.2/24"),
    ("nata", "lan", "192.168.91.1/24", "homea", "wan", "192.168.91.2/24"),
    ("natb", "lan", "192.168.92.1/24", "homeb", "wan", "192.168.92.2/24"),
]
_ROUTES = {
    "lan1": "10.91.1.1",
    "lan2": "10.91.2.1",
    "nata": "10.91.3.1",
    "natb": "10.91.4.1",
    "homea": "192.168.91.1",
    "homeb": "192.168.92.1",
}
_ROUTERS = ("core", "nata", "natb")
_ROLES = ("core", "lan1", "lan2", "nata", "natb", "homea", "homeb")
#: A home router: outbound connections are masqueraded; nothing unsolicited gets in.
_NAT_RULES = """
table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" masquerade
    }
}
table inet firewall {
    chain input {
        type filter hook input priority filter; policy accept;
        iifname "wan" ct state new drop
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        iifname "wan" ct state new drop
    }
}
"""


def _run(*args: str, stdin: str | None = None) -> None:
    subprocess.run(args, input=stdin, text=True, check=True, capture_output=True, timeout=30)


def unavailable() -> str | None:
    """Why namespaces cannot be built here, or ``None`` if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed (.ci/run installs nftables when it can)"
    probe = Topology(("probe",))
    try:
        probe.create_namespaces()
        probe.run("probe", "nft", "list", "ruleset")
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return f"cannot make a network namespace with nftables: {detail.strip()[:200]}"
    finally:
        probe.delete()
    return None


class Topology:
    """The namespaces above, named ``p2p-<random>-<role>``; :meth:`delete` removes them."""

    def __init__(self, roles: Sequence[str] = _ROLES) -> None:
        self.tag = secrets.token_hex(3)
        self.roles = tuple(dict.fromkeys(roles))
        self._made: list[str] = []

    def name(self, role: str) -> str:
        return f"p2p-{self.tag}-{role}"

    def prefix(self, role: str) -> list[str]:
        """The command prefix that runs something inside ``role``'s namespace."""
        return ["ip", "netns", "exec", self.name(role)]

    def run(self, role: str, *command: str, stdin: str | None = None) -> None:
        _run(*self.prefix(role), *command, stdin=stdin)

    def create_namespaces(self) -> None:
        for role in self.roles:
            _run("ip", "netns", "add", self.name(role))
            self._made.append(role)
            self.run(role, "ip", "link", "set", "lo", "up")

    def build(self) -> None:
        self.create_namespaces()
        for ns_a, if_a, addr_a, ns_b, if_b, addr_b in _LINKS:
            _run(
                "ip", "link", "add", "name", if_a, "netns", self.name(ns_a), "type", "veth",
                "peer", "name", if_b, "netns", self.name(ns_b),
            )  # fmt: skip
            for role, interface, address in ((ns_a, if_a, addr_a), (ns_b, if_b, addr_b)):
                self.run(role, "ip", "address", "add", address, "dev", interface)
                self.run(role, "ip", "link", "set", interface, "up")
        for role, gateway in _ROUTES.items():
            self.run(role, "ip", "route", "add", "default", "via", gateway)
        for role in _ROUTERS:
            self.run(role, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        for role in ("nata", "natb"):
            self.run(role, "nft", "-f", "-", stdin=_NAT_RULES)

    def delete(self) -> None:
        for role in reversed(self._made):
            subprocess.run(
                ["ip", "netns", "delete", self.name(role)], capture_output=True, timeout=30
            )
        self._made.clear()
