"""Open-file limit: raise it at start, and never promise more connections than it allows.

Every connection is a descriptor. With the usual soft limit of 1024 and a cap of 20,000
connections, a flood of idle sockets used to exhaust the descriptors long before the
cap, after which ``accept()`` failed for everyone (and asyncio logged a traceback per
failed accept). So at start the tracker raises its soft limit to the hard limit, as
nginx does, and if that still cannot cover ``max_connections`` plus what the process
needs besides (database, listening sockets, logs, the spare descriptor the listener
keeps for emergencies, connections being refused politely), it lowers the cap and says
so once.
"""

from __future__ import annotations

import sys

#: Descriptors kept for everything that is not a client connection.
RESERVED_DESCRIPTORS = 64


def raise_open_file_limit() -> int | None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard one; return the soft limit in force.

    ``None`` where there is no such limit (Windows).
    """
    if sys.platform == "win32":
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        target = max(soft, 1 << 20) if soft != resource.RLIM_INFINITY else soft
    if soft != resource.RLIM_INFINITY and target != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return None if soft == resource.RLIM_INFINITY else int(soft)


def connection_cap(requested: int, soft_limit: int | None, extra_reserved: int = 0) -> int:
    """The most connections ``soft_limit`` descriptors can carry (at least 1)."""
    if soft_limit is None:
        return requested
    return max(1, min(requested, soft_limit - RESERVED_DESCRIPTORS - extra_reserved))
