"""The client library: :class:`ChatClient` and the driver that runs the core through the shells.

Also the trust gate, the event queue, the directory, lookups and the join catch-up.
"""

from peer.client.chat_client import ChatClient

__all__ = ["ChatClient"]
