"""Smoke: the tracker fixture serves TLS and a user can register, log in and ping."""

from __future__ import annotations


async def test_register_login_ping(tracker, user):
    alice = await user(tracker, "alice")
    reply = await alice.request("PING")
    assert reply["status"] == "OK"
    assert isinstance(reply["time"], float)
