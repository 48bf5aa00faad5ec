"""Benchmarks: ``coinray bench NAME --json`` prints one JSON object comparing against a named baseline.

Each module ``bench/<name>.py`` defines ``BASELINE`` (what it compares against, in words) and
``run(settings: CoinraySettings, *, quick: bool) -> dict`` returning one JSON-serialisable object
that includes ``"bench"``, ``"baseline"`` and the measured figures of both in the same run.
"""
