"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.backtest import compute_metrics
from pipelines.backtest.portfolio import Trade


def _trade(pnl: float, value: float = 1000.0) -> Trade:
    t = Trade("BTC/USDT", 1, 0, 100.0, 10.0, 0, exit_ts=1, exit_price=100.0, exit_bar=1, pnl=pnl)
    t._entry_value = value
    return t


def test_metrics_by_hand() -> None:
    equity = np.array([100.0, 110.0, 99.0, 108.9])
    m = compute_metrics(equity, bars_per_year=365.0, bar_ms=86_400_000, trades=[_trade(30.0), _trade(-10.0),
                                                                                 _trade(-5.0)],
                        exposure=np.array([False, True, True, False]), fees=3.0, traded_notional=520.0)
    rets = np.array([0.1, -0.1, 0.1])
    assert m.return_pct == pytest.approx(8.9)
    assert m.max_drawdown_pct == pytest.approx(-10.0)
    assert m.max_drawdown_duration_bars == 3  # peak at bar 1, still under water at the end
    assert m.volatility_pct == pytest.approx(100 * rets.std(ddof=1) * math.sqrt(365))
    assert m.sharpe == pytest.approx(rets.mean() / rets.std(ddof=1) * math.sqrt(365))
    assert m.sortino == pytest.approx(rets.mean() / math.sqrt(0.01 / 3) * math.sqrt(365))
    assert m.annual_return_pct == pytest.approx(100 * (1.089 ** (365 / 3) - 1))
    assert m.calmar == pytest.approx(m.annual_return_pct / 100 / 0.10)
    assert m.win_rate == pytest.approx(100 / 3)
    assert m.profit_factor == pytest.approx(2.0)
    assert m.expectancy == pytest.approx(5.0)
    assert m.exposure_pct == 50.0
    assert m.turnover == pytest.approx(520.0 / equity.mean())
    assert (m.n_trades, m.fees) == (3, 3.0)


def test_no_losing_trade_means_no_profit_factor() -> None:
    m = compute_metrics(np.array([100.0, 101.0]), bars_per_year=8760, bar_ms=3_600_000, trades=[_trade(1.0)],
                        exposure=np.array([True, False]), fees=0.0, traded_notional=0.0)
    assert m.profit_factor is None
    assert m.max_drawdown_pct == 0.0
