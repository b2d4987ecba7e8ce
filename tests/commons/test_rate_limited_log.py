"""Log lines a client can trigger: one per kind per interval, counting the rest."""

from __future__ import annotations

import logging

import pytest

from commons.rate_limited_log import RateLimitedLog


def test_one_line_per_kind_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    log = RateLimitedLog(logging.getLogger("test.rate"), interval=10.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="test.rate")
    written = [log.warning("send", "session %d: send failed", n) for n in range(1000)]
    assert written.count(True) == 1
    assert log.warning("handler", "another kind")
    now[0] += 10.0
    assert log.warning("send", "session %d: send failed", 1001)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "session 0: send failed",
        "another kind",
        "session 1001: send failed (999 more like this in the last 10 s)",
    ]
    assert not any(r.exc_info for r in caplog.records)


def test_kinds_are_bounded() -> None:
    log = RateLimitedLog(logging.getLogger("test.rate.kinds"), clock=lambda: 0.0)
    for n in range(10 * RateLimitedLog.MAX_KINDS):
        log.warning(f"kind-{n}", "x")
    assert len(log._last) <= RateLimitedLog.MAX_KINDS
