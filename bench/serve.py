"""``coinray bench serve``: the rankings endpoint on Ray Serve vs plain FastAPI + uvicorn in-process.

Universe: the 136 real Binance USDT pairs' daily candles (``../shared/data``; without it, the 9
bundled pairs), each repeated under renamed copies (``BTC1/USDT``...) until at least 500 symbols:
the prices are real, the extra names exist only to size the ranking. Both servers rank the same
universe with the same ensemble; the load is closed-loop (``CONCURRENCY`` clients, keep-alive)
on ``GET /v1/rankings?top=20``, then an open loop at 100 requests/s for the p99 target.
"""

from __future__ import annotations

import http.client
import logging
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl

from cluster.settings import CoinraySettings

logger = logging.getLogger(__name__)

BASELINE = "plain FastAPI + uvicorn (one process) calling the same RankerCore in-process"
MIN_SYMBOLS = 500
CONCURRENCY = 8
PATH = "/v1/rankings?timeframe=1d&top=20"
SERVE_PORT, BASE_PORT = 18801, 18802


def universe_file(out_dir: Path) -> tuple[Path, int]:
    """Write the benchmark universe as one OHLCV parquet (with a symbol column); return it and the symbol count."""
    from serve.ranker_core import load_candle_files

    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv" / "binance_spot_2024"
    source = shared / "ALL_136_USDT_PAIRS-1d.parquet"
    if source.is_file():
        base = load_candle_files([source], exchange="binance")
    else:
        bundled = Path(__file__).resolve().parents[1] / "cluster" / "sample_data" / "binance_spot_2024"
        base = load_candle_files(sorted(bundled.glob("*-1d.feather")), exchange="binance")
    n = base.get_column("symbol").n_unique()
    copies = -(-MIN_SYMBOLS // n)
    parts = [base if k == 0 else base.with_columns(
        pl.col("symbol").str.replace(r"^([^/]+)/", f"${{1}}{k}/")) for k in range(copies)]
    frame = pl.concat(parts).select(pl.col("symbol"), pl.from_epoch("ts", time_unit="ms").alias("date"),
                                    "open", "high", "low", "close", "volume")
    path = out_dir / "BENCH_UNIVERSE-1d.parquet"
    frame.write_parquet(path)
    return path, n * copies


def _args(path: Path, reports: Path) -> Any:
    from pipelines.models.ensemble import EnsembleConfig
    from pipelines.models.xgb import XGBConfig
    from pipelines.recommend import RankerConfig
    from serve.app import AppArgs
    from serve.ranker_core import RankerServiceConfig

    ens = EnsembleConfig(horizon_bars=5, max_train_rows=20_000, xgb=XGBConfig(n_estimators=40, n_jobs=1))
    return AppArgs(candles=[str(path)], service=RankerServiceConfig(timeframes=("1d",),
                   ranker=RankerConfig(top_n=5, ensemble=ens)), reports_dir=str(reports), max_replicas=2)


def _baseline_server(path: str, reports: str, ready: Any) -> None:
    import uvicorn

    from serve.app import LocalBackend, create_api
    from serve.ranker import load_features
    from serve.ranker_core import RankerCore

    args = _args(Path(path), Path(reports))
    core = RankerCore(load_features(args), args.service, reports_dir=Path(reports))
    ready.set()
    uvicorn.run(create_api(LocalBackend(core)), host="127.0.0.1", port=BASE_PORT, log_level="warning")


def _get(conn: http.client.HTTPConnection) -> float:
    start = time.perf_counter()
    conn.request("GET", PATH)
    resp = conn.getresponse()
    resp.read()
    if resp.status != 200:
        raise RuntimeError(f"GET {PATH} answered {resp.status}")
    return (time.perf_counter() - start) * 1000


def closed_loop(port: int, seconds: float) -> dict[str, float]:
    """``CONCURRENCY`` keep-alive clients back to back for ``seconds``: rps, p50 and p99 (ms)."""
    lat: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.perf_counter() < stop:
            mine.append(_get(conn))
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100)
    return {"rps": round(len(lat) / elapsed, 1), "p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2)}


def open_loop(port: int, rate: float, seconds: float) -> float:
    """p99 latency (ms) at a fixed arrival rate (requests start on schedule, on a pool of connections)."""
    lat: list[float] = []
    lock = threading.Lock()
    n = int(rate * seconds)
    t0 = time.perf_counter() + 0.2
    workers = 16

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(k, n, workers):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ms = _get(conn)
            with lock:
                lat.append(ms)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return round(statistics.quantiles(lat, n=100)[98], 2)


def run(settings: CoinraySettings, *, quick: bool) -> dict[str, Any]:
    """Run both servers on the same universe and measure them; returns the JSON object."""
    from ray import serve

    from cluster.runtime import start_ray, stop_ray
    from serve.app import build_app

    seconds = 5.0 if quick else 15.0
    with tempfile.TemporaryDirectory() as tmp:
        path, symbols = universe_file(Path(tmp))
        reports = Path(tmp) / "reports"
        ctx = mp.get_context("spawn")
        ready = ctx.Event()
        baseline = ctx.Process(target=_baseline_server, args=(str(path), str(reports), ready), daemon=True)
        baseline.start()
        started = start_ray(settings.ray)
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": SERVE_PORT})
            serve.run(build_app(_args(path, reports)), name="bench", route_prefix="/")
            ready.wait(timeout=600)
            time.sleep(1.0)
            for port in (SERVE_PORT, BASE_PORT):
                closed_loop(port, 1.0)  # warm-up
            served = closed_loop(SERVE_PORT, seconds)
            base = closed_loop(BASE_PORT, seconds)
            served_100 = open_loop(SERVE_PORT, 100.0, seconds)
            base_100 = open_loop(BASE_PORT, 100.0, seconds)
            conn = http.client.HTTPConnection("127.0.0.1", SERVE_PORT, timeout=30)
            conn.request("GET", PATH)
            ranked = int(__import__("json").loads(conn.getresponse().read())["ranked"])
        finally:
            serve.shutdown()
            if started:
                stop_ray()
            baseline.terminate()
            baseline.join(timeout=10)
    return {
        "bench": "serve", "baseline": BASELINE, "universe_symbols": symbols, "ranked_symbols": ranked,
        "endpoint": PATH, "concurrency": CONCURRENCY, "seconds": seconds,
        "rps": served["rps"], "p50_ms": served["p50_ms"], "p99_ms": served["p99_ms"],
        "baseline_rps": base["rps"], "baseline_p50_ms": base["p50_ms"], "baseline_p99_ms": base["p99_ms"],
        "ratio": round(served["p99_ms"] / base["p99_ms"], 3) if base["p99_ms"] else None,
        "p99_ms_at_100rps": served_100, "baseline_p99_ms_at_100rps": base_100,
        "targets": {"ratio_le_1.3": bool(base["p99_ms"] and served["p99_ms"] / base["p99_ms"] <= 1.3),
                    "p99_under_50ms_at_100rps": served_100 < 50.0},
    }
