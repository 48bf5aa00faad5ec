"""``coinray bench backtest``: an SMA-cross parameter grid on real 5m candles, coinray vs backtesting.py and vectorbt.

coinray runs every parameter set with ``compat=backtestingpy`` (whole units, next-open fills,
commission on both legs), so its trades can be compared one for one with backtesting.py on the
parameter sets both run. backtesting.py is slow, so it runs an evenly spread subset and its
rate is measured on that subset. vectorbt runs the whole grid in one batched
``Portfolio.from_signals`` call (its own moving averages and crossings, next-open prices, the
same fee). All three are timed in this process, one after another.
"""

from __future__ import annotations

import cProfile
import io
import logging
import pstats
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from cluster.errors import ConfigError
from cluster.ohlcv_files import load_ohlcv_file
from cluster.settings import CoinraySettings
from pipelines.backtest import BacktestConfig, Compat, build_panel, get_strategy, prepare_candles, run_backtest
from pipelines.backtest.strategies import SmaCrossParams

logger = logging.getLogger(__name__)

BASELINE = ("backtesting.py 0.6 (Backtest.run of the same SMA cross, same fees and fill rules) and vectorbt "
            "(Portfolio.from_signals, batched over the grid)")
SHARED_OHLCV = Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv"
DATA_FILE = SHARED_OHLCV / "binance_spot_2024" / "BTC_USDT-5m.feather"
CASH, COMMISSION = 1_000_000.0, 0.001
TARGET_SPEEDUP, TARGET_VBT_RATIO = 50.0, 1.0


def param_grid(quick: bool) -> list[tuple[int, int]]:
    """10 x 10 (fast, slow) pairs, or 4 x 3 when ``quick``."""
    fasts = range(5, 55, 5) if not quick else range(5, 25, 5)
    slows = range(60, 260, 20) if not quick else range(60, 120, 20)
    return [(f, s) for f in fasts for s in slows]


def load_candles(quick: bool) -> pl.DataFrame:
    """BTC/USDT 5m, 2024-01-01 .. 2024-09-06 (71,769 bars; the first 20,000 when ``quick``)."""
    if not DATA_FILE.is_file():
        raise ConfigError(f"the backtest benchmark needs {DATA_FILE} (../shared/data from the coinray workspace)")
    res = load_ohlcv_file(DATA_FILE, exchange="binance", run_id="bench", now_ms=0)
    candles = prepare_candles(res.candles, timeframe="5m")
    return candles.head(20_000) if quick else candles


def run_coinray(candles: pl.DataFrame, grid: list[tuple[int, int]]) -> tuple[float, dict[tuple[int, int], Any]]:
    """Seconds for the whole grid, and each result."""
    cfg = BacktestConfig(cash=CASH, commission=COMMISSION, compat=Compat.BACKTESTINGPY)
    strategy = get_strategy("sma_cross")
    panel = build_panel(candles, timeframe="5m")
    run_backtest(candles, strategy, SmaCrossParams(fast=grid[0][0], slow=grid[0][1]), cfg, timeframe="5m",
                 panel=panel)  # warm caches (polars, numpy) once
    out = {}
    start = time.perf_counter()
    for fast, slow in grid:
        out[(fast, slow)] = run_backtest(candles, strategy, SmaCrossParams(fast=fast, slow=slow), cfg,
                                         timeframe="5m", panel=panel)
    return time.perf_counter() - start, out


def run_backtestingpy(candles: pl.DataFrame, grid: list[tuple[int, int]]) -> tuple[float, dict[tuple[int, int], Any]]:
    """Seconds for ``grid`` with backtesting.py, and its stats per pair."""
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    from pipelines.backtest.adapter import to_backtesting_frame

    def sma(values: np.ndarray, n: int) -> pd.Series:
        return pd.Series(values).rolling(n).mean()

    class SmaCross(Strategy):  # type: ignore[misc]
        fast = 10
        slow = 30

        def init(self) -> None:
            self.a = self.I(sma, self.data.Close, self.fast)
            self.b = self.I(sma, self.data.Close, self.slow)

        def next(self) -> None:
            if crossover(self.a, self.b):
                if not self.position:
                    self.buy()
            elif crossover(self.b, self.a) and self.position:
                self.position.close()

    frame = to_backtesting_frame(candles)
    out = {}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fast, slow in grid:
            out[(fast, slow)] = Backtest(frame, SmaCross, cash=CASH, commission=COMMISSION).run(fast=fast, slow=slow)
    return time.perf_counter() - start, out


def run_vectorbt(candles: pl.DataFrame, grid: list[tuple[int, int]]) -> float | None:
    """Seconds for the batched vectorbt run of the grid (JIT warmed up first), or None when not installed."""
    try:
        import pandas as pd
        import vectorbt as vbt
    except ImportError:
        return None
    close = pd.Series(candles.get_column("close").to_numpy())
    open_ = pd.Series(candles.get_column("open").to_numpy())
    fasts, slows = [f for f, _ in grid], [s for _, s in grid]

    def once(c: pd.Series, o: pd.Series, fs: list[int], ss: list[int]) -> Any:
        fast = vbt.MA.run(c, fs, short_name="fast")
        slow = vbt.MA.run(c, ss, short_name="slow")
        entries = fast.ma_crossed_above(slow).to_numpy()
        exits = fast.ma_crossed_below(slow).to_numpy()
        entries = np.vstack([np.zeros((1, entries.shape[1]), bool), entries[:-1]])  # fill at the next open
        exits = np.vstack([np.zeros((1, exits.shape[1]), bool), exits[:-1]])
        pf = vbt.Portfolio.from_signals(c, entries, exits, price=o, fees=COMMISSION, init_cash=CASH, freq="5min")
        return pf.final_value()

    once(close.head(500), open_.head(500), fasts[:2], slows[:2])  # numba compilation, not timed
    start = time.perf_counter()
    once(close, open_, fasts, slows)
    return time.perf_counter() - start


def trades_equal(ours: Any, stats: Any) -> bool:
    """Same trades (times, sizes; prices and P&L within 1e-6 relative) and final equity."""
    theirs = stats["_trades"]
    if len(theirs) != len(ours.trades):
        return False
    for row, t in zip(theirs.itertuples(), ours.trades, strict=True):
        if (int(row.EntryTime.timestamp() * 1000), int(row.ExitTime.timestamp() * 1000), float(row.Size)) != (
                t.entry_ts, t.exit_ts, t.size):
            return False
        if not np.allclose([row.EntryPrice, row.ExitPrice, row.PnL], [t.entry_price, t.exit_price, t.pnl],
                           rtol=1e-6, atol=1e-6):
            return False
    return bool(np.isclose(stats["Equity Final [$]"], ours.metrics.final_equity, rtol=1e-6))


def profile_one(candles: pl.DataFrame) -> list[str]:
    """The top cumulative-time entries of one coinray run (for the benchmark note)."""
    cfg = BacktestConfig(cash=CASH, commission=COMMISSION, compat=Compat.BACKTESTINGPY)
    panel = build_panel(candles, timeframe="5m")
    prof = cProfile.Profile()
    prof.enable()
    run_backtest(candles, get_strategy("sma_cross"), SmaCrossParams(fast=10, slow=60), cfg, timeframe="5m",
                 panel=panel)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(8)
    return [line.strip() for line in buf.getvalue().splitlines() if "/" in line or "{" in line][:8]


def run(settings: CoinraySettings, *, quick: bool) -> dict[str, Any]:
    """Run the benchmark and return its JSON object."""
    candles = load_candles(quick)
    grid = param_grid(quick)
    coinray_s, ours = run_coinray(candles, grid)
    compared = grid[:: max(1, len(grid) // (2 if quick else 5))]
    bt_s, theirs = run_backtestingpy(candles, compared)
    vbt_s = run_vectorbt(candles, grid)
    coinray_rate = len(grid) / coinray_s
    bt_rate = len(compared) / bt_s
    vbt_rate = len(grid) / vbt_s if vbt_s else None
    speedup = coinray_rate / bt_rate
    ratio = coinray_rate / vbt_rate if vbt_rate else None
    return {
        "bench": "backtest", "baseline": BASELINE, "data": DATA_FILE.name, "bars": candles.height,
        "param_sets": len(grid), "backtestingpy_param_sets": len(compared),
        "coinray_runs_per_s": round(coinray_rate, 2), "backtestingpy_runs_per_s": round(bt_rate, 3),
        "vectorbt_runs_per_s": None if vbt_rate is None else round(vbt_rate, 2),
        "speedup_vs_backtestingpy": round(speedup, 1),
        "ratio_vs_vectorbt": None if ratio is None else round(ratio, 3),
        "trades_match": all(trades_equal(ours[p], theirs[p]) for p in compared),
        "n_trades_compared": int(sum(len(ours[p].trades) for p in compared)),
        "targets": {"speedup_vs_backtestingpy": TARGET_SPEEDUP, "ratio_vs_vectorbt": TARGET_VBT_RATIO},
        "targets_met": {"speedup_vs_backtestingpy": speedup >= TARGET_SPEEDUP,
                        "ratio_vs_vectorbt": ratio is not None and ratio >= TARGET_VBT_RATIO},
        "note": None if vbt_rate is not None else "vectorbt is not installed (pip install vectorbt)",
        "profile_top_tottime": profile_one(candles),
    }
