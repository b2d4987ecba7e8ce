"""p2pchat crypto package."""
