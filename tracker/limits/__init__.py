"""Bounded counters every tracker limit is built from: keyed records, token buckets, throttles."""
