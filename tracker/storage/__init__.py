"""What survives restarts: the Storage interface and its SQLite and PostgreSQL back ends."""

from tracker.storage.base import Storage, open_storage

__all__ = ["Storage", "open_storage"]
