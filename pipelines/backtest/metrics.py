"""Performance metrics of a backtest from its equity curve, positions and trades."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from pipelines.backtest.portfolio import Trade

METRIC_NAMES = ("final_equity", "return_pct", "annual_return_pct", "volatility_pct", "sharpe", "sortino",
                "calmar", "max_drawdown_pct", "max_drawdown_duration_bars", "max_drawdown_duration_days",
                "win_rate", "profit_factor", "expectancy", "expectancy_pct", "exposure_pct", "turnover",
                "n_trades", "fees")


class BacktestMetrics(BaseModel):
    """Summary figures of one run. Percentages are in percent; ratios are annualised, risk-free 0.

    ``max_drawdown_pct`` is <= 0 (as backtesting.py reports it). ``profit_factor`` is None when
    there is no losing trade; ``sharpe``/``sortino``/``calmar`` are 0 when undefined.
    """

    model_config = ConfigDict(frozen=True)

    final_equity: float
    return_pct: float
    annual_return_pct: float
    volatility_pct: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown_pct: float
    max_drawdown_duration_bars: int
    max_drawdown_duration_days: float
    win_rate: float
    profit_factor: float | None
    expectancy: float
    expectancy_pct: float
    exposure_pct: float
    turnover: float
    n_trades: int
    fees: float


def drawdown_curve(equity: np.ndarray) -> np.ndarray:
    """Drawdown at each bar as a fraction of the running peak (<= 0).

    >>> drawdown_curve(np.array([100.0, 120.0, 90.0, 130.0])).round(3).tolist()
    [0.0, 0.0, -0.25, 0.0]
    """
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, equity / peak - 1.0, 0.0)
    return dd


def longest_drawdown(dd: np.ndarray) -> int:
    """Length in bars of the longest stretch below a previous peak (peak bar to recovery or end).

    >>> longest_drawdown(np.array([0.0, -0.1, -0.2, 0.0, -0.1]))
    3
    """
    under = np.concatenate([[False], dd < 0, [False]])
    edges = np.diff(under.astype(np.int8))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return int((ends - starts).max()) + 1 if starts.size else 0


def compute_metrics(equity: np.ndarray, *, bars_per_year: float, bar_ms: int, trades: Sequence[Trade],
                    exposure: np.ndarray, fees: float, traded_notional: float) -> BacktestMetrics:
    """All metrics of a run.

    Parameters
    ----------
    equity:
        Equity at each bar's close, quote currency; the first value is the starting equity.
    bars_per_year:
        Bars in 365 days at this timeframe (annualisation).
    bar_ms:
        The bar length in milliseconds (durations).
    trades:
        Closed round trips.
    exposure:
        Boolean per bar: any position open after that bar.
    fees:
        Fees paid, quote currency.
    traded_notional:
        Sum of |qty| x price of every fill (turnover = this / mean equity).
    """
    n = equity.shape[0]
    start, end = float(equity[0]), float(equity[-1])
    total = end / start - 1.0
    years = max(n - 1, 1) / bars_per_year
    annual = (end / start) ** (1.0 / years) - 1.0 if end > 0 else -1.0
    rets = np.diff(equity) / equity[:-1] if n > 1 else np.zeros(0)
    rets = rets[np.isfinite(rets)]
    sd = float(rets.std(ddof=1)) if rets.size > 1 else 0.0
    mean = float(rets.mean()) if rets.size else 0.0
    scale = math.sqrt(bars_per_year)
    downside = float(np.sqrt(np.mean(np.minimum(rets, 0.0) ** 2))) if rets.size else 0.0
    dd = drawdown_curve(equity)
    max_dd = float(dd.min()) if n else 0.0
    dd_bars = longest_drawdown(dd)
    pnl = np.array([t.pnl for t in trades], dtype=float)
    pct = np.array([t.return_pct for t in trades], dtype=float)
    wins, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    return BacktestMetrics(
        final_equity=end,
        return_pct=100.0 * total,
        annual_return_pct=100.0 * annual,
        volatility_pct=100.0 * sd * scale,
        sharpe=mean / sd * scale if sd > 0 else 0.0,
        sortino=mean / downside * scale if downside > 0 else 0.0,
        calmar=annual / -max_dd if max_dd < 0 else 0.0,
        max_drawdown_pct=100.0 * max_dd,
        max_drawdown_duration_bars=dd_bars,
        max_drawdown_duration_days=dd_bars * bar_ms / 86_400_000,
        win_rate=100.0 * float((pnl > 0).mean()) if pnl.size else 0.0,
        profit_factor=float(wins / losses) if losses > 0 else None,
        expectancy=float(pnl.mean()) if pnl.size else 0.0,
        expectancy_pct=float(pct.mean()) if pct.size else 0.0,
        exposure_pct=100.0 * float(exposure.mean()) if exposure.size else 0.0,
        turnover=traded_notional / float(equity.mean()) if n else 0.0,
        n_trades=len(trades),
        fees=fees,
    )
