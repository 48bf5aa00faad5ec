"""Run a coinray vectorised strategy inside ``backtesting.Backtest`` (for its plots and statistics).

The adapter computes the strategy's target series with coinray's own feature and signal code,
then a ``backtesting.Strategy`` buys with all equity when the target turns positive, sells short
when it turns negative, and closes when it returns to zero. One symbol per run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cluster.errors import ConfigError
from pipelines.backtest.feed import build_panel
from pipelines.backtest.strategy import StrategyParams, VectorStrategy


def to_backtesting_frame(candles: pl.DataFrame) -> pd.DataFrame:
    """One symbol's candles as backtesting.py's frame (``Open``... ``Volume``, UTC ``DatetimeIndex``)."""
    if candles.get_column("symbol").n_unique() != 1:
        raise ConfigError("backtesting.py runs one symbol at a time")
    ordered = candles.sort("ts")
    frame = pd.DataFrame({c.capitalize(): ordered.get_column(c).to_numpy() for c in
                          ("open", "high", "low", "close", "volume")})
    frame.index = pd.to_datetime(ordered.get_column("ts").to_numpy(), unit="ms", utc=True)
    return frame


def target_series(candles: pl.DataFrame, strategy: VectorStrategy, params: StrategyParams, *,
                  timeframe: str) -> np.ndarray:
    """The strategy's forward-filled target weight at each bar (0 before the first signal)."""
    from pipelines.backtest.engine import _forward_fill, target_matrix

    panel = build_panel(candles, timeframe=timeframe)
    weights, _ = target_matrix(strategy.signals(strategy.features(candles, params), params), panel)
    return _forward_fill(weights)[:, 0]


def _backtesting() -> Any:
    """The ``backtesting`` module, or a clear error saying which extra installs it."""
    try:
        import backtesting
    except ImportError as exc:
        raise ImportError(
            "the backtesting.py adapter needs backtesting.py: pip install 'coinray[bench]' (or the dev extra)"
        ) from exc
    return backtesting


def make_backtesting_strategy(candles: pl.DataFrame, strategy: VectorStrategy, params: StrategyParams, *,
                              timeframe: str) -> type[Any]:
    """A ``backtesting.Strategy`` subclass that trades ``strategy``'s targets on these candles."""
    BtStrategy = _backtesting().Strategy

    targets = target_series(candles, strategy, params, timeframe=timeframe)

    class CoinrayAdapter(BtStrategy):  # type: ignore[misc, valid-type]  # base class picked at runtime
        """Trades coinray's target series: enter on a sign change, close on zero."""

        def init(self) -> None:
            self.target = self.I(lambda: targets, name=f"{strategy.name}_target", overlay=False)

        def next(self) -> None:
            i = len(self.data) - 1
            now, before = targets[i], targets[i - 1] if i else 0.0
            if now == before:
                return
            if self.position and (now == 0 or np.sign(now) != np.sign(self.position.size)):
                self.position.close()
            if now > 0 and before <= 0:
                self.buy()
            elif now < 0 <= before:
                self.sell()

    CoinrayAdapter.__name__ = f"Coinray_{strategy.name}"
    return CoinrayAdapter


def run_in_backtesting(candles: pl.DataFrame, strategy: VectorStrategy, params: StrategyParams, *, timeframe: str,
                       cash: float, commission: float, **backtest_kwargs: Any) -> pd.Series:
    """``backtesting.Backtest(...).run()`` of the adapted strategy; returns backtesting.py's stats."""
    Backtest = _backtesting().Backtest

    bt_strategy = make_backtesting_strategy(candles, strategy, params, timeframe=timeframe)
    bt = Backtest(to_backtesting_frame(candles), bt_strategy, cash=cash, commission=commission, **backtest_kwargs)
    return bt.run()
