"""Ray Tune sweeps: a smoke sweep (2 trials) and a small walk-forward through the CLI's sweep path."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.commands.backtest import _run_sweep
from pipelines.backtest import BacktestConfig, get_strategy, run_backtest
from pipelines.backtest.strategies import SmaCrossParams
from tests.unit.backtest.conftest import load_sample
from tune.sweep import SweepConfig, run_sweep

pytestmark = pytest.mark.integration


def test_random_sweep_runs_trials_and_returns_the_best(ray_local: None, tmp_path: Path) -> None:
    candles = load_sample("BTC_USDT", "1h").head(2000)
    cfg = BacktestConfig(cash=100_000, commission=0.001)
    spec = SweepConfig(strategy="sma_cross", grid={"fast": (5, 10), "slow": (30, 60)}, search="random",
                       num_samples=2, metric="sharpe", seed=1)
    out = run_sweep(candles, spec, cfg, timeframe="1h", storage_dir=tmp_path)
    assert out["trials"] == 2 and len(out["rows"]) == 2
    best = out["best_params"]
    direct = run_backtest(candles, get_strategy("sma_cross"), SmaCrossParams(**best), cfg, timeframe="1h")
    assert out["best"]["sharpe"] == pytest.approx(direct.metrics.sharpe)
    assert out["rows"][0]["sharpe"] >= out["rows"][1]["sharpe"]


def test_walk_forward_sweep_reports_in_and_out_of_sample(ray_local: None, tmp_path: Path) -> None:
    candles = load_sample("ETH_USDT", "1d")
    spec = SweepConfig(strategy="sma_cross", grid={"fast": (3, 5), "slow": (20,)}, metric="return_pct")
    out = _run_sweep(candles, spec, BacktestConfig(), timeframe="1d", storage=tmp_path, walk_forward=True,
                     train_bars=120, test_bars=60, step_bars=None)
    assert len(out["splits"]) == 2
    row = out["splits"][0]
    assert row["params"]["fast"] in (3, 5)
    assert row["is_return_pct"] is not None and row["oos_return_pct"] is not None
    assert row["train_end"] < row["test_start"]
