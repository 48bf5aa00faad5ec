"""Pure functions over Polars/Arrow frames (indicators, ranking...) and their Ray Data wrappers."""
