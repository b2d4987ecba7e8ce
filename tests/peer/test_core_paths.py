"""PeerCore and paths: a relayed channel, the endpoint offered inside it, and the direct
channel that replaces it without losing or repeating a message. No sockets."""

from __future__ import annotations

from dataclasses import dataclass, field

from peer import events as ev
from peer.core.actions import Admit, ChannelPath, CloseReason, DialFailure, Step, Upgrade
from peer.core.frames import Ack, ChatMessage, EndpointOffer, Frame
from peer.core.peer_core import PeerCore
from tests.peer.core_helpers import closes, events, frames, make_core

RELAYED, DIRECT = 1, 2


def upgrades(step: Step) -> list[Upgrade]:
    return [a for a in step.actions if isinstance(a, Upgrade)]


@dataclass
class TwoPaths:
    """alice and bob with a relayed channel (1), and later a direct one (2)."""

    alice: PeerCore = field(default_factory=lambda: make_core("alice"))
    bob: PeerCore = field(default_factory=lambda: make_core("bob"))
    wire: dict[tuple[str, int], list[Frame]] = field(default_factory=dict)
    seen: dict[str, list[ev.ClientEvent]] = field(default_factory=lambda: {"alice": [], "bob": []})

    def core(self, name: str) -> PeerCore:
        return self.alice if name == "alice" else self.bob

    def run(self, name: str, step: Step) -> Step:
        self.seen[name].extend(step.events)
        for action in step.actions:
            if hasattr(action, "frame"):
                self.wire.setdefault((name, action.channel), []).append(action.frame)  # type: ignore[union-attr]
        return step

    def open(self, channel: int, path: ChannelPath, *, upgrade: bool = False) -> None:
        assert self.bob.admit("alice", path) is Admit.ACCEPT
        step = self.bob.channel_opened("alice", channel, initiator=False, now=0, path=path)
        self.run("bob", step)
        step = self.alice.channel_opened(
            "bob", channel, initiator=True, now=0, path=path, upgrade=upgrade
        )
        self.run("alice", step)

    def carry(self, sender: str, channel: int, count: int | None = None) -> Step:
        """Hand ``count`` (default all) queued frames of ``sender`` on ``channel`` over."""
        queue = self.wire.get((sender, channel), [])
        batch, self.wire[(sender, channel)] = queue[:count], queue[len(queue[:count]) :]
        receiver = "bob" if sender == "alice" else "alice"
        return self.run(receiver, self.core(receiver).frames_received(channel, batch, 1.0))

    def received(self, name: str) -> list[str]:
        return [e.text for e in self.seen[name] if isinstance(e, ev.MessageReceived)]


def test_the_direct_channel_replaces_the_relayed_one_without_loss_or_repeat() -> None:
    t = TwoPaths()
    t.open(RELAYED, ChannelPath.RELAY)
    assert t.alice.paths == {"bob": ChannelPath.RELAY}
    ids = [t.alice.send_private("bob", f"m{n}", 1.0, 1.0) for n in range(10)]
    for _sent, step in ids:
        t.run("alice", step)
    t.carry("alice", RELAYED, 4)  # bob has m0-m3; their receipt is lost with the channel

    t.run("alice", t.alice.frames_received(RELAYED, [EndpointOffer("10.0.0.2", 4000)], 1.0))
    t.open(DIRECT, ChannelPath.DIRECT, upgrade=True)
    alice_switch = t.seen["alice"]
    assert [e for e in alice_switch if isinstance(e, ev.ChannelOpened)][-1].path == "direct"
    for kind in (ev.MessageFailed, ev.ChannelClosed, ev.MemberLeft):
        assert [e for e in t.seen["alice"] + t.seen["bob"] if isinstance(e, kind)] == []
    # What the relayed channel carried unacknowledged goes first on the direct one.
    resent = [f.text for f in t.wire[("alice", DIRECT)] if isinstance(f, ChatMessage)]
    assert resent == [f"m{n}" for n in range(10)]

    t.carry("alice", RELAYED)  # late relayed frames: that channel is gone, they are ignored
    sent, step = t.alice.send_private("bob", "after", 2.0, 2.0)
    t.run("alice", step)
    t.carry("alice", DIRECT)
    t.carry("bob", DIRECT)
    assert t.received("bob") == [f"m{n}" for n in range(10)] + ["after"]
    delivered = [e.msg_id for e in t.seen["alice"] if isinstance(e, ev.MessageDelivered)]
    assert sorted(delivered) == sorted([s.msg_id for s, _ in ids] + [sent.msg_id])


def test_a_switch_is_not_a_send_a_later_loss_still_gets_its_resend() -> None:
    t = TwoPaths()
    t.open(RELAYED, ChannelPath.RELAY)
    _sent, step = t.alice.send_private("bob", "once", 1.0, 1.0)
    t.run("alice", step)
    t.open(DIRECT, ChannelPath.DIRECT)
    step = t.alice.channel_closed(DIRECT, CloseReason.NETWORK_ERROR, "reset", 2.0)
    assert events(step, ev.MessageFailed) == []  # written twice, but one was a switch


def test_a_second_channel_on_the_same_path_is_a_restart_and_counts() -> None:
    t = TwoPaths()
    t.open(RELAYED, ChannelPath.RELAY)
    sent, step = t.alice.send_private("bob", "once", 1.0, 1.0)
    t.run("alice", step)
    step = t.alice.channel_opened("bob", 3, initiator=False, now=1.0, path=ChannelPath.RELAY)
    assert closes(step) == [("bob", CloseReason.REPLACED)]
    step = t.alice.channel_closed(3, CloseReason.NETWORK_ERROR, "reset", 2.0)
    assert [e.msg_id for e in events(step, ev.MessageFailed)] == [sent.msg_id]


def test_an_offer_is_dialled_once_per_relayed_channel_and_only_there() -> None:
    t = TwoPaths()
    t.open(DIRECT, ChannelPath.DIRECT)
    offer = EndpointOffer("192.0.2.1", 5000)
    assert upgrades(t.alice.frames_received(DIRECT, [offer], 1.0)) == []  # direct already
    t.open(RELAYED, ChannelPath.RELAY)
    assert upgrades(t.alice.frames_received(RELAYED, [offer], 1.0)) == [
        Upgrade("bob", "192.0.2.1", 5000)
    ]
    assert upgrades(t.alice.frames_received(RELAYED, [offer, offer], 1.1)) == []
    # The upgrade dial fails: nothing to tell the user, the relayed channel goes on.
    step = t.alice.dial_failed("bob", DialFailure.UNREACHABLE, "timeout", 2.0, upgrade=True)
    assert step.events == [] and step.actions == []
    assert t.alice.paths == {"bob": ChannelPath.RELAY}
    assert upgrades(t.alice.frames_received(RELAYED, [offer], 3.0)) == []  # once per channel


def test_a_direct_channel_is_admitted_over_a_relayed_one_unless_our_upgrade_wins() -> None:
    alice = make_core("alice")
    alice.channel_opened("bob", RELAYED, initiator=True, now=0.0, path=ChannelPath.RELAY)
    assert alice.admit("bob", ChannelPath.DIRECT) is Admit.ACCEPT  # bob upgrades: welcome
    assert alice.admit("bob", ChannelPath.RELAY) is Admit.DUPLICATE  # another relayed one: no
    alice.frames_received(RELAYED, [EndpointOffer("192.0.2.1", 5000)], 1.0)
    # Both dial directly at once: alice's dial (the smaller name's) wins.
    assert alice.admit("bob", ChannelPath.DIRECT) is Admit.DUPLICATE
    zoe = make_core("zoe")
    zoe.channel_opened("bob", RELAYED, initiator=True, now=0.0, path=ChannelPath.RELAY)
    zoe.frames_received(RELAYED, [EndpointOffer("192.0.2.1", 5000)], 1.0)
    assert zoe.admit("bob", ChannelPath.DIRECT) is Admit.ACCEPT  # bob's name is smaller


def test_acks_and_chat_flow_over_a_relayed_channel_as_over_a_direct_one() -> None:
    t = TwoPaths()
    t.open(RELAYED, ChannelPath.RELAY)
    sent, step = t.alice.send_private("bob", "hi", 1.0, 1.0)
    t.run("alice", step)
    t.carry("alice", RELAYED)
    assert [f for f in t.wire[("bob", RELAYED)] if isinstance(f, Ack)] == [Ack((sent.msg_id,))]
    t.carry("bob", RELAYED)
    assert [e.msg_id for e in t.seen["alice"] if isinstance(e, ev.MessageDelivered)] == [
        sent.msg_id
    ]
    assert frames(t.alice.tick(6.0), "bob")  # keepalive pings a silent relayed channel too
