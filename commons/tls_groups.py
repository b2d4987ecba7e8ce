"""Key-exchange groups of the tracker link's TLS: prefer the hybrid ``X25519MLKEM768``.

Both ends call :func:`prefer_hybrid_key_exchange` on their context. Where Python's ``ssl``
can set groups (``SSLContext.get_groups``/``set_groups``, Python 3.15+) and the OpenSSL it
runs on implements the hybrid (3.5+), the group list becomes :data:`PREFERRED_GROUPS`, so
the session keys stay secret if either X25519 or ML-KEM-768 holds. Elsewhere the context
keeps OpenSSL's defaults: OpenSSL 3.5+ already offers ``X25519MLKEM768`` first, older ones
(3.0 on this project's reference machine) only classical groups, so the link rests on
X25519/ECDHE alone (see docs/SECURITY.md, *Tracker*).
"""

from __future__ import annotations

import ssl

HYBRID_GROUP = "X25519MLKEM768"
PREFERRED_GROUPS = (HYBRID_GROUP, "X25519", "secp256r1", "secp384r1")


def prefer_hybrid_key_exchange(context: ssl.SSLContext) -> bool:
    """Put ``X25519MLKEM768`` first in ``context``'s groups if ``ssl`` and OpenSSL allow it.

    Returns whether the context now offers the hybrid group. Never removes anything the
    defaults allow for older peers: the classical groups stay, after the hybrid.
    """
    get_groups = getattr(context, "get_groups", None)
    set_groups = getattr(context, "set_groups", None)
    if get_groups is None or set_groups is None:
        return False
    available = set(get_groups())
    if HYBRID_GROUP not in available:
        return False
    set_groups(":".join(group for group in PREFERRED_GROUPS if group in available))
    return True
