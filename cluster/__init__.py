"""coinray foundation: settings, CLI, Ray bootstrap, storage, Redis bus and data schemas.

Nothing here holds trading or model logic; the other packages build on it.
"""
