"""p2pchat peer package."""
