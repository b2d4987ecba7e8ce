"""Atomic, owner-only file writes for secrets and trust decisions.

Key files, pin stores and certificate keys must never be seen half-written (a crash
mid-write would lose a pin or a key) nor, even for an instant, with permissions wider
than 0600. :func:`write_private_file` writes a uniquely named temporary file created
with ``O_EXCL`` and mode 0600, fsyncs it, renames it over the target and fsyncs the
directory, so after it returns the new content survives a power cut; before it
returns, readers see the old content or the new, never a mix. It blocks: call it from
an executor in asyncio code.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path


def write_private_file(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600; create its folder 0700.

    With ``replace=False`` an existing ``path`` is left alone and ``FileExistsError``
    raised, even when another process creates it at the same moment (a hard link, unlike
    a rename, never overwrites): two first runs must not each keep a different key.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            tmp.unlink()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where the OS cannot)."""
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
