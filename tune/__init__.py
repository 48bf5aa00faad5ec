"""coinray package."""
