"""``coinray ingest backfill|stream``: REST backfill as Ray tasks and live WebSocket streams as Ray actors."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _urls(values: list[str] | None) -> dict[str, str]:
    from cluster.errors import ConfigError

    out = {}
    for item in values or []:
        if "=" not in item:
            raise ConfigError(f"--url takes exchange=http://host:port, not {item!r}")
        name, url = item.split("=", 1)
        out[name.strip()] = url.strip().rstrip("/")
    return out


def symbols_for(exchange: str, symbols: list[str]) -> tuple[str, ...]:
    """Symbols for one exchange from ``BTC/USDT`` (all exchanges) or ``coinbase:BTC/USD`` items.

    >>> symbols_for("coinbase", ["BTC/USDT", "coinbase:BTC/USD", "binance:ETH/USDT"])
    ('BTC/USDT', 'BTC/USD')
    """
    out = []
    for item in symbols:
        prefix, sep, rest = item.partition(":")
        if not sep:
            out.append(item)
        elif prefix == exchange:
            out.append(rest)
    return tuple(out)


def keys_from_env(exchange: str, env: dict[str, str]) -> dict[str, Any]:
    """``api_key``/``api_secret`` for ``exchange`` from ``<EXCHANGE>_API_KEY``/``<EXCHANGE>_API_SECRET`` (or none).

    Public market data needs no keys; giving only one of the two is a configuration error.

    >>> keys_from_env("kraken", {})
    {}
    >>> sorted(keys_from_env("coinbaseexchange", {"COINBASEEXCHANGE_API_KEY": "k",
    ...                                            "COINBASEEXCHANGE_API_SECRET": "s"}))
    ['api_key', 'api_secret']
    """
    from pydantic import SecretStr

    from cluster.errors import ConfigError

    prefix = "".join(c if c.isalnum() else "_" for c in exchange).upper()
    key, secret = env.get(f"{prefix}_API_KEY", ""), env.get(f"{prefix}_API_SECRET", "")
    if bool(key) != bool(secret):
        raise ConfigError(f"{exchange}: set both {prefix}_API_KEY and {prefix}_API_SECRET, or neither "
                          "(public market data needs none)")
    return {"api_key": SecretStr(key), "api_secret": SecretStr(secret)} if key else {}


def register(app: typer.Typer) -> None:
    """Add ``coinray ingest backfill`` and ``coinray ingest stream`` to the ``ingest`` group."""
    from cluster.cli import ingest_app

    @ingest_app.command("backfill")
    def backfill(
        exchange: Annotated[str, typer.Option(help="binance | coinbase")] = "binance",
        symbols: Annotated[str, typer.Option(help="Comma-separated ccxt symbols.")] = "BTC/USDT",
        timeframes: Annotated[str, typer.Option(help="Comma-separated timeframes (1m,1h,...).")] = "1m",
        since: Annotated[str, typer.Option(help="First day wanted, YYYY-MM-DD (UTC).")] = "2024-01-01",
        until: Annotated[str | None, typer.Option(help="Stop before this date; default now.")] = None,
        url: Annotated[list[str] | None,
                       typer.Option(help="REST override exchange=http://host:port (simulator).")] = None,
        parallelism: Annotated[int, typer.Option(help="Concurrent (symbol, timeframe) tasks.")] = 4,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    ) -> None:
        """Backfill OHLCV from the exchange's REST API: parallel, paginated, resumable, rate-limited."""
        import json
        import time

        from pydantic import ValidationError
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from actors.backfill import run_backfill
        from actors.backfill_core import BackfillConfig, BackfillResult, parse_date_ms
        from actors.store_writer import start_store_writer
        from cluster.errors import ConfigError
        from cluster.logging import configure_logging
        from cluster.runtime import start_ray, stop_ray
        from cluster.settings import load_settings

        settings = load_settings()
        configure_logging("WARNING" if as_json else settings.log_level)
        try:
            cfg = BackfillConfig(exchange=exchange, symbols=tuple(_split(symbols)),
                                 timeframes=tuple(_split(timeframes)), since_ms=parse_date_ms(since),
                                 until_ms=parse_date_ms(until) if until else None, parallelism=parallelism,
                                 rest_url=_urls(url).get(exchange))
        except ValidationError as exc:
            raise ConfigError(f"invalid backfill request: {exc.errors()[0]['msg']}") from exc
        started = start_ray(settings.ray)
        t0 = time.perf_counter()
        try:
            store = start_store_writer(settings)
            console = Console(stderr=True)
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, disable=as_json) as progress:
                bar = progress.add_task(f"backfill {exchange}", total=len(cfg.symbols) * len(cfg.timeframes))

                def done(result: BackfillResult) -> None:
                    progress.advance(bar)
                    progress.console.print(f"  {result.symbol} {result.timeframe}: {result.rows:,} candles in "
                                           f"{result.pages} page(s), {result.retries} retries"
                                           f"{' (resumed)' if result.resumed else ''}")

                results = run_backfill(cfg, store, on_done=done)
        finally:
            if started:
                stop_ray()
        summary: dict[str, Any] = {
            "exchange": exchange, "elapsed_s": round(time.perf_counter() - t0, 2),
            "rows": sum(r.rows for r in results), "retries": sum(r.retries for r in results),
            "jobs": [{"symbol": r.symbol, "timeframe": r.timeframe, "rows": r.rows, "pages": r.pages,
                      "retries": r.retries, "start_ms": r.start_ms, "last_ts": r.last_ts, "resumed": r.resumed}
                     for r in results],
        }
        if as_json:
            print(json.dumps(summary))
        else:
            Console().print(f"{summary['rows']:,} candles stored in {summary['elapsed_s']} s")

    @ingest_app.command("stream")
    def stream(
        exchange: Annotated[str, typer.Option(help="Comma-separated exchanges: binance, coinbase or any ccxt.pro "
                                                   "id (kraken, bybit, ...).")] = "binance",
        symbols: Annotated[str, typer.Option(help="Comma-separated symbols; prefix exchange: to restrict.")]
        = "BTC/USDT",
        url: Annotated[list[str] | None, typer.Option(help="REST override exchange=http://host:port; the WS URL "
                                                           "is the same host with ws://.")] = None,
        duration: Annotated[float | None, typer.Option(help="Stop after this many seconds; default Ctrl-C.")] = None,
        channels: Annotated[str, typer.Option(help="Comma-separated channels: trades (always), klines (exchange "
                                                   "1m klines, cross-checked against the trade-built candles), "
                                                   "ticker (newest per symbol in Redis).")] = "trades,klines,ticker",
        transport: Annotated[str, typer.Option(help="auto (native WebSocket where the venue has raw parsers) | "
                                                    "native | ccxt (ccxt.pro watch_*).")] = "auto",
        venue: Annotated[str, typer.Option(help="auto (coinray's venue module where one exists, else the generic "
                                                "ccxt venue) | generic (always; --exchange is then the ccxt.pro "
                                                "id, e.g. coinbaseexchange).")] = "auto",
        as_json: Annotated[bool, typer.Option("--json", help="Print the final snapshots as JSON.")] = False,
    ) -> None:
        """Stream trades (and klines/tickers) into one ExchangeStream actor per exchange: 1m candles, gaps, Redis."""
        import json
        import os
        import time

        import ray
        from pydantic import ValidationError
        from rich.console import Console
        from rich.live import Live

        from actors.exchange_stream import ExchangeStream
        from actors.exchange_stream_core import StreamConfig
        from actors.exchanges import Channel, venue_for
        from actors.store_writer import start_store_writer
        from cluster.bus import ManagedRedis
        from cluster.errors import ConfigError
        from cluster.logging import configure_logging
        from cluster.runtime import start_ray, stop_ray
        from cluster.settings import load_settings

        settings = load_settings()
        configure_logging("WARNING" if as_json else settings.log_level)
        overrides = _urls(url)
        items = _split(symbols)
        configs = []
        try:
            wanted = frozenset({Channel.TRADES, *(Channel(c) for c in _split(channels))})
            for name in _split(exchange):
                rest = overrides.get(name)
                configs.append(StreamConfig(exchange=name, symbols=symbols_for(name, items), rest_url=rest,
                                            ws_url=rest.replace("http", "ws", 1) if rest else None, max_retries=None,
                                            channels=wanted, transport=transport, venue=venue,  # type: ignore[arg-type]
                                            **keys_from_env(name, dict(os.environ))))
                venue_for(name, generic=venue == "generic")  # unknown ids fail here, listing close matches
        except (ValueError, ValidationError) as exc:
            raise ConfigError(f"invalid stream request: {exc}; channels: {', '.join(c.value for c in Channel)}; "
                              "transports: auto, native, ccxt; venues: auto, generic") from exc
        managed = None
        if settings.redis_url is not None:
            redis_url = settings.redis_url.get_secret_value()
        else:
            managed = ManagedRedis(settings.bus_dir, settings.bus)
            redis_url = managed.start()
        started = start_ray(settings.ray)
        actors: dict[str, Any] = {}
        snapshots: dict[str, Any] = {}
        try:
            store = start_store_writer(settings)
            for cfg in configs:
                actors[cfg.exchange] = ExchangeStream.options(  # type: ignore[attr-defined]
                    name=f"stream:{cfg.exchange}", get_if_exists=True).remote(
                    cfg, redis_url, store, settings.bus.stream_maxlen)
            deadline = time.monotonic() + duration if duration else None
            # --json prints one object at the end, so no live table then
            view = contextlib.nullcontext() if as_json else Live(console=Console(stderr=True), refresh_per_second=1)
            with view as live:
                while deadline is None or time.monotonic() < deadline:
                    snapshots = dict(zip(actors, ray.get([a.snapshot.remote() for a in actors.values()]), strict=True))
                    if live is not None:
                        live.update(_table(snapshots))
                    time.sleep(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            for handle in actors.values():
                ray.get(handle.stop.remote())
            if started:
                stop_ray()
            if managed is not None:
                managed.stop()
        if as_json:
            print(json.dumps(snapshots, default=str))

    def _table(snapshots: dict[str, Any]) -> Any:
        from rich.table import Table

        table = Table(title="coinray ingest stream")
        for col in ("exchange", "symbol", "msgs", "dups", "reordered", "open", "last trade", "connected",
                    "kline checks (mismatch)"):
            table.add_column(col)
        for name, snap in snapshots.items():
            checks = f"{snap.get('kline_checked', 0)} ({snap.get('kline_mismatches', 0)})"
            for symbol, st in snap["symbols"].items():
                table.add_row(name, symbol, str(st["msgs"]), str(st["duplicates"]), str(st["reordered"]),
                              str(st["open_candles"]), str(st["last_id"] if st["last_id"] is not None
                                                           else st["last_ts"]), str(st["connected"]), checks)
        return table
