"""PeerCore decides how a dial goes (direct, relay or not at all), whether an offered
endpoint is dialled, and whom our own address is offered to. No sockets: the address
policy is the client's own, the dial rate a recording stand-in."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from crypto.pinning import TrustState
from peer.channels.dial_policy import AddressPolicy, DialRate
from peer.core.actions import ChannelPath, DialFailure, Upgrade
from peer.core.dialling import DialDirect, DialPath, DialRefused, DialRelay
from peer.core.endpoint_policy import DirectPrivate
from peer.core.frames import EndpointOffer
from peer.core.peer_core import PeerCore
from tests.peer.core_helpers import frames, in_room, make_core

REMOTE_TRACKER = AddressPolicy("198.51.100.7")  # loopback and link-local are refused
BOB = ("192.0.2.10", 4000)
LOOPBACK = ("127.0.0.1", 4000)
OWN = ("192.0.2.1", 5000)


@dataclass
class Rate:
    """A dial rate that allows ``allowed`` dials, then asks to wait; records each take."""

    allowed: int = 100
    taken: list[tuple[str, int, float]] = field(default_factory=list)

    def take(self, host: str, port: int, now: float) -> float:
        self.taken.append((host, port, now))
        return 0.0 if len(self.taken) <= self.allowed else 1.0


def dial_path(
    core: PeerCore,
    user: str,
    address: tuple[str, int] | None,
    *,
    listed: bool = True,
    relay_open: bool = True,
    rate: Rate | None = None,
) -> DialPath:
    return core.dial_path(
        user,
        address,
        listed=listed,
        relay_open=relay_open,
        policy=REMOTE_TRACKER,
        rate=rate or Rate(),
        now=3.0,
    )


# ---------------------------------------------------------------- dial paths


def test_a_room_mate_with_an_address_is_dialled_directly_and_takes_a_token() -> None:
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)
    rate = Rate()
    assert dial_path(alice, "bob", BOB, rate=rate) == DialDirect(*BOB)
    assert rate.taken == [(*BOB, 3.0)]


def test_a_room_mate_without_an_address_goes_through_the_relay() -> None:
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)
    assert dial_path(alice, "bob", None) == DialRelay()


def test_an_address_is_ignored_for_someone_outside_our_room() -> None:
    """Only the room's member list gives addresses: anyone else goes through the relay."""
    alice = make_core("alice")
    rate = Rate()
    assert dial_path(alice, "bob", BOB, rate=rate) == DialRelay()
    assert rate.taken == []
    alice.room_entered("lobby", "alice", 3, ["alice", "carol"], 0.0)
    assert dial_path(alice, "bob", BOB, rate=rate) == DialRelay()
    assert rate.taken == []


def test_someone_nobody_listed_is_not_dialled() -> None:
    alice = make_core("alice")
    assert dial_path(alice, "bob", None, listed=False) == DialRefused(
        DialFailure.UNREACHABLE, "bob is not online"
    )
    # A room-mate with an address needs no listing.
    alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)
    assert dial_path(alice, "bob", BOB, listed=False) == DialDirect(*BOB)


def test_a_refused_address_falls_back_to_the_relay_without_a_token() -> None:
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)
    rate = Rate()
    assert dial_path(alice, "bob", LOOPBACK, rate=rate) == DialRelay()
    assert rate.taken == []


def test_a_refused_address_with_no_relay_is_not_dialled() -> None:
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)
    path = dial_path(alice, "bob", LOOPBACK, relay_open=False)
    assert isinstance(path, DialRefused)
    assert path.failure is DialFailure.ADDRESS
    assert path.detail.startswith("not dialling bob: 127.0.0.1 is a loopback address")


def test_a_rate_limited_address_is_not_dialled_and_not_relayed() -> None:
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)
    rate = Rate(allowed=1)
    assert dial_path(alice, "bob", BOB, rate=rate) == DialDirect(*BOB)
    assert dial_path(alice, "bob", BOB, rate=rate) == DialRefused(
        DialFailure.UNREACHABLE, "not dialling bob: dials to that address are rate-limited"
    )


def test_the_clients_dial_rate_fits_the_core() -> None:
    alice = make_core("alice")
    alice.room_entered("lobby", "alice", 3, ["alice", "bob"], 0.0)
    rate = DialRate(burst=1, interval=10.0)
    paths = [
        alice.dial_path(
            "bob", BOB, listed=True, relay_open=True, policy=REMOTE_TRACKER, rate=rate, now=t
        )
        for t in (0.0, 1.0, 10.0)
    ]
    assert [type(p) for p in paths] == [DialDirect, DialRefused, DialDirect]


# ---------------------------------------------------------------- upgrades


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("192.0.2.10", 1, DialDirect("192.0.2.10", 4000)),
        (
            "127.0.0.1",
            1,
            DialRefused(
                DialFailure.ADDRESS,
                "not dialling bob: 127.0.0.1 is a loopback address and the tracker is not on "
                "this machine",
            ),
        ),
        (
            "192.0.2.10",
            0,
            DialRefused(
                DialFailure.ADDRESS, "not dialling bob: dials to that address are rate-limited"
            ),
        ),
    ],
)
def test_an_offered_endpoint_is_dialled_under_the_policy_and_rate(
    host: str, allowed: int, expected: DialPath
) -> None:
    """An offer is the remote's word: never to a refused address, never past the rate,
    and never through the relay (the relayed channel already is)."""
    rate = Rate(allowed=allowed)
    path = make_core("alice").upgrade_path(
        Upgrade("bob", host, 4000), policy=REMOTE_TRACKER, rate=rate, now=2.0
    )
    assert path == expected
    assert rate.taken == ([] if host == "127.0.0.1" else [(host, 4000, 2.0)])


# ---------------------------------------------------------------- offering our address


def relayed(me: str = "alice", user: str = "bob") -> PeerCore:
    core = make_core(me)
    core.channel_opened(user, 1, initiator=True, now=0.0, path=ChannelPath.RELAY)
    return core


def offers(
    core: PeerCore,
    *,
    policy: DirectPrivate = DirectPrivate.ALWAYS,
    own: tuple[str, int] | None = OWN,
    trust: TrustState | None = TrustState.VERIFIED,
) -> list[EndpointOffer]:
    step = core.offer_endpoint("bob", own, policy, trust)
    return [f for f in frames(step, "bob") if isinstance(f, EndpointOffer)]


def test_our_address_goes_once_per_relayed_channel() -> None:
    alice = relayed()
    assert offers(alice) == [EndpointOffer(*OWN)]
    assert offers(alice) == []  # once is enough on this channel
    alice.channel_opened("bob", 2, initiator=False, now=1.0, path=ChannelPath.RELAY)
    assert offers(alice) == [EndpointOffer(*OWN)]  # a new channel: once more


def test_our_address_follows_the_direct_private_policy() -> None:
    assert offers(relayed(), policy=DirectPrivate.NEVER) == []
    assert offers(relayed(), policy=DirectPrivate.VERIFIED, trust=TrustState.UNVERIFIED) == []
    assert offers(relayed(), policy=DirectPrivate.VERIFIED, trust=None) == []
    verified = offers(relayed(), policy=DirectPrivate.VERIFIED, trust=TrustState.VERIFIED)
    assert verified == [EndpointOffer(*OWN)]
    # Refused once, offered later when trust changes (``/verify``).
    alice = relayed()
    assert offers(alice, policy=DirectPrivate.VERIFIED, trust=TrustState.UNVERIFIED) == []
    assert offers(alice, policy=DirectPrivate.VERIFIED) == [EndpointOffer(*OWN)]


def test_no_offer_without_a_listener_a_relayed_channel_or_to_a_room_mate() -> None:
    assert offers(relayed(), own=None) == []
    assert offers(make_core("alice")) == []  # no channel at all
    direct = make_core("alice")
    direct.channel_opened("bob", 1, initiator=True, now=0.0)
    assert offers(direct) == []
    mate = in_room("alice", ("alice", "bob"))
    mate.channel_opened("bob", 2, initiator=True, now=0.0, path=ChannelPath.RELAY)
    assert offers(mate) == []  # the tracker gave them our address already


# ---------------------------------------------------------------- relay-only rooms


def test_in_a_relay_only_room_every_member_goes_through_the_relay() -> None:
    """A direct dial would show the room-mate our address: never, even to one whose
    address the tracker lists, and no token of the dial rate is spent."""
    alice = make_core("alice")
    alice.room_entered("lobby", "bob", 3, ["alice", "bob"], 0.0, relay_only=True)
    rate = Rate()
    assert dial_path(alice, "bob", BOB, rate=rate) == DialRelay()
    assert rate.taken == []
    path = dial_path(alice, "bob", BOB, relay_open=False)
    assert isinstance(path, DialRefused) and path.failure is DialFailure.UNREACHABLE
    assert "relay-only room" in path.detail
    # Entering it again without the choice (/join lobby) dials directly again.
    alice.room_entered("lobby", "bob", 3, ["alice", "bob"], 1.0)
    assert dial_path(alice, "bob", BOB, rate=rate) == DialDirect(*BOB)
    # The choice goes with the room: outside it, bob is an ordinary contact.
    alice.room_entered("lobby", "bob", 3, ["alice", "bob"], 2.0, relay_only=True)
    alice.room_closed(deleted=False)
    assert dial_path(alice, "bob", None) == DialRelay()


def test_in_a_relay_only_room_a_room_mate_cannot_lure_a_direct_dial() -> None:
    """The attack: a room-mate offers an address over the relayed channel, so that our
    direct dial shows them ours. In a relay-only room the offer is never dialled, and
    we never offer ours; in an ordinary room the same offer is dialled once."""
    offer = EndpointOffer("192.0.2.10", 4000)
    shy = make_core("alice")
    shy.room_entered("lobby", "bob", 3, ["alice", "bob"], 0.0, relay_only=True)
    shy.channel_opened("bob", 1, initiator=True, now=0.0, path=ChannelPath.RELAY)
    step = shy.frames_received(1, [offer], 1.0)
    assert [a for a in step.actions if isinstance(a, Upgrade)] == []
    assert offers(shy) == []
    # Still relay-only for a member the tracker dropped while our channel lives on.
    shy.room_update("lobby", "bob", ["alice"], 2.0)
    assert shy.room is not None and "bob" in shy.room.detached
    shy.channel_opened("bob", 2, initiator=False, now=2.5, path=ChannelPath.RELAY)
    step = shy.frames_received(2, [offer], 3.0)
    assert [a for a in step.actions if isinstance(a, Upgrade)] == []
    plain = make_core("alice")
    plain.room_entered("lobby", "bob", 3, ["alice", "bob"], 0.0)
    plain.channel_opened("bob", 1, initiator=True, now=0.0, path=ChannelPath.RELAY)
    step = plain.frames_received(1, [offer], 1.0)
    assert [a for a in step.actions if isinstance(a, Upgrade)] == [Upgrade("bob", *BOB)]
