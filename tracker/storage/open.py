"""Choosing and building the storage back end.

Why here and not in :mod:`tracker.storage.base`: the interface and its records are what
both back ends import; the function that picks one of them imports both. Kept apart, the
back ends sit above the interface and this module above them, with no cycle. It takes
plain values, not the tracker's configuration, so storage stays below
:mod:`tracker.config`.

Contract: nothing is opened here (call ``await storage.open()``); the PostgreSQL back
end is imported only when asked for, since psycopg is the optional extra
``postgresql``, and its absence is an :class:`OSError` that says what to install.
"""

from __future__ import annotations

from pathlib import Path

from tracker.storage.base import Storage


def open_storage(database: str | None, data_dir: Path, pool_size: int) -> Storage:
    """The back end ``database`` names (``None``: SQLite in ``data_dir``); ``pool_size``
    bounds the PostgreSQL connection pool."""
    if database is None:
        from tracker.storage.sqlite import SqliteStorage

        return SqliteStorage(data_dir)
    try:
        from tracker.storage.postgres import PgStorage
    except ImportError as exc:
        raise OSError(
            f"--database needs psycopg: pip install 'p2pchat[postgresql]' ({exc})"
        ) from None
    return PgStorage(database, pool_size)
