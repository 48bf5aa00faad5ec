"""The HTML report renders metrics, curves, candles with trade markers and the trade list."""

from __future__ import annotations

import polars as pl

from pipelines.backtest import BacktestConfig, get_strategy, run_backtest
from pipelines.backtest.strategies import SmaCrossParams
from serve.backtest_report import render_backtest_html


def test_report_has_every_part(majors_1d: pl.DataFrame) -> None:
    res = run_backtest(majors_1d, get_strategy("sma_cross"), SmaCrossParams(fast=5, slow=20), BacktestConfig(),
                       timeframe="1d")
    page = render_backtest_html(res, majors_1d, run_id="bt-1")
    assert page.startswith("<!doctype html>") and page.endswith("</html>")
    for part in ("Equity", "Drawdown", "BTC/USDT candles", "SOL/USDT candles", "sharpe", "max_drawdown_pct",
                 "<polyline", "<rect", "bt-1"):
        assert part in page
    assert page.count("<tr>") >= len(res.trades) + 1
