"""p2pchat tracker package."""
