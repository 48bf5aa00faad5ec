"""The ``coinray`` command line (typer)."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cluster.errors import CoinrayError, ConfigError
from cluster.logging import configure_logging
from cluster.settings import CoinraySettings, load_settings, masked_settings

logger = logging.getLogger(__name__)
console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="coinray",
    help="coinray: crypto market data in; ranked, explainable recommendations out. "
    "Embedded defaults (local Ray, chdb, a managed Redis server); settings from coinray.toml and COINRAY_* env.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Load market data into the store.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


def _settings(quiet: bool = False) -> CoinraySettings:
    settings = load_settings()
    configure_logging("WARNING" if quiet else settings.log_level)
    return settings


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"coinray {version('coinray')}")
        raise typer.Exit()


@app.callback()
def _root(
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file (default ./coinray.toml).",
                                                envvar="COINRAY_CONFIG")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Global options."""
    if config is not None:
        os.environ["COINRAY_CONFIG"] = str(config)


@app.command()
def demo(
    data: Annotated[
        Path | None, typer.Option(help="Directory of OHLCV files to use instead of the bundled sample.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of tables.")] = False,
) -> None:
    """Run the whole loop offline on bundled real data: import, publish, features, rank, report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cluster.demo import run_demo

    settings = _settings(quiet=True)
    start = time.perf_counter()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(),
                  console=err_console, disable=as_json, transient=False) as progress:
        result = run_demo(settings, data_dir=data, progress=progress)
    elapsed = time.perf_counter() - start
    if as_json:
        print(json.dumps({
            "run_id": result.run_id, "report_json": str(result.json_path), "report_md": str(result.md_path),
            "elapsed_s": round(elapsed, 2), "timings_s": result.timings_s, "import": result.import_summary,
            "published": result.published, "top": [t["symbol"] for t in result.report["top"]],
        }))
        return
    rep = result.report
    table = Table(title=f"coinray top {len(rep['top'])} · {rep['timeframe']} · as of {rep['as_of']}")
    for col, just in (("rank", "right"), ("symbol", "left"), ("score", "right"), ("30-bar return", "right"),
                      ("trend", "right"), ("volatility", "right"), ("top contributions", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for item in rep["top"]:
        f = item["factors"]
        table.add_row(str(item["rank"]), item["symbol"], f"{item['score']:+.2f}", f"{f['momentum'] * 100:+.1f}%",
                      f"{f['trend'] * 100:+.1f}%", f"{f['volatility'] * 100:.0f}%",
                      ", ".join(f"{k} {v:+.2f}" for k, v in sorted(item["contributions"].items(),
                                                                     key=lambda kv: -abs(kv[1]))[:2]))
    console.print(table)
    imp = result.import_summary
    console.print(f"imported {imp['rows_ingested']:,} candles from {imp['files']} files "
                  f"({imp['rows_rejected']} rejected), published {result.published:,} to Redis")
    console.print(f"reports: {result.md_path}\n         {result.json_path}")
    html = result.md_path.with_suffix(".html")
    if html.exists():
        console.print(f"         {html}")
    console.print(f"done in {elapsed:.1f} s")


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    skip: Annotated[list[str] | None, typer.Option(help="Skip a component: data dir|store|redis|ray|models.")] = None,
) -> None:
    """Print the resolved configuration (secrets masked) and check Ray, store, Redis, models and data dir."""
    from cluster.doctor import run_checks

    settings = _settings(quiet=True)
    checks = run_checks(settings, skip=frozenset(skip or ()))
    ok = all(c.ok for c in checks)
    if as_json:
        print(json.dumps({"config": masked_settings(settings), "checks": [c.as_dict() for c in checks], "ok": ok}))
    else:
        console.print_json(json.dumps(masked_settings(settings)))
        table = Table(title="coinray doctor")
        table.add_column("component")
        table.add_column("status")
        table.add_column("detail")
        table.add_column("fix")
        for c in checks:
            table.add_row(c.component, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail, c.fix)
        console.print(table)
    raise typer.Exit(0 if ok else 1)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="ClickHouse SQL; tables resolve in the coinray database.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json | csv")] = "table",
) -> None:
    """Run a query against the configured store and print the result."""
    from cluster.store import open_store

    if fmt not in ("table", "json", "csv"):
        raise ConfigError(f"--format must be table, json or csv, not {fmt!r}")
    settings = _settings(quiet=True)
    ops = open_store(settings)
    try:
        result = ops.store.query_arrow(query)
    finally:
        ops.store.close()
    rows = result.to_pylist()
    if fmt == "json":
        print(json.dumps(rows, default=str))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(result.column_names)
        writer.writerows([[_cell(r[c]) for c in result.column_names] for r in rows])
        sys.stdout.write(buf.getvalue())
    else:
        table = Table(show_lines=False)
        for name in result.column_names:
            table.add_column(name)
        for r in rows:
            table.add_row(*(_cell(r[c]) for c in result.column_names))
        console.print(table)
        console.print(f"{len(rows)} row(s)")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


@ingest_app.command("file")
def ingest_file(
    paths: Annotated[list[Path], typer.Argument(help="CSV/Parquet/Feather files or directories of them.")],
    exchange: Annotated[str, typer.Option(help="Exchange the data came from.")] = "binance",
    timeframe: Annotated[str | None, typer.Option(help="Timeframe when neither file name nor spacing tells.")] = None,
    symbol: Annotated[
        str | None, typer.Option(help="Symbol (BTC/USDT) when the file has no symbol column or name.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 when any row is rejected.")] = False,
) -> None:
    """Import OHLCV files; bad rows are rejected and recorded in data_quality, never silently dropped."""
    from cluster.demo import new_run_id
    from cluster.importer import import_files
    from cluster.schemas import parse_timeframe
    from cluster.store import open_store

    if timeframe is not None:
        try:
            parse_timeframe(timeframe)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    settings = _settings(quiet=as_json)
    now_ms = int(time.time() * 1000)
    run_id = new_run_id(now_ms)
    ops = open_store(settings)
    try:
        summary = import_files(paths, ops, exchange=exchange, run_id=run_id, now_ms=now_ms,
                               timeframe=timeframe, symbol=symbol)
    finally:
        ops.store.close()
    if as_json:
        print(json.dumps(summary.as_json()))
    else:
        table = Table(title=f"ingest file · run {run_id}")
        for col in ("file", "read", "ingested", "rejected", "note"):
            table.add_column(col)
        for r in summary.results:
            table.add_row(Path(r.file).name, str(r.rows_read), str(r.candles.num_rows), str(r.rows_rejected),
                          r.error or "")
        console.print(table)
        for r in summary.results:
            shown = r.rejects.slice(0, 10).to_pylist()
            for rej in shown:
                if rej["row"]:
                    console.print(f"  rejected {Path(r.file).name} row {rej['row']}: {rej['rule']} ({rej['detail']})")
            if r.rejects.num_rows > len(shown):
                console.print(f"  … {r.rejects.num_rows - len(shown)} more in data_quality (run_id {run_id})")
        console.print(f"{summary.rows_ingested:,} rows ingested, {summary.rows_rejected:,} rejected, "
                      f"symbols: {', '.join(sorted(summary.symbols)) or '-'}")
    if summary.failed_files or (strict and summary.rows_rejected):
        raise typer.Exit(1)


def _register_commands() -> None:
    """Add the command groups of every module in :mod:`cluster.commands`."""
    import importlib
    import pkgutil

    import cluster.commands as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        importlib.import_module(f"cluster.commands.{info.name}").register(app)


_register_commands()


def main() -> None:
    """Console-script entry point: run the app, turning coinray errors into clear messages."""
    try:
        app()
    except ConfigError as exc:
        err_console.print(f"[red]configuration error:[/] {exc}")
        sys.exit(2)
    except CoinrayError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    # ``python -m cluster.cli``: run the importable module's app, because command modules add their
    # subcommands to groups imported from ``cluster.cli`` (e.g. ``ingest_app``), not to ``__main__``'s
    from cluster.cli import main as _main

    _main()
