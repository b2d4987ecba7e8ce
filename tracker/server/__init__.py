"""The asyncio shell: TrackerServer, one connection, account commands, startup, request decoder."""

from tracker.server.server import TrackerServer

__all__ = ["TrackerServer"]
