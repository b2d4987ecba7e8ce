"""Tracker certificate verification: CA file, expected fingerprint, trust on first use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commons.errors import ErrorCode
from peer.client.chat_client import ChatClient
from peer.config import PeerConfig
from peer.errors import TrackerUntrustedError
from peer.session.pins import PINS_FILE
from tests.conftest import TrackerFactory
from tracker.server.server import TrackerServer


def config(tracker: TrackerServer, home: Path, **changes: object) -> PeerConfig:
    base = PeerConfig(tracker=("127.0.0.1", tracker.port), home=home)
    fields = {f: getattr(base, f) for f in base.__slots__}
    fields.update(changes)
    return PeerConfig(**fields)  # type: ignore[arg-type]


async def connect(cfg: PeerConfig) -> ChatClient:
    client = ChatClient(cfg)
    try:
        await client.connect()
    except BaseException:
        await client.close()
        raise
    return client


async def test_tofu_pins_then_refuses_a_changed_certificate(
    tracker: TrackerServer, tmp_path: Path
) -> None:
    first = await connect(config(tracker, tmp_path))
    assert first.tracker_fingerprint == tracker.cert_fingerprint
    await first.close()
    pins = json.loads((tmp_path / PINS_FILE).read_text())
    assert pins == {f"127.0.0.1:{tracker.port}": tracker.cert_fingerprint}
    assert (tmp_path / PINS_FILE).stat().st_mode & 0o077 == 0

    again = await connect(config(tracker, tmp_path))
    await again.close()

    pins[f"127.0.0.1:{tracker.port}"] = "AA:" * 31 + "AA"
    (tmp_path / PINS_FILE).write_text(json.dumps(pins))
    with pytest.raises(TrackerUntrustedError) as refused:
        await connect(config(tracker, tmp_path))
    assert refused.value.code is ErrorCode.TRACKER_UNTRUSTED
    assert "HAS CHANGED" in refused.value.message
    assert tracker.cert_fingerprint in refused.value.message


async def test_expected_fingerprint(tracker: TrackerServer, tmp_path: Path) -> None:
    good = tracker.cert_fingerprint.replace(":", "").lower()
    client = await connect(config(tracker, tmp_path, tracker_fingerprint=good))
    await client.close()
    assert not (tmp_path / PINS_FILE).exists()
    with pytest.raises(TrackerUntrustedError, match="not the expected"):
        await connect(config(tracker, tmp_path, tracker_fingerprint="00" * 32))


async def test_cafile(tracker_factory: TrackerFactory, tmp_path: Path) -> None:
    one = await tracker_factory()
    other = await tracker_factory()
    client = await connect(config(one, tmp_path, cafile=one.cert_path))
    await client.close()
    with pytest.raises(TrackerUntrustedError, match="did not verify"):
        await connect(config(one, tmp_path, cafile=other.cert_path))
