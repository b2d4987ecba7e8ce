"""The tracker's server-side TLS policy.

TLS 1.2 is the floor and 1.3 is preferred (OpenSSL picks the highest both sides
support). For TLS 1.2 only ECDHE key exchange with AEAD ciphers is allowed (forward
secrecy, no CBC, no RSA key transport); TLS 1.3 suites are all AEAD already.
Compression and renegotiation are off; session tickets are not issued because clients
keep one long-lived connection and never resume. The hybrid ``X25519MLKEM768`` group is
preferred where ``ssl`` and OpenSSL offer it (:mod:`commons.tls_groups`).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from commons.tls_groups import prefer_hybrid_key_exchange

TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """Build the server context serving ``cert_path``/``key_path``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.num_tickets = 0
    prefer_hybrid_key_exchange(context)
    context.load_cert_chain(cert_path, key_path)
    return context
