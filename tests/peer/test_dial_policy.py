"""Which addresses a peer dials, and how often (no sockets)."""

from __future__ import annotations

import pytest

from peer.channels.dial_policy import DIAL_BURST, DIAL_INTERVAL, AddressPolicy, DialRate

REMOTE_TRACKER = AddressPolicy("198.51.100.7")
LOCAL_TRACKER = AddressPolicy("127.0.0.1")


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255", "240.0.0.1"],
)
def test_what_is_not_unicast_is_never_dialled(host: str) -> None:
    assert REMOTE_TRACKER.refusal(host) is not None
    assert LOCAL_TRACKER.refusal(host) is not None


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "fe80::1", "::ffff:127.0.0.1"]
)
def test_loopback_and_link_local_only_with_a_local_tracker(host: str) -> None:
    refusal = REMOTE_TRACKER.refusal(host)
    assert refusal is not None and "tracker is not on this machine" in refusal
    assert LOCAL_TRACKER.refusal(host) is None
    assert AddressPolicy("fe80::2").refusal(host) is None
    assert AddressPolicy(None).refusal(host) is not None  # unknown tracker: not local


@pytest.mark.parametrize("host", ["198.51.100.20", "2001:db8::5", "10.1.2.3", "peer.example"])
def test_ordinary_addresses_and_names_pass(host: str) -> None:
    assert REMOTE_TRACKER.refusal(host) is None  # a name is checked after resolution


def test_dials_to_one_address_are_rate_limited() -> None:
    rate = DialRate()
    waits = [rate.take("198.51.100.20", 4000, 0.0) for _ in range(DIAL_BURST + 2)]
    assert waits[:DIAL_BURST] == [0.0] * DIAL_BURST
    assert waits[DIAL_BURST] == pytest.approx(DIAL_INTERVAL)
    assert rate.take("198.51.100.20", 4001, 0.0) == 0.0  # another port, another address
    assert rate.take("198.51.100.20", 4000, DIAL_INTERVAL) == 0.0


def test_the_rate_table_is_bounded() -> None:
    rate = DialRate(max_addresses=3)
    for port in range(10):
        rate.take("198.51.100.20", port, 0.0)
    assert len(rate._buckets) == 3
