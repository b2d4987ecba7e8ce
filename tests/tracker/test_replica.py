"""A group tracker's copy of the live state (:class:`ReplicaState`), as plain calls."""

from __future__ import annotations

import base64

from commons.relay_frames import parse_relay, relay_request
from commons.tracker_protocol import Command, Request
from tracker.group.replica import Presence, ReplicaState
from tracker.state.tracker_state import Forward, StateLimits

KEY = base64.b64encode(b"k" * 32).decode()
ALICE = 1


def test_a_full_resync_forgets_the_relay_pairs_of_users_gone_meanwhile() -> None:
    """Pairs are indexed by user; a resync that drops a user drops theirs too, so the
    index holds only users online (it would otherwise grow with every resync)."""
    state = ReplicaState("tracker-a", 3, 1.0, 65536, limits=StateLimits())
    login = Request(1, Command.LOGIN, username="alice", password="0" * 64, identity_key=KEY)
    state.login(ALICE, login, "127.0.0.1", now=0.0)
    alice_row = Presence("alice", "tracker-a", ALICE, "127.0.0.1", None, KEY, 0.0)
    bob_row = Presence("bob", "tracker-b", 7, "127.0.0.1", None, KEY, 0.0)
    state.apply({"bob": bob_row}, {})
    outcome = state.relay(ALICE, parse_relay(relay_request("bob", 1, False, b"x")), now=1.0)
    assert isinstance(outcome.forward, Forward)
    assert state.registry.relayed_by == {"bob": {"alice"}}

    state.reset([alice_row], [])  # bob logged out while this tracker was cut off

    assert set(state.online) == {"alice"}
    assert state.registry.relayed_by == {}


def test_a_full_resync_forgets_the_look_alike_index_of_rooms_gone_meanwhile() -> None:
    """Room names are indexed by skeleton for the look-alike rule; a resync that drops a
    room drops its entry, or its name would stay taken (``Lobby`` refused for ever)."""
    state = ReplicaState("tracker-a", 3, 1.0, 65536, limits=StateLimits())
    login = Request(1, Command.LOGIN, username="alice", password="0" * 64, identity_key=KEY)
    state.login(ALICE, login, "127.0.0.1", now=0.0)
    outcome = state.handle(ALICE, Request(2, Command.CREATE_ROOM, room="lobby"), 1.0)
    assert outcome.reply is not None and outcome.reply["status"] == "OK"
    assert state.registry.look_alike_room("Lobby") == "lobby"
    alice_row = Presence("alice", "tracker-a", ALICE, "127.0.0.1", None, KEY, 0.0)

    state.reset([alice_row], [])  # the room was deleted while this tracker was cut off

    assert state.registry.look_alike_room("Lobby") is None
    assert state.registry.room_skeletons == {}


def test_a_full_resync_recounts_the_rooms_of_newcomers() -> None:
    """Newcomers' rooms are counted against their share of ``max_rooms``; a resync that
    drops every room drops their count, or rooms re-added after it are counted twice and
    the share fills with rooms that do not exist."""
    state = ReplicaState("tracker-a", 3, 1.0, 65536, limits=StateLimits())
    login = Request(1, Command.LOGIN, username="alice", password="0" * 64, identity_key=KEY)
    state.login(ALICE, login, "127.0.0.1", now=0.0)
    outcome = state.handle(ALICE, Request(2, Command.CREATE_ROOM, room="lobby"), 1.0)
    assert outcome.reply is not None and outcome.reply["status"] == "OK"
    assert state.registry.newcomer_rooms == 1
    alice_row = Presence("alice", "tracker-a", ALICE, "127.0.0.1", None, KEY, 0.0)

    state.reset([alice_row], [])  # the room was deleted while this tracker was cut off

    assert state.rooms == {}
    assert state.registry.newcomer_rooms == 0
