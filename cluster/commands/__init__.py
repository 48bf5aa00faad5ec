"""CLI command groups of the feature areas.

Each module here defines ``register(app: typer.Typer) -> None`` that adds its commands to the
``coinray`` app. Modules import heavy libraries inside the command functions, so ``coinray
--help`` stays fast.
"""
