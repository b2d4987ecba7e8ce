"""Atomic, owner-only file writes and checked reads for secrets and trust decisions.

Key files, pin stores and certificate keys must never be seen half-written (a crash
mid-write would lose a pin or a key) nor, even for an instant, with permissions wider
than 0600. :func:`write_private_file` writes a uniquely named temporary file created
with ``O_EXCL`` and mode 0600, fsyncs it, renames it over the target and fsyncs the
directory, so after it returns the new content survives a power cut; before it
returns, readers see the old content or the new, never a mix.

:func:`read_private_file` is the matching read: it opens without following a symbolic
link and checks the *open descriptor* (regular file, owned by this user, no access for
group or others, bounded size) before reading it, so nothing can be swapped between
the check and the read. Both block: call them from an executor in asyncio code.
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from collections.abc import Callable
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: A FIFO planted at the path would block a plain open forever; this one returns at once
#: and the fstat check then refuses it (no effect on regular files).
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def read_private_file(
    path: Path, *, what: str, max_size: int, refuse: Callable[[str], Exception]
) -> bytes:
    """The bytes of the owner-only file ``path``; ``FileNotFoundError`` if it is missing.

    Anything else unexpected raises ``refuse(message)``, ssh-style: a symbolic link
    (``O_NOFOLLOW``), not a regular file, owned by another user, readable or writable by
    group or others, or larger than ``max_size``. ``what`` names the file in messages
    ("identity key file", "contact pin store").
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if path.is_symlink():
            raise refuse(
                f"'{path}' is a symbolic link. The {what} must be a regular file in your "
                "p2pchat home; it is not followed and will not be used."
            ) from None
        raise refuse(f"cannot open the {what} '{path}': {exc.strerror}") from None
    try:
        _check_private(path, os.fstat(fd), what, max_size, refuse)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(max_size + 1)
    if len(data) > max_size:
        raise refuse(f"the {what} '{path}' is too large")
    return data


def _check_private(
    path: Path,
    info: os.stat_result,
    what: str,
    max_size: int,
    refuse: Callable[[str], Exception],
) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise refuse(f"'{path}' is not a regular file; the {what} will not be used.")
    if info.st_size > max_size:
        raise refuse(f"the {what} '{path}' is too large")
    if sys.platform == "win32":
        return
    if info.st_uid != os.geteuid():
        raise refuse(
            f"'{path}' is owned by uid {info.st_uid}, not by you (uid {os.geteuid()}). "
            f"The {what} will not be used; if it really is yours: chown {os.geteuid()} '{path}'"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise refuse(
            f"Permissions {mode:04o} for '{path}' are too open. It is required that your "
            f"{what} is NOT accessible by others. It will be ignored; "
            f"fix it with: chmod 600 '{path}'"
        )


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


def append_private_file(
    path: Path, data: bytes, *, what: str, refuse: Callable[[str], Exception]
) -> None:
    """Append ``data`` to the existing owner-only file ``path`` and fsync it.

    The file is opened without following a symbolic link and checked like
    :func:`read_private_file` does (regular, owned by this user, no access for others)
    before a byte is written; ``FileNotFoundError`` if it is missing. Appends are for
    logs whose readers tolerate a torn last line (a crash mid-write): nothing before it
    is touched.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if path.is_symlink():
            raise refuse(f"'{path}' is a symbolic link; the {what} will not be written.") from None
        raise refuse(f"cannot open the {what} '{path}': {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        _check_private(path, info, what, info.st_size + len(data) + 1, refuse)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where the OS cannot)."""
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
