"""Golden check: coinray's engine in backtesting.py compat mode reproduces backtesting.py itself.

Same data (bundled real Binance candles), same strategy (SMA cross, long-only), same
conventions (next-bar-open fills, whole-unit sizing with all available cash, 0.1% commission on
both legs, open trades marked to market at the end). Tolerance: relative 1e-6 on final equity,
trade prices and P&L; trade times and sizes must be identical.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from backtesting import Backtest
from backtesting import Strategy as BtStrategy
from backtesting.lib import crossover

from pipelines.backtest import BacktestConfig, get_strategy, run_backtest
from pipelines.backtest.adapter import run_in_backtesting, to_backtesting_frame
from pipelines.backtest.strategies import SmaCrossParams
from tests.unit.backtest.conftest import load_sample

REL = 1e-6
CASH, COMMISSION = 100_000.0, 0.001


def _sma(values: np.ndarray, n: int) -> pd.Series:
    return pd.Series(values).rolling(n).mean()


class BtSmaCross(BtStrategy):  # type: ignore[misc]
    """backtesting.py's own idiom of the long-only SMA cross."""

    fast = 10
    slow = 30

    def init(self) -> None:
        self.sma_fast = self.I(_sma, self.data.Close, self.fast)
        self.sma_slow = self.I(_sma, self.data.Close, self.slow)

    def next(self) -> None:
        if crossover(self.sma_fast, self.sma_slow):
            if not self.position:
                self.buy()
        elif crossover(self.sma_slow, self.sma_fast) and self.position:
            self.position.close()


def _bt_run(candles: pl.DataFrame, fast: int, slow: int) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Backtest(to_backtesting_frame(candles), BtSmaCross, cash=CASH, commission=COMMISSION).run(
            fast=fast, slow=slow)


def _assert_same(stats: pd.Series, result: object) -> None:
    trades = stats["_trades"]
    ours = result.trades  # type: ignore[attr-defined]
    assert len(ours) == len(trades) == stats["# Trades"]
    for row, t in zip(trades.itertuples(), ours, strict=True):
        assert int(row.EntryTime.timestamp() * 1000) == t.entry_ts
        assert int(row.ExitTime.timestamp() * 1000) == t.exit_ts
        assert row.Size == t.size
        assert row.EntryPrice == pytest.approx(t.entry_price, rel=REL)
        assert row.ExitPrice == pytest.approx(t.exit_price, rel=REL)
        assert row.PnL == pytest.approx(t.pnl, rel=REL, abs=1e-6)
    m = result.metrics  # type: ignore[attr-defined]
    assert m.final_equity == pytest.approx(stats["Equity Final [$]"], rel=REL)
    assert m.return_pct == pytest.approx(stats["Return [%]"], rel=REL, abs=1e-9)
    assert m.max_drawdown_pct == pytest.approx(stats["Max. Drawdown [%]"], rel=REL, abs=1e-9)


@pytest.mark.parametrize(("name", "timeframe", "fast", "slow"), [
    ("BTC_USDT", "1h", 10, 30),
    ("BTC_USDT", "1h", 20, 100),
    ("ETH_USDT", "1h", 5, 50),
    ("SOL_USDT", "1h", 12, 26),
    ("DOGE_USDT", "1d", 5, 20),
])
def test_sma_cross_matches_backtestingpy(name: str, timeframe: str, fast: int, slow: int) -> None:
    # Arrange
    candles = load_sample(name, timeframe)
    cfg = BacktestConfig(cash=CASH, commission=COMMISSION, compat="backtestingpy")
    # Act
    ours = run_backtest(candles, get_strategy("sma_cross"), SmaCrossParams(fast=fast, slow=slow), cfg,
                        timeframe=timeframe)
    stats = _bt_run(candles, fast, slow)
    # Assert
    assert stats["# Trades"] > 5
    _assert_same(stats, ours)


def test_adapter_runs_coinray_strategy_inside_backtestingpy(btc_1h: pl.DataFrame) -> None:
    # Arrange
    params = SmaCrossParams(fast=10, slow=30)
    # Act
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adapted = run_in_backtesting(btc_1h, get_strategy("sma_cross"), params, timeframe="1h", cash=CASH,
                                     commission=COMMISSION)
    native = _bt_run(btc_1h, 10, 30)
    ours = run_backtest(btc_1h, get_strategy("sma_cross"), params,
                        BacktestConfig(cash=CASH, commission=COMMISSION, compat="backtestingpy"), timeframe="1h")
    # Assert: the adapter, backtesting.py's own strategy and coinray agree trade for trade
    core = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "PnL", "EntryTime", "ExitTime"]
    pd.testing.assert_frame_equal(adapted["_trades"][core], native["_trades"][core])
    _assert_same(adapted, ours)
