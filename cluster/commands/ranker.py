"""``coinray serve``, ``coinray rank``, ``coinray report`` and ``coinray evaluate``: the ensemble ranker's commands."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, cast

import typer

logger = logging.getLogger(__name__)



def _settings() -> Any:
    from cluster.logging import configure_logging
    from cluster.settings import load_settings

    settings = load_settings()
    configure_logging("WARNING")
    return settings


def _check_timeframe(timeframe: str) -> None:
    from cluster.errors import ConfigError
    from cluster.settings import TIMEFRAMES

    if timeframe not in TIMEFRAMES:
        raise ConfigError(f"unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}")


def _ranker_config(timeframe: str, top: int, horizon: int | None) -> Any:
    from pipelines.recommend import ranker_config_for

    cfg = ranker_config_for(timeframe, top_n=top)
    if horizon is None:
        return cfg
    return cfg.model_copy(update={"ensemble": cfg.ensemble.model_copy(update={"horizon_bars": horizon})})


def _load_features(settings: Any, candles: list[Path] | None, timeframe: str, exchange: str,
                   *, with_sentiment: bool = False) -> tuple[Any, Any]:
    """Features from candle files, or from the store (opened directly: run outside a Ray session).

    Returns the features and, from the store when ``with_sentiment``, its ``sentiment_agg`` buckets
    (None when there are none).
    """
    import polars as pl

    from pipelines.features import build_features
    from serve.ranker_core import load_candle_files

    agg = None
    if candles:
        frame = load_candle_files(candles, exchange=exchange).filter(pl.col("timeframe") == timeframe)
    else:
        from cluster.errors import DataError
        from cluster.store import open_store
        from pipelines.sentiment.aggregation import agg_query

        ops = open_store(settings)
        try:
            frame = cast(pl.DataFrame, pl.from_arrow(ops.read_candles(timeframe=timeframe, exchange=exchange)))
            if with_sentiment:
                agg = pl.DataFrame(pl.from_arrow(ops.store.query_arrow(agg_query(ops.db))))
        finally:
            ops.store.close()
        if frame.height == 0:
            raise DataError(f"the store holds no {timeframe} candles on {exchange}; run `coinray demo`, "
                            "`coinray ingest file`, or pass --candles")
    return build_features(frame), (agg if agg is not None and agg.height else None)  # type: ignore[arg-type]


SENTIMENT_HELP = "Use the store's sentiment_agg buckets in the ensemble and the confidence matrix."


def register(app: typer.Typer) -> None:
    """Add the ranker commands to ``app``."""

    @app.command()
    def evaluate(
        candles: Annotated[list[Path], typer.Option("--candles", help="OHLCV files or directories (import format).")],
        timeframe: Annotated[str, typer.Option(help="Timeframe to evaluate.")] = "1h",
        top: Annotated[int, typer.Option(min=1, help="Symbols held after each rebalance.")] = 3,
        fee_bps: Annotated[float, typer.Option("--fee-bps", min=0, help="Fee per unit turnover (bps).")] = 10.0,
        horizon: Annotated[int | None, typer.Option(min=1, help="Label horizon, bars (default per timeframe).")] = None,
        rebalance_bars: Annotated[int | None, typer.Option(min=1, help="Bars between rebalances (horizon).")] = None,
        retrain_bars: Annotated[int | None, typer.Option(min=1, help="Bars between refits (7 x rebalance).")] = None,
        min_train_bars: Annotated[int | None, typer.Option(min=50, help="Bars before the first rebalance.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Walk-forward, out-of-sample evaluation vs equal-weight buy-and-hold and 20-bar momentum Top-N."""
        import polars as pl
        from rich.console import Console
        from rich.table import Table

        from pipelines.features import build_features
        from pipelines.models.ensemble import EnsembleConfig
        from pipelines.models.evaluate import EvalConfig, evaluate_walk_forward
        from pipelines.recommend import DEFAULT_HORIZON_BARS
        from serve.ranker_core import load_candle_files

        _settings()
        _check_timeframe(timeframe)
        frame = load_candle_files(candles, exchange="file").filter(pl.col("timeframe") == timeframe)
        cfg = EvalConfig(top_n=top, fee_bps=fee_bps, rebalance_bars=rebalance_bars, retrain_bars=retrain_bars,
                         min_train_bars=min_train_bars,
                         ensemble=EnsembleConfig(horizon_bars=horizon or DEFAULT_HORIZON_BARS[timeframe]))
        result = evaluate_walk_forward(build_features(frame), timeframe=timeframe, cfg=cfg)
        if as_json:
            print(json.dumps(result))
            return
        table = Table(title=f"walk-forward {timeframe} · top {top} · {fee_bps:g} bps · "
                            f"{result['n_rebalances']} rebalances")
        for col in ("strategy", "Sharpe", "return %"):
            table.add_column(col)
        for name, key in (("ensemble (out-of-sample)", "oos"), ("equal-weight buy-and-hold", "equal_weight"),
                          ("20-bar momentum Top-N", "momentum")):
            table.add_row(name, f"{result[f'{key}_sharpe']:+.2f}", f"{result[f'{key}_return_pct']:+.2f}")
        console = Console()
        console.print(table)
        console.print(f"turnover {result['turnover']:.2f}/rebalance · hit rate {result['hit_rate']:.2%} · "
                      f"IC {result['ic']}")

    @app.command()
    def rank(
        timeframe: Annotated[str, typer.Option(help="Timeframe to rank.")] = "1d",
        top: Annotated[int, typer.Option(min=1, max=50, help="Buy recommendations wanted.")] = 5,
        exchange: Annotated[str, typer.Option(help="Exchange of the stored candles.")] = "binance",
        candles: Annotated[list[Path] | None, typer.Option("--candles", help="OHLCV files, not the store.")] = None,
        horizon: Annotated[int | None, typer.Option(min=1, help="Label horizon in bars.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        with_sentiment: Annotated[bool, typer.Option("--sentiment/--no-sentiment", help=SENTIMENT_HELP)] = True,
    ) -> None:
        """Rank the universe with the ensemble and print the Top-N buy recommendations with rationale."""
        from rich.console import Console

        from pipelines.recommend import rank_universe
        from pipelines.sentiment.aggregation import one_model_version, ranker_sentiment
        from serve.ranker_core import ranked_item, recommendation_dict

        settings = _settings()
        _check_timeframe(timeframe)
        features, agg = _load_features(settings, candles, timeframe, exchange, with_sentiment=with_sentiment)
        sentiment = ranker_sentiment(one_model_version(agg), bar_timeframe=timeframe) if agg is not None else None
        ranking = rank_universe(features, timeframe=timeframe, cfg=_ranker_config(timeframe, top, horizon),
                                sentiment=sentiment)
        recs = [ranked_item(r) for r in ranking.ranked[:top]]
        if as_json:
            print(json.dumps({"timeframe": timeframe, "as_of_ts": ranking.as_of_ts, "top": recs,
                              "recommendations": [recommendation_dict(r) for r in ranking.recommendations],
                              "excluded": ranking.excluded, "notes": ranking.notes}))
            return
        console = Console()
        for item in recs:
            console.print(f"[bold]#{item['rank']} {item['symbol']}[/] {item['rationale']}")
        for r in ranking.recommendations:
            console.print(f"BUY {r.symbol} @ {r.entry:,.6g} stop {r.stop:,.6g} target {r.target:,.6g} "
                          f"P(target first) {r.p_up:.3f}")
        for note in ranking.notes:
            console.print(f"note: {note}")

    @app.command()
    def report(
        timeframe: Annotated[str, typer.Option(help="Timeframe to rank.")] = "1d",
        top: Annotated[int, typer.Option(min=1, max=50, help="Entries in the report.")] = 5,
        exchange: Annotated[str, typer.Option(help="Exchange of the stored candles.")] = "binance",
        candles: Annotated[list[Path] | None, typer.Option("--candles", help="OHLCV files, not the store.")] = None,
        symbols: Annotated[list[str] | None, typer.Option("--symbol", help="Universe (repeat); default all.")] = None,
        formats: Annotated[str, typer.Option(help="Comma-separated: json,md,html.")] = "json,md,html",
        horizon: Annotated[int | None, typer.Option(min=1, help="Label horizon in bars.")] = None,
        with_sentiment: Annotated[bool, typer.Option("--sentiment/--no-sentiment", help=SENTIMENT_HELP)] = True,
    ) -> None:
        """Build a report now: files under reports/<run_id>/ and rows in the rankings table."""
        from serve.ranker_core import RankerCore, RankerServiceConfig
        from serve.scheduler import run_report
        from serve.schemas import ReportRequest

        settings = _settings()
        _check_timeframe(timeframe)
        features, agg = _load_features(settings, candles, timeframe, exchange, with_sentiment=with_sentiment)
        core = RankerCore(features, RankerServiceConfig(timeframes=(timeframe,),
                                                        ranker=_ranker_config(timeframe, top, horizon)),
                          reports_dir=settings.reports_dir, sentiment_agg=agg)
        request = ReportRequest(timeframe=timeframe, exchange=exchange, top=top, symbols=symbols,
                                formats=[f.strip() for f in formats.split(",") if f.strip()])  # type: ignore[misc]
        if candles:
            result = run_report(core, request, sink=None, name="cli")
        else:
            from cluster.store import open_store

            ops = open_store(settings)
            try:
                result = run_report(core, request, sink=ops.insert_rankings, name="cli")
            finally:
                ops.store.close()
        print(json.dumps(result))

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="HTTP host.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
        candles: Annotated[list[Path] | None, typer.Option("--candles", help="OHLCV files, not the store.")] = None,
        timeframe: Annotated[list[str] | None, typer.Option("--timeframe", help="Timeframes to rank (repeat).")] = None,
        schedule: Annotated[list[str] | None,
                            typer.Option(help="NAME=CRON report schedule (repeat), e.g. 'daily=5 0 * * *'.")] = None,
        exchange: Annotated[str, typer.Option(help="Exchange label.")] = "binance",
    ) -> None:
        """Run the API (Ray Serve) locally until Ctrl-C: rankings, symbol scores, reports, /docs, /metrics."""
        import os
        import signal
        import time

        from pydantic import SecretStr
        from ray import serve as ray_serve

        from cluster.runtime import start_ray, stop_ray
        from serve.app import AppArgs, build_app
        from serve.ranker_core import RankerServiceConfig
        from serve.scheduler import ReportSchedule

        settings = _settings()
        tfs = tuple(timeframe or ["1d"])
        for tf in tfs:
            _check_timeframe(tf)
        token = os.environ.get("COINRAY_API_TOKEN")
        schedules = [ReportSchedule(name=s.split("=", 1)[0], cron=s.split("=", 1)[1]) for s in schedule or []]
        args = AppArgs(candles=[str(p) for p in candles or []], exchange=exchange,
                       service=RankerServiceConfig(timeframes=tfs, ranker=_ranker_config(tfs[0], 5, None)),
                       api_token=SecretStr(token) if token else None,
                       reports_dir=str(settings.reports_dir), schedules=schedules,
                       store_namespace=settings.ray.namespace)
        def terminate(*_: object) -> None:
            """`kill` stops as cleanly as Ctrl-C; a second TERM must not interrupt the clean-up."""
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            raise KeyboardInterrupt

        started = start_ray(settings.ray)
        # after ray.init, whose core worker installs a SIGTERM handler that aborts the process (and not an
        # Event-setting handler: a second signal would re-enter Event.set and deadlock)
        signal.signal(signal.SIGTERM, terminate)
        store = None  # the handle keeps the (non-detached) store actor alive while the API runs
        try:
            if not candles:
                from actors.store_writer import start_store_writer

                store = start_store_writer(settings)
            ray_serve.start(http_options={"host": host, "port": port})
            ray_serve.run(build_app(args), name="coinray", route_prefix="/")
            typer.echo(f"coinray API on http://{host}:{port} (docs at /docs); Ctrl-C to stop")
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            ray_serve.shutdown()
            del store
            if started:
                stop_ray()

