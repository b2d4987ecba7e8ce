"""Who learns this client's address: ``--direct-private``, and where it listens."""

from __future__ import annotations

import pytest

from crypto.pinning import TrustState
from peer.__main__ import build_parser, config_from_args
from peer.config import PeerConfig, default_listen
from peer.core.actions import ChannelPath
from peer.core.endpoint_policy import DirectPrivate, should_offer

RELAY, DIRECT = ChannelPath.RELAY, ChannelPath.DIRECT
VERIFIED, UNVERIFIED = TrustState.VERIFIED, TrustState.UNVERIFIED


@pytest.mark.parametrize(
    ("policy", "path", "trust", "room_mate", "listening", "offer"),
    [
        (DirectPrivate.VERIFIED, RELAY, VERIFIED, False, True, True),
        (DirectPrivate.VERIFIED, RELAY, UNVERIFIED, False, True, False),
        (DirectPrivate.VERIFIED, RELAY, None, False, True, False),  # a stranger
        (DirectPrivate.VERIFIED, RELAY, TrustState.KEY_CHANGED, False, True, False),
        (DirectPrivate.ALWAYS, RELAY, None, False, True, True),
        (DirectPrivate.NEVER, RELAY, VERIFIED, False, True, False),
        (DirectPrivate.ALWAYS, DIRECT, VERIFIED, False, True, False),  # direct already
        (DirectPrivate.ALWAYS, RELAY, VERIFIED, True, True, False),  # has it from the room
        (DirectPrivate.ALWAYS, RELAY, VERIFIED, False, False, False),  # nothing to offer
    ],
)
def test_the_address_is_offered_only_where_the_policy_says(
    policy: DirectPrivate,
    path: ChannelPath,
    trust: TrustState | None,
    room_mate: bool,
    listening: bool,
    offer: bool,
) -> None:
    assert (
        should_offer(policy, path=path, trust=trust, room_mate=room_mate, listening=listening)
        is offer
    )


def test_the_listener_follows_the_tracker_off_loopback() -> None:
    assert default_listen(("127.0.0.1", 6060)) == ("127.0.0.1", 0)
    assert default_listen(("localhost", 6060)) == ("127.0.0.1", 0)
    assert default_listen(("::1", 6060)) == ("127.0.0.1", 0)
    assert default_listen(("192.168.1.10", 6060)) == ("0.0.0.0", 0)
    assert default_listen(("tracker.example.org", 6060)) == ("0.0.0.0", 0)
    assert PeerConfig(tracker=("10.0.0.1", 1)).listen_address == ("0.0.0.0", 0)
    assert PeerConfig(tracker=("10.0.0.1", 1), listen=("10.0.0.5", 7)).listen_address == (
        "10.0.0.5",
        7,
    )
    assert PeerConfig(no_listen=True).listen_address is None
    assert PeerConfig(relay_only=True).listen_address is None
    assert not PeerConfig(relay_only=True).direct_dials and PeerConfig(no_listen=True).direct_dials


def test_the_command_line_options() -> None:
    parse = build_parser().parse_args
    config = config_from_args(parse(["--tracker", "10.1.2.3:6060"]))
    assert config.listen_address == ("0.0.0.0", 0)
    assert config.direct_private is DirectPrivate.VERIFIED
    config = config_from_args(parse(["--relay-only", "--direct-private", "never"]))
    assert config.relay_only and config.listen_address is None
    assert config.direct_private is DirectPrivate.NEVER
    config = config_from_args(parse(["--no-listen", "--advertise-port", "4444"]))
    assert config.no_listen and config.advertise_port == 4444
    with pytest.raises(SystemExit):
        parse(["--no-listen", "--relay-only"])
