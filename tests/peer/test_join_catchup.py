"""Pushes that race our own join: what is replayed after the reply (sans-I/O)."""

from __future__ import annotations

from commons.models import MemberInfo
from commons.room_control import Departure, Kicked, KickReason, Removed
from peer.client.join_catchup import MAX_DEPARTURES, JoinCatchUp
from peer.session.messages import KickedPush, RoomDeletedPush, RoomUpdate

KEY = "k" * 44


def update(room: str, names: list[str], removed: Removed | None = None) -> RoomUpdate:
    members = [MemberInfo(name, None, None, KEY) for name in names]
    return RoomUpdate(room, "bob", 64, members, removed=removed)


def test_only_pushes_for_the_awaited_room_after_the_request_are_replayed() -> None:
    catch_up = JoinCatchUp()
    catch_up.note(update("lobby", ["bob", "carol"]))  # before any join: ignored
    catch_up.start("lobby")
    catch_up.note(update("other", ["x"]))
    latest = update("lobby", ["bob", "alice", "carol"])
    catch_up.note(latest)
    assert catch_up.finish("lobby") == [latest]
    assert catch_up.finish("lobby") == []  # once


def test_the_newest_list_is_kept_however_many_pushes_race_the_join() -> None:
    catch_up = JoinCatchUp()
    catch_up.start("lobby")
    names = ["bob", "alice"]
    for i in range(100):
        names.append(f"u{i}")
        catch_up.note(update("lobby", list(names)))
    [replayed] = catch_up.finish("lobby")
    assert isinstance(replayed, RoomUpdate) and len(replayed.members) == 102


def test_every_member_named_gone_is_replayed_unless_listed_again() -> None:
    catch_up = JoinCatchUp()
    catch_up.start("lobby")
    catch_up.note(update("lobby", ["bob", "alice", "dave"], Removed("carol", Departure.KICKED)))
    catch_up.note(update("lobby", ["bob", "alice"], Removed("dave", Departure.LEFT)))
    catch_up.note(update("lobby", ["bob", "alice", "erin"]))
    catch_up.note(update("lobby", ["bob", "alice"], Removed("erin", Departure.BANNED)))
    catch_up.note(update("lobby", ["bob", "alice", "erin"]))  # erin let in again
    replay = catch_up.finish("lobby")
    assert all(isinstance(p, RoomUpdate) for p in replay)
    lists = {tuple(m.username for m in p.members) for p in replay}  # type: ignore[union-attr]
    assert lists == {("bob", "alice", "erin")}
    named = [p.removed for p in replay]  # type: ignore[union-attr]
    assert named == [None, Removed("carol", Departure.KICKED), Removed("dave", Departure.LEFT)]


def test_departures_kept_are_bounded_newest_first() -> None:
    catch_up = JoinCatchUp()
    catch_up.start("lobby")
    for i in range(MAX_DEPARTURES + 10):
        catch_up.note(update("lobby", ["bob", "alice"], Removed(f"u{i}", Departure.LEFT)))
    replay = catch_up.finish("lobby")
    gone = {p.removed.username for p in replay if p.removed}  # type: ignore[union-attr]
    assert len(gone) == MAX_DEPARTURES and f"u{MAX_DEPARTURES + 9}" in gone and "u0" not in gone


def test_a_kick_or_a_deletion_during_the_join_comes_last() -> None:
    catch_up = JoinCatchUp()
    catch_up.start("lobby")
    kicked = KickedPush(Kicked("lobby", "bob", KickReason.KICKED))
    catch_up.note(kicked)
    latest = update("lobby", ["bob"], Removed("alice", Departure.KICKED))
    catch_up.note(latest)
    assert catch_up.finish("lobby") == [latest, kicked]
    catch_up.start("den")
    deleted = RoomDeletedPush("den")
    catch_up.note(deleted)
    assert catch_up.finish("den") == [deleted]


def test_entering_another_room_keeps_the_awaited_one() -> None:
    catch_up = JoinCatchUp()
    catch_up.start("lobby")
    latest = update("lobby", ["bob", "alice"])
    catch_up.note(latest)
    assert catch_up.finish("other") == []
    assert catch_up.finish("lobby") == [latest]
