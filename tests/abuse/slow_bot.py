"""A bot built on the client API that reads its events only when told to: the victim of
``test_peer_flood``. Run as ``python -m tests.abuse.slow_bot PORT CAFILE HOME``.

It logs in as ``bot``, prints ``{"listen": [host, port], "pid": ...}`` and then reads no
event until a line arrives on stdin; it then takes every event that waits (until none
comes for a second) and prints ``{"received": [msg_id, ...]}``, and exits on the next
line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

from crypto.keystore import TEST_KDF_PARAMS
from crypto.login_secret import TEST_LOGIN_KDF
from peer.client.chat_client import ChatClient
from peer.config import PeerConfig
from peer.events import MessageReceived

PASSWORD = "bot-password"


async def main(port: int, cafile: Path, home: Path) -> None:
    config = PeerConfig(
        tracker=("127.0.0.1", port), home=home, cafile=cafile, min_login_kdf=TEST_LOGIN_KDF
    )
    client = ChatClient(config, kdf_params=TEST_KDF_PARAMS)
    await client.connect()
    await client.register("bot", PASSWORD)
    await client.login("bot", PASSWORD)
    print(json.dumps({"listen": client.listen_address, "pid": os.getpid()}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # the application is busy
    received: list[str] = []
    events = client.events()
    with contextlib.suppress(TimeoutError):
        while True:
            event = await asyncio.wait_for(anext(events), 1.0)
            if isinstance(event, MessageReceived):
                received.append(event.msg_id)
    print(json.dumps({"received": received}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
