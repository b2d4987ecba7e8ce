"""Attacks from the issue "hold against hostile users", each against a real tracker.

Every test plays the attacker with short, bounded loops on loopback from its own source
addresses (127.0.0.2, 127.0.0.3, ...; any of 127.0.0.0/8 works on Linux loopback) and
asserts what the honest user, from another address, still gets. The trackers here
trust no network (``trusted_networks=()``), unlike the rest of the suite.
"""
