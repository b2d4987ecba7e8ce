"""The tracker directory as identity checks use it: every listing has an age."""

from __future__ import annotations

from peer.client.directory import (
    LOOKUP_BURST,
    LOOKUPS_PER_SECOND,
    MAX_ENTRIES,
    MAX_LISTING_AGE,
    REFRESH_INTERVAL,
    Directory,
)

BOB_KEY = bytes([1]) * 32
BOB_NEW_KEY = bytes([2]) * 32


def test_a_listing_is_fresh_up_to_the_bound_then_stale() -> None:
    directory = Directory()
    directory.remember("bob", BOB_KEY, now=100.0)
    listing = directory.fresh("bob", 100.0 + MAX_LISTING_AGE)
    assert listing is not None and listing.key == BOB_KEY
    assert directory.fresh("bob", 100.0 + MAX_LISTING_AGE + 0.001) is None
    assert directory.get("bob") is not None  # still there to dial, not to vouch for a key
    assert 0 < MAX_LISTING_AGE <= 60  # seconds, not hours


def test_a_stale_or_missing_listing_asks_for_a_lookup_at_most_once_per_interval() -> None:
    directory = Directory()
    assert directory.should_look_up("ghost", 0.0)
    assert not directory.should_look_up("ghost", 0.5)  # that name: once per interval
    assert directory.should_look_up("ghost", REFRESH_INTERVAL)
    directory.remember("bob", BOB_KEY, now=10.0)
    assert not directory.should_look_up("bob", 10.0 + MAX_LISTING_AGE)
    assert directory.should_look_up("bob", 11.0 + MAX_LISTING_AGE)


def test_lookups_strangers_can_trigger_are_budgeted_per_source() -> None:
    """A stranger claiming a thousand unknown names gets its source's burst, then its
    rate; a newcomer from elsewhere is not kept waiting by it; our own dials ask freely."""
    directory = Directory()
    asked = [directory.should_look_up(f"ghost{i}", 100.0, source="s1") for i in range(1000)]
    assert sum(asked) == LOOKUP_BURST
    later = [directory.should_look_up(f"later{i}", 102.0, source="s1") for i in range(100)]
    assert sum(later) == int(2 * LOOKUPS_PER_SECOND)
    assert directory.should_look_up("carol", 102.0, source="s2")
    assert all(directory.should_look_up(f"friend{i}", 102.0) for i in range(100))


def test_a_listing_that_disagrees_with_the_key_presented_asks_for_a_lookup() -> None:
    """bob just moved to a new machine: his new key must not wait for the bound."""
    directory = Directory()
    directory.remember("bob", BOB_KEY, now=10.0)
    assert not directory.should_look_up("bob", 11.0, BOB_KEY)
    assert directory.should_look_up("bob", 11.0, BOB_NEW_KEY)
    assert not directory.should_look_up("bob", 11.5, BOB_NEW_KEY)


def test_offline_users_are_forgotten_and_the_directory_is_bounded() -> None:
    directory = Directory()
    directory.remember("bob", BOB_KEY, now=0.0)
    directory.forget("bob")
    assert "bob" not in directory
    for index in range(MAX_ENTRIES + 10):
        directory.remember(f"user{index}", BOB_KEY, now=float(index))
    assert len(directory) == MAX_ENTRIES
    assert "user0" not in directory and f"user{MAX_ENTRIES + 9}" in directory


def test_a_key_change_push_renews_the_key_and_its_age() -> None:
    directory = Directory()
    directory.remember("bob", BOB_KEY, now=0.0)
    directory.key_changed("bob", BOB_NEW_KEY, now=200.0)
    listing = directory.fresh("bob", 200.0)
    assert listing is not None and listing.key == BOB_NEW_KEY
    directory.key_changed("nobody", BOB_NEW_KEY, now=200.0)
    assert "nobody" not in directory
