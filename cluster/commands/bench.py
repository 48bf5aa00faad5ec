"""``coinray bench NAME``: run one benchmark from :mod:`bench` and print one JSON object."""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Annotated

import typer


def available() -> list[str]:
    """Names of the benchmarks in the ``bench`` package."""
    import bench

    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def register(app: typer.Typer) -> None:
    """Add ``coinray bench``."""

    @app.command()
    def bench(
        name: Annotated[str, typer.Argument(help="Benchmark name; `coinray bench list` lists them.")],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print one JSON object (the only output format).")
        ] = True,
        quick: Annotated[bool, typer.Option(help="Smaller inputs, for smoke runs.")] = False,
    ) -> None:
        """Run a benchmark against its named baseline, in the same run, and print one JSON object."""
        from cluster.errors import ConfigError
        from cluster.logging import configure_logging
        from cluster.settings import load_settings

        names = available()
        if name == "list":
            print(json.dumps({"benchmarks": names}))
            return
        if name not in names:
            raise ConfigError(f"unknown benchmark {name!r}; available: {', '.join(names) or 'none'}")
        settings = load_settings()
        configure_logging("WARNING")
        module = importlib.import_module(f"bench.{name}")
        print(json.dumps(module.run(settings, quick=quick)))
