"""``coinray bench demo``: the demo's wall time against a sequential single-process baseline.

Baseline ``sequential-polars``: the same files, validation, indicators and ranking, run in this
process with Polars and TA-Lib and no Ray, store or bus. The demo's target is 180 s on a 2-core
machine including Ray start-up.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, cast

import polars as pl

from cluster.settings import CoinraySettings

BASELINE = "sequential-polars (same import, indicators and ranking in one process, no Ray/store/bus)"
TARGET_S = 180.0


def _baseline(settings: CoinraySettings) -> float:
    from cluster.demo import sample_data_dir
    from cluster.importer import expand_paths
    from cluster.ohlcv_files import load_ohlcv_file
    from pipelines.indicators import add_indicators
    from pipelines.ranking import rank_symbols

    start = time.perf_counter()
    tables = [load_ohlcv_file(p, exchange="binance", run_id="bench", now_ms=0).candles
              for p in expand_paths([sample_data_dir()])]
    frame = pl.concat([cast(pl.DataFrame, pl.from_arrow(t)) for t in tables])
    features = add_indicators(frame)
    rank_symbols(features, timeframe=settings.demo.timeframe, cfg=settings.ranking)
    return time.perf_counter() - start


def run(settings: CoinraySettings, *, quick: bool = False) -> dict[str, Any]:
    """Time one demo run (fresh data dir) and the baseline; return one JSON-ready object."""
    from cluster.demo import run_demo

    baseline_s = _baseline(settings)
    with tempfile.TemporaryDirectory(prefix="coinray-bench-") as tmp:
        fresh = settings.model_copy(update={"data_dir": Path(tmp)})
        start = time.perf_counter()
        result = run_demo(fresh)
        demo_s = time.perf_counter() - start
    return {
        "bench": "demo",
        "baseline": BASELINE,
        "demo_s": round(demo_s, 2),
        "baseline_s": round(baseline_s, 2),
        "ratio_demo_over_baseline": round(demo_s / baseline_s, 2) if baseline_s else None,
        "target_s": TARGET_S,
        "within_target": demo_s <= TARGET_S,
        "steps_s": result.timings_s,
        "candles": result.import_summary["rows_ingested"],
    }
