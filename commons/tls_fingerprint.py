"""SHA-256 fingerprints of TLS certificates, as the tracker prints them and peers pin them.

Format: 32 bytes as upper-case hex pairs joined by ``:`` (as ``openssl x509 -fingerprint
-sha256`` prints). :func:`normalize_fingerprint` accepts what people paste (any case, with
or without colons, an optional ``SHA256:`` prefix) and :func:`fingerprints_match` compares
in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from commons.errors import ValidationError

_HEX_RE = re.compile(r"[0-9A-F]{64}")


def cert_fingerprint(der: bytes) -> str:
    """Fingerprint of a DER-encoded certificate."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalize_fingerprint(text: str) -> str:
    """Canonical form of a user-supplied fingerprint, or :class:`ValidationError`."""
    cleaned = text.strip().upper()
    if cleaned.startswith("SHA256:"):
        cleaned = cleaned[len("SHA256:") :]
    cleaned = cleaned.replace(":", "").replace(" ", "")
    if not _HEX_RE.fullmatch(cleaned):
        raise ValidationError("a certificate fingerprint is 64 hex digits (SHA-256)")
    return ":".join(cleaned[i : i + 2] for i in range(0, len(cleaned), 2))


def fingerprints_match(expected: str, actual: str) -> bool:
    """Constant-time comparison of two fingerprints in any accepted notation."""
    return hmac.compare_digest(
        normalize_fingerprint(expected).encode("ascii"),
        normalize_fingerprint(actual).encode("ascii"),
    )
