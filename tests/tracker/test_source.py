"""Which source a connection counts against (sans-I/O)."""

from __future__ import annotations

import pytest

from tracker.limits.source import UNKNOWN_SOURCE, TrustedNetworks, parse_networks, source_key


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("", UNKNOWN_SOURCE),
        ("not-an-address", UNKNOWN_SOURCE),
    ],
)
def test_ipv4_by_address_ipv6_by_64(host, key):
    assert source_key(host) == key


def test_another_64_is_another_source():
    assert source_key("2001:db8:1:2::1") != source_key("2001:db8:1:3::1")


def test_trusted_networks_match_both_families():
    trusted = TrustedNetworks(["127.0.0.0/8", "2001:db8::/32"])
    assert trusted.contains("127.0.0.9")
    assert trusted.contains("::ffff:127.0.0.1")
    assert trusted.contains("2001:db8:5::1")
    assert not trusted.contains("10.0.0.1")
    assert not trusted.contains("::1")
    assert not TrustedNetworks().contains("127.0.0.1")


def test_bad_network_is_a_clear_error():
    with pytest.raises(ValueError, match="not an IP network"):
        parse_networks(["127.0.0.1/99"])
