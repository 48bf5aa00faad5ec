"""``coinray demo``: the whole offline loop on bundled real data and embedded defaults.

Local Ray -> import bundled Binance files into the store (owned by the ``StoreWriter`` actor)
-> publish closed candles to the Redis bus -> features on Ray Data (indicators, patterns,
statistics, confidence inputs) -> ensemble ranking (statistical + XGBoost, calibrated) ->
``reports/<run_id>/report.{md,json,html}``.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from cluster.bus import connect_bus
from cluster.importer import expand_paths, import_files
from cluster.runtime import start_ray, stop_ray
from cluster.schemas import RANKINGS
from cluster.settings import CoinraySettings

logger = logging.getLogger(__name__)


def sample_data_dir() -> Path:
    """The bundled sample OHLCV directory (shipped inside the package)."""
    return Path(str(resources.files("cluster") / "sample_data" / "binance_spot_2024"))


def new_run_id(now_ms: int) -> str:
    """A sortable, unique run id: ``YYYYmmddTHHMMSSZ-xxxxxx``."""
    stamp = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


@dataclass
class DemoResult:
    """What a demo run produced."""

    run_id: str
    report: dict[str, Any]
    json_path: Path
    md_path: Path
    timings_s: dict[str, float] = field(default_factory=dict)
    import_summary: dict[str, Any] = field(default_factory=dict)
    published: int = 0


class _ActorSink:
    """Adapts the ``StoreWriter`` actor handle to the importer's sink protocol."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def insert_candles(self, table: pa.Table) -> int:
        import ray

        return int(ray.get(self._handle.insert_candles.remote(table)))

    def insert_data_quality(self, table: pa.Table) -> int:
        import ray

        return int(ray.get(self._handle.insert_data_quality.remote(table)))


class Steps:
    """Times named steps and reports them to an optional progress callback."""

    def __init__(self, progress: Any | None) -> None:
        self.timings: dict[str, float] = {}
        self._progress: Any = progress

    def run(self, name: str, fn: Any, *args: Any, total: int | None = None, **kwargs: Any) -> Any:
        """Run ``fn`` as step ``name``; with ``total``, ``fn`` gets an ``on_file`` callback that advances a bar."""
        task = self._progress.add_task(name, total=total) if self._progress else None
        if total is not None:
            kwargs["on_file"] = (lambda _r: self._progress.advance(task)) if task is not None else None
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.timings[name] = round(time.perf_counter() - start, 3)
            if self._progress is not None and task is not None and total is None:
                self._progress.update(task, total=1, completed=1)


def ranking_table(ranking: Any, *, run_id: str, exchange: str, now_ms: int) -> pa.Table:
    """The ``rankings`` rows of a :class:`~pipelines.ranking.Ranking`."""
    n = len(ranking.ranked)
    return pa.table(
        {
            "run_id": [run_id] * n,
            "ts": pa.array([ranking.as_of_ts] * n, pa.int64()),
            "exchange": [exchange] * n,
            "timeframe": [ranking.timeframe] * n,
            "symbol": [r.symbol for r in ranking.ranked],
            "rank": pa.array([r.rank for r in ranking.ranked], pa.int32()),
            "score": [r.score for r in ranking.ranked],
            "factors": pa.array([list(r.factors.items()) for r in ranking.ranked],
                                pa.map_(pa.string(), pa.float64())),
            "contributions": pa.array([list(r.contributions.items()) for r in ranking.ranked],
                                      pa.map_(pa.string(), pa.float64())),
            "rationale": [r.rationale for r in ranking.ranked],
            "created_at": pa.array([now_ms] * n, pa.timestamp("ms", tz="UTC")),
        },
        schema=RANKINGS,
    )


def confidence_at(features: pl.DataFrame, settings: CoinraySettings, *, as_of_ts: int) -> pl.DataFrame:
    """The confidence matrix of the demo timeframe at the ranking's as-of bar (docs/features.md)."""
    from pipelines.confidence import confidence_matrix

    fc = settings.features
    frame = features.filter((pl.col("timeframe") == settings.demo.timeframe) & (pl.col("ts") <= as_of_ts))
    return confidence_matrix(frame, indicators=fc.indicators, stats=fc.stats, anomaly=fc.anomaly, cfg=fc.confidence)


def run_demo(settings: CoinraySettings, *, data_dir: Path | None = None, progress: Any | None = None) -> DemoResult:
    """Run the demo end to end and return where the reports went.

    Parameters
    ----------
    settings:
        Resolved settings; ``settings.demo`` picks the exchange label, timeframe and Top-N.
    data_dir:
        OHLCV files to import instead of the bundled sample.
    progress:
        A ``rich.progress.Progress`` to show steps on, or None.
    """
    import ray

    from actors.store_writer import start_store_writer
    from pipelines.confidence import report_section
    from pipelines.datasets import compute_features
    from pipelines.recommend import rank_universe, ranker_config_for
    from serve.reports import DataSummary, build_ensemble_report, write_report_files

    now_ms = int(time.time() * 1000)
    run_id = new_run_id(now_ms)
    cfg = settings.demo
    steps = Steps(progress)
    started_ray = steps.run("start Ray", start_ray, settings.ray)
    try:
        store = steps.run("open store (StoreWriter actor)", start_store_writer, settings)
        with connect_bus(settings) as bus:
            files = expand_paths([data_dir] if data_dir else [sample_data_dir()])
            summary = steps.run(
                "import OHLCV files", import_files, files, _ActorSink(store),
                exchange=cfg.exchange, run_id=run_id, now_ms=now_ms, total=len(files),
            )
            imported = [r.candles for r in summary.results if r.candles.num_rows]
            published = steps.run(
                "publish closed candles to Redis", lambda: sum(bus.publish_candles(cfg.exchange, t) for t in imported)
            )
        timeframes = sorted(set(cfg.feature_timeframes) | {cfg.timeframe})
        candles = steps.run(
            "read candles from store",
            lambda: pa.concat_tables(ray.get([
                store.read_candles.remote(timeframe=tf, exchange=cfg.exchange) for tf in timeframes
            ])),
        )
        features = steps.run("features on Ray Data (TA-Lib)", compute_features, candles, settings.features)
        ranking = steps.run(
            "rank symbols (ensemble)", rank_universe, pl.from_arrow(features), timeframe=cfg.timeframe,
            cfg=ranker_config_for(cfg.timeframe, top_n=cfg.top_n, baseline=settings.ranking)
        )
        steps.run("store ranking", lambda: ray.get(store.insert_rankings.remote(
            ranking_table(ranking, run_id=run_id, exchange=cfg.exchange, now_ms=now_ms))))
        used = candles.filter(pc.equal(candles.column("timeframe"), cfg.timeframe))
        data = DataSummary(
            start_ms=int(pc.min(used.column("ts")).as_py()),
            end_ms=int(pc.max(used.column("ts")).as_py()),
            symbols=sorted(set(used.column("symbol").to_pylist())),
            candles=used.num_rows,
        )
        matrix = steps.run("confidence matrix", confidence_at, pl.from_arrow(features), settings,
                           as_of_ts=ranking.as_of_ts)
        top_symbols = [r.symbol for r in ranking.ranked[:cfg.top_n]]
        report = build_ensemble_report(
            ranking, run_id=run_id, generated_at_ms=now_ms, exchange=cfg.exchange, data=data, top_n=cfg.top_n,
            confidence=report_section(matrix, timeframe=cfg.timeframe, symbols=top_symbols),
        )
        paths = steps.run("write reports", write_report_files, report, settings.reports_dir)
        json_path, md_path = paths["json"], paths["md"]
        ray.get(store.close.remote())
        ray.kill(store)
    finally:
        if started_ray:
            stop_ray()
    return DemoResult(run_id=run_id, report=report, json_path=json_path, md_path=md_path,
                      timings_s=steps.timings, import_summary=summary.as_json(), published=published)
