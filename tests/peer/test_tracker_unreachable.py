"""A tracker that cannot be reached is described in words, not as an errno."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from crypto.keystore import TEST_KDF_PARAMS
from peer.client.chat_client import ChatClient
from peer.config import PeerConfig
from peer.errors import NotConnectedError, describe_connect_error


async def test_a_closed_port_says_nothing_is_listening(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ChatClient(
        PeerConfig(tracker=("127.0.0.1", port), home=tmp_path), kdf_params=TEST_KDF_PARAMS
    )
    with pytest.raises(NotConnectedError) as caught:
        await client.connect()
    await client.close()
    message = caught.value.message
    assert f"cannot reach the tracker at 127.0.0.1:{port}" in message
    assert "nothing is listening there" in message and "Errno" not in message


def test_each_cause_in_words() -> None:
    assert "unknown" in describe_connect_error(socket.gaierror(-2, "Name or service not known"))
    assert "no route" in describe_connect_error(OSError(errno.EHOSTUNREACH, "x"))
    assert "network is unreachable" in describe_connect_error(OSError(errno.ENETUNREACH, "x"))
    several = OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 6060)")
    assert "nothing is listening" in describe_connect_error(several)
