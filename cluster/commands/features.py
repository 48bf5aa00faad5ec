"""``coinray features``: compute the feature set on Ray Data from the store (or from files) and write it.

From the store: read candles (Arrow), compute every feature with Ray Data, then write the
``features``, ``anomalies`` and ``confidence`` tables. With ``--candles FILE... --out OUT.parquet``
the store is not touched: features go to ``OUT.parquet``, anomalies to ``OUT.anomalies.parquet``
and the confidence matrix to ``OUT.confidence.parquet``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated, Any

import typer

logger = logging.getLogger(__name__)


def _split(values: list[str] | None) -> list[str]:
    """``["1h,4h", "1d"]`` -> ``["1h", "4h", "1d"]``."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _load_files(paths: list[Path], *, exchange: str, timeframes: list[str], symbols: list[str]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    from cluster.errors import DataError
    from cluster.importer import expand_paths
    from cluster.ohlcv_files import load_ohlcv_file

    tables = []
    for path in expand_paths(paths):
        result = load_ohlcv_file(path, exchange=exchange, run_id="features", now_ms=0)
        if result.error:
            raise DataError(result.error)
        for rej in result.rejects.to_pylist()[:20]:
            logger.warning("features: %s row %s rejected: %s (%s)", path.name, rej["row"], rej["rule"], rej["detail"])
        tables.append(result.candles)
    if not tables:
        raise DataError("no candle files found in the given paths")
    table = pa.concat_tables(tables)
    if timeframes:
        table = table.filter(pc.is_in(table.column("timeframe"), pa.array(timeframes)))
    if symbols:
        table = table.filter(pc.is_in(table.column("symbol"), pa.array(symbols)))
    return table


def _summary(features: Any, anomalies: Any, matrix: Any, timings: dict[str, float]) -> dict[str, Any]:
    import polars as pl

    from pipelines.confidence import composite_scores

    kinds = anomalies.group_by("kind").len().sort("kind") if anomalies.height else pl.DataFrame()
    top = composite_scores(matrix).head(10)
    return {
        "rows": features.num_rows,
        "columns": features.num_columns,
        "series": features.select(["symbol", "timeframe"]).group_by(["symbol", "timeframe"]).aggregate([]).num_rows,
        "anomalies": {r["kind"]: r["len"] for r in kinds.iter_rows(named=True)} if kinds.height else {},
        "composite": [{"symbol": r["symbol"], "timeframe": r["timeframe"], "score": round(r["score"], 4),
                       "confidence": round(r["confidence"], 4)} for r in top.iter_rows(named=True)],
        "timings_s": timings,
    }


def _derive(features: Any, cfg: Any, sentiment: Path | None) -> tuple[Any, Any]:
    import polars as pl

    from pipelines.anomalies import detect_anomalies
    from pipelines.confidence import confidence_matrix

    frame = pl.DataFrame(features)
    senti = pl.read_parquet(sentiment) if sentiment else None
    anomalies = detect_anomalies(frame, cfg.anomaly)
    matrix = confidence_matrix(frame, indicators=cfg.indicators, stats=cfg.stats, anomaly=cfg.anomaly,
                               cfg=cfg.confidence, sentiment=senti)
    return anomalies, matrix


def _sentiment_agg(ops: Any, timeframes: list[str], symbols: list[str] | None) -> Any | None:
    """``sentiment_agg`` rows of ``timeframes`` for one model version (the one with the most texts), or None.

    None when the store holds no sentiment for them (nothing is joined then).
    """
    import polars as pl

    from pipelines.sentiment.aggregation import agg_query, one_model_version

    agg = pl.DataFrame(ops.store.query_arrow(agg_query(ops.db, timeframes=timeframes, symbols=symbols)))
    if agg.height == 0:
        return None
    agg = one_model_version(agg)
    logger.info("features: joining sentiment_agg of %s", agg.get_column("model_version")[0])
    return agg.with_columns(pl.col("ts").cast(pl.Int64))


def join_stored_sentiment(ops: Any, feats: Any, *, timeframes: list[str], symbols: list[str] | None) -> Any:
    """Add the ``sent_*`` columns to ``feats`` (Arrow) from the store's ``sentiment_agg``, when it has any.

    Only texts with ``ts <=`` the candle close reach a candle (see
    :func:`pipelines.features.add_sentiment_features`); without stored sentiment ``feats`` comes back as is.
    """
    import polars as pl

    from pipelines.features import add_sentiment_features

    agg = _sentiment_agg(ops, timeframes, symbols)
    if agg is None:
        logger.info("features: no sentiment_agg rows for %s; no sentiment columns", ",".join(timeframes))
        return feats
    return add_sentiment_features(pl.DataFrame(feats), agg).to_arrow()


SIGNAL_STREAM = "coinray:signals"


def follow_candles(client: Any, engine: Any, *, exchange: str, maxlen: int, start_id: str = "$",
                   block_ms: int = 1_000, stop_after_s: float | None = None, idle_stop: bool = False) -> int:
    """Feed closed candles of ``coinray:candles:<exchange>`` to ``engine`` and publish its signals.

    Parameters
    ----------
    client:
        A ``redis.Redis`` client.
    engine:
        A :class:`pipelines.realtime_signals.SignalEngine` (warmed from history by the caller).
    exchange:
        Whose candle stream to follow.
    maxlen:
        Approximate MAXLEN of ``coinray:signals``.
    start_id:
        Stream id to read after (``$`` = only new entries, ``0`` = from the start).
    block_ms, stop_after_s, idle_stop:
        XREAD block time; stop after this many seconds (None = run until interrupted); stop at the
        first read that returns nothing (used to drain a stream).

    Returns
    -------
    int
        Signals published.
    """
    from cluster.bus import candle_stream

    key = candle_stream(exchange)
    last_id, published = start_id, 0
    deadline = None if stop_after_s is None else time.monotonic() + stop_after_s
    while deadline is None or time.monotonic() < deadline:
        reply = client.xread({key: last_id}, count=5_000, block=block_ms)
        if not reply:
            if idle_stop:
                break
            continue
        entries = reply[0][1]
        last_id = entries[-1][0]
        candles = []
        for _id, raw in entries:
            fields = {k.decode(): v.decode() for k, v in raw.items()}
            if fields.get("final", "1") != "1":
                continue  # only closed candles move the state
            candles.append(fields)
        signals = engine.on_candles(candles)
        if signals:
            pipe = client.pipeline(transaction=False)
            for sig in signals:
                pipe.xadd(SIGNAL_STREAM, sig.fields(), maxlen=maxlen, approximate=True)
            published += len(pipe.execute())
        logger.info("features: %d candles -> %d signals", len(candles), len(signals))
    return published


def _insert(ops: Any, name: str, table: Any, batch_rows: int) -> int:
    done = 0
    for start in range(0, table.num_rows, batch_rows):
        done += ops.store.insert_arrow(name, table.slice(start, batch_rows))
    return done


def _follow(settings: Any, table: Any, cfg: Any, *, exchange: str, seconds: float | None, quiet: bool) -> None:
    import polars as pl

    from cluster.bus import connect_bus
    from pipelines.realtime_signals import SignalEngine

    engine = SignalEngine(cfg.indicators, cfg.anomaly)
    engine.on_candles(pl.DataFrame(table).sort("ts").iter_rows(named=True), emit=False)
    logger.info("features: state warmed from %d candles; following coinray:candles:%s", table.num_rows, exchange)
    with connect_bus(settings) as bus:
        try:
            n = follow_candles(bus.client, engine, exchange=exchange, maxlen=settings.bus.stream_maxlen,
                               stop_after_s=seconds)
        except KeyboardInterrupt:
            n = -1
    if not quiet:
        print(f"published {n} signals to {SIGNAL_STREAM}" if n >= 0 else "stopped")


def register(app: typer.Typer) -> None:
    """Add ``coinray features``."""

    @app.command()
    def features(
        timeframes: Annotated[list[str] | None, typer.Option(
            "--timeframes", "-t", help="Timeframes to compute (repeat or comma-separate); default 1h,1d.")] = None,
        symbols: Annotated[list[str] | None, typer.Option(
            "--symbols", "-s", help="Symbols (BTC/USDT; repeat or comma-separate); default all stored.")] = None,
        exchange: Annotated[str, typer.Option(help="Exchange whose candles to read (or to label files with).")]
        = "binance",
        candles: Annotated[list[Path] | None, typer.Option(
            "--candles", help="Candle files/directories to use instead of the store (needs --out).")] = None,
        out: Annotated[Path | None, typer.Option(help="Parquet file for the features of --candles.")] = None,
        feature_config: Annotated[Path | None, typer.Option(
            "--feature-config", help="TOML with a [features] table; default: [features] of coinray.toml.")] = None,
        sentiment: Annotated[Path | None, typer.Option(
            help="Parquet with symbol, sentiment_score, sentiment_n for the sentiment factor.")] = None,
        with_sentiment: Annotated[bool, typer.Option(
            "--with-sentiment/--no-sentiment", help="Join the store's sentiment_agg as sent_* columns (no "
                                                   "look-ahead: texts up to each candle's close).")] = True,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
        follow: Annotated[bool, typer.Option(
            help="Afterwards, follow coinray:candles:<exchange> and publish real-time signals to coinray:signals "
                 "(Ctrl-C stops).")] = False,
        follow_seconds: Annotated[float | None, typer.Option(help="Stop following after this many seconds.")]
        = None,
    ) -> None:
        """Compute indicators, patterns, stats, anomalies and the confidence matrix on Ray Data."""
        import polars as pl
        import pyarrow.parquet as pq

        from cluster.demo import new_run_id
        from cluster.errors import ConfigError
        from cluster.logging import configure_logging
        from cluster.runtime import start_ray, stop_ray
        from cluster.schemas import parse_timeframe
        from cluster.settings import load_settings
        from pipelines.datasets import compute_features
        from pipelines.features import load_feature_config

        tfs, syms = _split(timeframes), _split(symbols)
        for tf in tfs:
            try:
                parse_timeframe(tf)
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        if bool(candles) != bool(out):
            raise ConfigError("--candles and --out go together (files in, Parquet out)")
        settings = load_settings()
        cfg = load_feature_config(feature_config) if feature_config else settings.features
        configure_logging("WARNING" if as_json else settings.log_level)
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round(now - clock, 3)
            clock = now

        ops = None
        if candles:
            table = _load_files(candles, exchange=exchange, timeframes=tfs, symbols=syms)
        else:
            import pyarrow as pa

            from cluster.store import open_store

            ops = open_store(settings)
            table = pa.concat_tables([ops.read_candles(timeframe=tf, exchange=exchange, symbols=syms or None)
                                      for tf in (tfs or ["1h", "1d"])])
        lap("read candles")
        try:
            started = start_ray(settings.ray)
            lap("start Ray")
            try:
                feats = compute_features(table, cfg)
            finally:
                if started:
                    stop_ray()
            lap("features on Ray Data")
            if ops is not None and with_sentiment:
                feats = join_stored_sentiment(ops, feats, timeframes=tfs or ["1h", "1d"], symbols=syms or None)
                lap("sentiment join")
            anomalies, matrix = _derive(feats, cfg, sentiment)
            lap("anomalies and confidence")
            now_ms = int(time.time() * 1000)
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(feats, out, compression="zstd")
                anomalies.write_parquet(out.with_suffix(".anomalies.parquet"))
                matrix.write_parquet(out.with_suffix(".confidence.parquet"))
            elif ops is not None:
                from cluster.store.schema_analytics import anomalies_rows, confidence_rows, features_rows

                batch = settings.store.insert_batch_rows
                _insert(ops, "features", features_rows(feats, computed_at_ms=now_ms), batch)
                _insert(ops, "anomalies", anomalies_rows(anomalies.to_arrow(), detected_at_ms=now_ms), batch)
                _insert(ops, "confidence", confidence_rows(matrix.to_arrow(), run_id=new_run_id(now_ms),
                                                           computed_at_ms=now_ms), batch)
            lap("write")
        finally:
            if ops is not None:
                ops.store.close()
        summary = _summary(feats, anomalies, matrix, timings)
        summary["output"] = str(out) if out else "store: features, anomalies, confidence"
        if as_json:
            print(json.dumps(summary))
        else:
            from rich.console import Console

            console = Console()
            console.print(f"{summary['rows']:,} rows x {summary['columns']} columns, {summary['series']} series "
                          f"-> {summary['output']}")
            console.print(f"anomalies: {summary['anomalies'] or 'none'}")
            console.print(pl.DataFrame(summary["composite"]) if summary["composite"] else "no confidence rows")
            console.print(f"timings: {timings}")
        if follow:
            _follow(settings, table, cfg, exchange=exchange, seconds=follow_seconds, quiet=as_json)
