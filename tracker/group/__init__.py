"""Several trackers on one PostgreSQL database: coordinator, log, rows, leases, relay, replica."""
