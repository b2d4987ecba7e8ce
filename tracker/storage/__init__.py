"""What survives restarts: the Storage interface and its SQLite and PostgreSQL back ends."""

from tracker.storage.base import Storage
from tracker.storage.open import open_storage

__all__ = ["Storage", "open_storage"]
