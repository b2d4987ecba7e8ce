"""What a login needs from the user's password: the tracker's digest and the identity key.

The tracker protocol carries ``SHA-256(password)`` (hex), never the password; the
identity key is unsealed (or created, on the very first run) with the password, through
Argon2id, on a worker thread so that the event loop never waits for it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from pathlib import Path

from crypto.identity import IdentityKey
from crypto.keystore import KdfParams, load_or_create_identity


def password_digest(password: str) -> str:
    """What the tracker protocol carries as ``password``: SHA-256 hex of the UTF-8 text."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


async def load_identity(
    home: Path, username: str, password: str, kdf_params: KdfParams | None = None
) -> IdentityKey:
    """The user's identity key from ``home`` (created there on the first run)."""
    load = functools.partial(
        load_or_create_identity, home, username, password, kdf_params=kdf_params
    )
    identity, _created = await asyncio.get_running_loop().run_in_executor(None, load)
    return identity
