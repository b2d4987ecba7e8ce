"""The tracker link's TLS key exchange: the hybrid group where the platform has it.

Python's ``ssl`` can set and report TLS groups only from 3.15 (``SSLContext.set_groups``,
``SSLObject.group``), and ``X25519MLKEM768`` needs OpenSSL 3.5+. Where both are there, the
real tracker and the peer's client context must negotiate the hybrid; elsewhere (this
project's reference machine: Python 3.11, OpenSSL 3.0) nothing may be changed, and the
link rests on classical ECDHE (docs/SECURITY.md, *Tracker*).
"""

from __future__ import annotations

import asyncio
import ssl
import sys

import pytest

from commons.tls_groups import HYBRID_GROUP, PREFERRED_GROUPS, prefer_hybrid_key_exchange
from peer.config import PeerConfig
from peer.session.link import _client_context
from tracker.server.server import TrackerServer


def _platform_offers_the_hybrid() -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    get_groups = getattr(context, "get_groups", None)
    return (
        get_groups is not None and hasattr(ssl.SSLObject, "group") and HYBRID_GROUP in get_groups()
    )


HYBRID = _platform_offers_the_hybrid()
PLATFORM = f"Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}"


@pytest.mark.skipif(not HYBRID, reason=f"{PLATFORM}: ssl cannot set or report TLS groups")
async def test_tracker_link_negotiates_the_hybrid_group(tracker: TrackerServer) -> None:
    context = _client_context(PeerConfig(tracker=("127.0.0.1", tracker.port)))
    _reader, writer = await asyncio.open_connection(
        "127.0.0.1", tracker.port, ssl=context, server_hostname="localhost"
    )
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        assert ssl_object.version() == "TLSv1.3"
        assert ssl_object.group() == HYBRID_GROUP
    finally:
        writer.close()


@pytest.mark.skipif(HYBRID, reason="the platform offers the hybrid: tested above")
async def test_without_the_hybrid_the_context_is_left_alone(tracker: TrackerServer) -> None:
    """Nothing is set, and the tracker link still negotiates TLS 1.3 (classical ECDHE)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    assert prefer_hybrid_key_exchange(context) is False
    _reader, writer = await asyncio.open_connection(
        "127.0.0.1", tracker.port, ssl=context, server_hostname="localhost"
    )
    try:
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
    finally:
        writer.close()


def test_preference_keeps_classical_groups_after_the_hybrid() -> None:
    assert PREFERRED_GROUPS[0] == HYBRID_GROUP
    assert "X25519" in PREFERRED_GROUPS[1:] and "secp256r1" in PREFERRED_GROUPS[1:]
