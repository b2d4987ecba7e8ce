"""The tracker's data directory: created private, whatever the umask.

It holds the password-hash database and the certificate's private key. The files
themselves are created 0600 (:mod:`tracker.storage.sqlite_file`, :mod:`commons.private_file`); the
directory is created 0700 so that not even their names are listed to others.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("tracker.data_dir")

#: Directories already warned about: the database and the certificate share one.
_warned: set[Path] = set()


def make_private_directory(path: Path) -> None:
    """Create ``path`` (and parents) with mode 0700 whatever the umask.

    An existing directory is left as it is (the operator may share it on purpose), but a
    warning says so when others can enter it.
    """
    if path.is_dir():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 and path not in _warned:
            _warned.add(path)
            log.warning(
                "data directory %s has mode %o: others can list it (chmod 700 it)", path, mode
            )
        return
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
