"""The tracker directory as identity checks use it: every listing has an age."""

from __future__ import annotations

from peer.directory import MAX_LISTING_AGE, REFRESH_INTERVAL, Directory

BOB_KEY = bytes([1]) * 32
BOB_NEW_KEY = bytes([2]) * 32


def test_a_listing_is_fresh_up_to_the_bound_then_stale() -> None:
    directory = Directory()
    directory.remember("bob", BOB_KEY, "127.0.0.1", 4000, now=100.0)
    listing = directory.fresh("bob", 100.0 + MAX_LISTING_AGE)
    assert listing is not None and listing.key == BOB_KEY
    assert directory.fresh("bob", 100.0 + MAX_LISTING_AGE + 0.001) is None
    assert directory.get("bob") is not None  # still there to dial, not to vouch for a key
    assert 0 < MAX_LISTING_AGE <= 60  # seconds, not hours


def test_a_stale_or_missing_listing_asks_for_a_refresh_at_most_once_per_interval() -> None:
    directory = Directory()
    assert directory.should_refresh("ghost", 0.0)
    directory.refresh_started(0.0)
    # A stranger claiming a thousand unknown names within the interval: no new request.
    assert not any(directory.should_refresh(f"ghost{i}", 0.5) for i in range(1000))
    assert directory.should_refresh("ghost", REFRESH_INTERVAL)
    directory.remember("bob", BOB_KEY, "127.0.0.1", 4000, now=10.0)
    assert not directory.should_refresh("bob", 10.0 + MAX_LISTING_AGE)
    assert directory.should_refresh("bob", 11.0 + MAX_LISTING_AGE)


def test_a_listing_that_disagrees_with_the_key_presented_asks_for_a_refresh() -> None:
    """bob just moved to a new machine: his new key must not wait for the bound."""
    directory = Directory()
    directory.remember("bob", BOB_KEY, "127.0.0.1", 4000, now=10.0)
    assert not directory.should_refresh("bob", 11.0, BOB_KEY)
    assert directory.should_refresh("bob", 11.0, BOB_NEW_KEY)
    directory.refresh_started(11.0)
    assert not directory.should_refresh("bob", 11.5, BOB_NEW_KEY)


def test_a_full_listing_renews_every_entry_and_forgets_the_unlisted() -> None:
    directory = Directory()
    directory.remember("bob", BOB_KEY, "127.0.0.1", 4000, now=0.0)
    directory.remember("carol", BOB_KEY, "127.0.0.1", 4001, now=0.0)
    directory.replace_all([("bob", BOB_NEW_KEY, "127.0.0.1", 4002)], 100.0, complete=False)
    assert "carol" in directory and directory.fresh("carol", 100.0) is None
    listing = directory.fresh("bob", 100.0)
    assert listing is not None and (listing.key, listing.port) == (BOB_NEW_KEY, 4002)
    directory.replace_all([("bob", BOB_NEW_KEY, "127.0.0.1", 4002)], 100.0, complete=True)
    assert "carol" not in directory


def test_a_key_change_push_renews_the_key_and_its_age() -> None:
    directory = Directory()
    directory.remember("bob", BOB_KEY, "127.0.0.1", 4000, now=0.0)
    directory.key_changed("bob", BOB_NEW_KEY, now=200.0)
    listing = directory.fresh("bob", 200.0)
    assert listing is not None and listing.key == BOB_NEW_KEY and listing.port == 4000
    directory.key_changed("nobody", BOB_NEW_KEY, now=200.0)
    assert "nobody" not in directory
