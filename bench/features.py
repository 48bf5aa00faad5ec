"""``coinray bench features``: the Ray Data feature pipeline against a plain one-core TA-Lib loop.

Figures (all measured in the same run, on real candles):

* ``talib_loop_bars_per_s``: the baseline, a Python loop calling the same TA-Lib functions
  (EMA x2, RSI, MACD, BBANDS, ATR, ADX, +DI, -DI, OBV and all 61 CDL functions) on NumPy arrays;
* ``overhead_ratio``: Ray Data pipeline time with 1 CPU for that same indicator + pattern set,
  divided by the loop time (target <= 1.2);
* ``bars_per_s``: the full feature set (plus VWAP/TWAP, stats, anomaly scores, cross-asset) on Ray
  Data with every local CPU;
* ``scaling_2cpu``: indicator + pattern pipeline time with 1 CPU / time with 2 CPUs (target >= 1.6);
* ``incremental_updates_per_s``: :class:`~pipelines.sliding_state.StreamingFeatures` replaying the
  136-pair daily universe one bar (all symbols) per call, against ``recompute_updates_per_s``
  (recomputing the batch indicators over the history for each new candle).

Data: every spot/futures OHLCV file under ``../shared/data/ohlcv`` (about 1M bars), or the bundled
sample (``--quick``, or when ``../shared`` is absent). ``COINRAY_BENCH_DATA`` overrides the folder.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import talib

from cluster.importer import expand_paths
from cluster.ohlcv_files import load_ohlcv_file
from cluster.settings import CoinraySettings, RayConfig

logger = logging.getLogger(__name__)

BASELINE = "talib_loop: one-core Python loop over the same TA-Lib indicator + 61 CDL calls on NumPy arrays"
REPO = Path(__file__).resolve().parents[1]
SHARED_OHLCV = REPO.parent / "shared" / "data" / "ohlcv"
SAMPLE = REPO / "cluster" / "sample_data" / "binance_spot_2024"
TALIB_FAMILIES = ("log_ret", "ema", "rsi", "macd", "bbands", "atr", "adx", "obv")


def _files(quick: bool) -> list[Path]:
    root = Path(os.environ.get("COINRAY_BENCH_DATA", SHARED_OHLCV))
    if quick or not root.is_dir():
        return expand_paths([SAMPLE])
    found = sorted(p for p in root.rglob("*.feather") if "trades" not in p.name and "funding" not in p.name
                   and "mark" not in p.name)
    return found


def load_candles(quick: bool) -> pa.Table:
    """Every usable candle file as one CANDLES table (rejected rows dropped)."""
    tables = []
    for path in _files(quick):
        result = load_ohlcv_file(path, exchange="binance", run_id="bench", now_ms=0)
        if result.error is None and result.candles.num_rows:
            tables.append(result.candles)
    return pa.concat_tables(tables)


def talib_loop(series: list[dict[str, np.ndarray]]) -> float:
    """Seconds for the baseline loop over ``series`` (float64 OHLCV arrays)."""
    from pipelines.patterns import PATTERN_FUNCTIONS

    cdl = [getattr(talib, n) for n in PATTERN_FUNCTIONS]
    start = time.perf_counter()
    for s in series:
        o, h, lo, c, v = s["open"], s["high"], s["low"], s["close"], s["volume"]
        np.log(c[1:] / c[:-1])
        talib.EMA(c, 20), talib.EMA(c, 50), talib.RSI(c, 14), talib.MACD(c, 12, 26, 9)
        talib.BBANDS(c, 20, 2.0, 2.0, talib.MA_Type.SMA), talib.ATR(h, lo, c, 14), talib.ADX(h, lo, c, 14)
        talib.PLUS_DI(h, lo, c, 14), talib.MINUS_DI(h, lo, c, 14), talib.OBV(c, v)
        for fn in cdl:
            fn(o, h, lo, c)
    return time.perf_counter() - start


def _pipeline_seconds(table: pa.Table, cfg: Any, cpus: int, repeats: int = 2) -> float:
    """Best wall time of the Ray Data pipeline on a fresh local Ray with ``cpus`` CPUs (start-up excluded)."""
    from cluster.runtime import start_ray, stop_ray
    from pipelines.datasets import compute_features

    stop_ray()
    previous = os.environ.get("RAY_ADDRESS")
    os.environ["RAY_ADDRESS"] = "local"  # a private Ray with exactly `cpus` CPUs, never someone else's cluster
    try:
        start_ray(RayConfig(num_cpus=cpus, object_store_memory_mb=2048))
    finally:
        if previous is None:
            os.environ.pop("RAY_ADDRESS", None)
        else:
            os.environ["RAY_ADDRESS"] = previous
    try:
        compute_features(table.slice(0, 2_000), cfg)  # warm the workers
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            compute_features(table, cfg)
            best = min(best, time.perf_counter() - start)
        return best
    finally:
        stop_ray()


def incremental_rates(quick: bool) -> dict[str, float]:
    """Streaming updates/s on the daily 136-pair universe, and batch-recompute updates/s for comparison."""
    from pipelines.indicators import IndicatorConfig, series_arrays, series_indicators
    from pipelines.sliding_state import StreamingFeatures

    universe = SHARED_OHLCV / "binance_spot_2024" / "ALL_136_USDT_PAIRS-1d.parquet"
    if universe.is_file() and not quick:
        raw = pl.read_parquet(universe)
        frame = raw.with_columns(ts=pl.col("date").dt.epoch("ms")).sort("ts", "symbol")
    else:
        frame = pl.concat([pl.read_ipc(p).with_columns(symbol=pl.lit(p.name.split("-")[0]))
                           for p in sorted(SAMPLE.glob("*-1d.feather"))])
        frame = frame.with_columns(ts=pl.col("date").dt.epoch("ms")).sort("ts", "symbol")
    steps = [(g.get_column("symbol").to_list(), {k: g.get_column(k).to_numpy() for k in
              ("ts", "open", "high", "low", "close", "volume")})
             for _, g in frame.group_by(["ts"], maintain_order=True)]
    state = StreamingFeatures()
    start = time.perf_counter()
    for keys, a in steps:
        state.update(keys, ts=a["ts"], open_=a["open"], high=a["high"], low=a["low"], close=a["close"],
                     volume=a["volume"])
    streaming = frame.height / (time.perf_counter() - start)
    btc = pl.read_ipc(SAMPLE / "BTC_USDT-1h.feather").with_columns(ts=pl.col("date").dt.epoch("ms"))
    arrays = series_arrays(btc)
    cfg = IndicatorConfig()
    points = range(btc.height - 200, btc.height)
    start = time.perf_counter()
    for end in points:
        series_indicators({k: a[: end + 1] for k, a in arrays.items()}, cfg)
    recompute = len(points) / (time.perf_counter() - start)
    return {"incremental_updates_per_s": round(streaming), "recompute_updates_per_s": round(recompute),
            "incremental_batch_symbols": int(frame.get_column("symbol").n_unique())}


def run(settings: CoinraySettings, *, quick: bool) -> dict[str, Any]:
    """Run every measurement and return the JSON object."""
    from pipelines.datasets import partition_series
    from pipelines.features import FeatureConfig, build_features
    from pipelines.indicators import IndicatorConfig, series_arrays

    table = load_candles(quick)
    frame = pl.DataFrame(table).sort("symbol", "timeframe", "ts")
    series = [series_arrays(g) for g in frame.partition_by(["symbol", "timeframe"], maintain_order=True)]
    bars = table.num_rows
    loop_s = talib_loop(series)
    talib_cfg = FeatureConfig(indicators=IndicatorConfig(indicators=TALIB_FAMILIES), with_stats=False,
                              with_anomaly_scores=False, with_cross_asset=False)
    start = time.perf_counter()
    partition_series(pl.DataFrame(table))
    partition_s = time.perf_counter() - start
    start = time.perf_counter()
    build_features(frame, talib_cfg)
    local_s = time.perf_counter() - start
    one_cpu = _pipeline_seconds(table, talib_cfg, 1)
    two_cpu = _pipeline_seconds(table, talib_cfg, 2)
    cpus = os.cpu_count() or 1
    full = _pipeline_seconds(table, FeatureConfig(), cpus, repeats=1)
    result: dict[str, Any] = {
        "bench": "features",
        "baseline": BASELINE,
        "bars": bars,
        "series": len(series),
        "cpus": cpus,
        "bars_per_s": round(bars / full),
        "full_pipeline_s": round(full, 3),
        "talib_loop_bars_per_s": round(bars / loop_s),
        "talib_loop_s": round(loop_s, 3),
        "pipeline_1cpu_s": round(one_cpu, 3),
        "pipeline_2cpu_s": round(two_cpu, 3),
        "overhead_ratio": round(one_cpu / loop_s, 3),
        "scaling_2cpu": round(one_cpu / two_cpu, 3),
        "profile_s": {"talib_loop": round(loop_s, 3), "driver_partition": round(partition_s, 3),
                      "build_features_no_ray": round(local_s, 3), "ray_data_1cpu_total": round(one_cpu, 3)},
        "targets": {"overhead_ratio": "<= 1.2", "scaling_2cpu": ">= 1.6", "incremental_updates_per_s": ">= 200000"},
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "quick": quick,
    }
    result.update(incremental_rates(quick))
    return result
