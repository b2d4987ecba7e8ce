"""The mailbox commands' fields (issue 22), validated one by one. Sans-I/O.

Why a module of its own: :mod:`commons.tracker_protocol` turns untrusted objects into
requests; the mailbox adds four commands whose fields are binary values in base64 (token
hashes, tokens, sealed envelopes) with their own sizes, and keeping them here keeps that
module about the protocol's shape.

Contract: every function takes the untrusted value as it came from the JSON object and
returns it decoded and in its domain, or raises
:class:`~commons.errors.ValidationError` naming the field (never echoing its value).
Sizes, all chosen so that one ``DEPOSIT`` frame and one ``MAILBOX_FETCH`` reply holding
the largest deposit fit the tracker's 64 KiB frame (``docs/PROTOCOL.md``):
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from commons.errors import ValidationError

#: A delivery token and its SHA-256: 32 bytes each.
TOKEN_BYTES = 32
#: Token hashes one ``MAILBOX_TOKENS`` may name in ``add`` and ``remove`` together.
MAX_TOKENS_PER_REQUEST = 256
#: The largest sealed envelope a ``DEPOSIT`` may carry: 47 KiB. In base64 that is 64,172
#: characters, which with the rest of a ``DEPOSIT`` (or of a one-deposit
#: ``MAILBOX_FETCH`` reply) stays under 65,536 bytes.
MAX_DEPOSIT_BODY = 47 * 1024
#: Deposit ids are positive 63-bit integers.
MAX_DEPOSIT_ID = 2**63 - 1
#: The most deposits one ``MAILBOX_FETCH`` may ask for.
MAX_FETCH_LIMIT = 1000


def _b64(field: str, value: Any, max_bytes: int) -> bytes:
    """Strict standard base64 (padding required, no whitespace) of at most ``max_bytes``."""
    if not isinstance(value, str) or len(value) > 4 * ((max_bytes + 2) // 3):
        raise ValidationError(f"field '{field}' must be base64 of at most {max_bytes} bytes")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValidationError(f"field '{field}' must be base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise ValidationError(f"field '{field}' must be canonical base64")
    if len(raw) > max_bytes:
        raise ValidationError(f"field '{field}' must be base64 of at most {max_bytes} bytes")
    return raw


def validate_digest(field: str, value: Any) -> bytes:
    """A token or a token hash: exactly 32 bytes in base64."""
    raw = _b64(field, value, TOKEN_BYTES)
    if len(raw) != TOKEN_BYTES:
        raise ValidationError(f"field '{field}' must be {TOKEN_BYTES} bytes in base64")
    return raw


def validate_digest_list(field: str, value: Any) -> tuple[bytes, ...]:
    """A list of at most :data:`MAX_TOKENS_PER_REQUEST` token hashes, without repeats."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_TOKENS_PER_REQUEST:
        raise ValidationError(
            f"field '{field}' must be a list of at most {MAX_TOKENS_PER_REQUEST} token hashes"
        )
    digests = tuple(validate_digest(field, item) for item in value)
    if len(set(digests)) != len(digests):
        raise ValidationError(f"field '{field}' names a token hash twice")
    return digests


def validate_body(value: Any) -> bytes:
    """A sealed envelope: 1 to :data:`MAX_DEPOSIT_BODY` bytes in base64 (opaque here)."""
    raw = _b64("body", value, MAX_DEPOSIT_BODY)
    if not raw:
        raise ValidationError("field 'body' must not be empty")
    return raw


def validate_deposit_id(field: str, value: Any, *, optional: bool) -> int | None:
    """A deposit id (1 to 2**63-1); ``None`` allowed only when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DEPOSIT_ID:
        raise ValidationError(f"field '{field}' must be an integer from 0 to {MAX_DEPOSIT_ID}")
    return value


def validate_fetch_limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_FETCH_LIMIT:
        raise ValidationError(f"field 'limit' must be an integer from 1 to {MAX_FETCH_LIMIT}")
    return value


def encode_b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
