"""The outcome of one backtest run and its JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.backtest.feed import iso_utc
from pipelines.backtest.metrics import BacktestMetrics
from pipelines.backtest.portfolio import Trade

RESULT_VERSION = 1


@dataclass(frozen=True)
class BacktestResult:
    """Everything a run produced: metrics, equity and drawdown curves, trades and the inputs' summary."""

    strategy: str
    params: dict[str, Any]
    config: dict[str, Any]
    timeframe: str
    symbols: tuple[str, ...]
    ts: np.ndarray
    equity: np.ndarray
    drawdown: np.ndarray
    trades: list[Trade]
    open_trades: list[Trade]
    metrics: BacktestMetrics
    n_fills: int
    extra: dict[str, Any] = field(default_factory=dict)

    def trade_rows(self, *, include_open: bool = False) -> list[dict[str, Any]]:
        """Trades as the JSON contract's rows (ISO 8601 UTC times)."""
        rows = []
        for t in self.trades + (self.open_trades if include_open else []):
            rows.append({
                "symbol": t.symbol, "direction": "long" if t.direction > 0 else "short",
                "entry_time": iso_utc(t.entry_ts), "exit_time": None if t.exit_ts is None else iso_utc(t.exit_ts),
                "entry_price": t.entry_price, "exit_price": t.exit_price, "size": t.size, "pnl": t.pnl,
                "return_pct": t.return_pct, "fees": t.fees,
            })
        return rows

    def summary(self) -> dict[str, Any]:
        """The ``--json`` object: the issue's fields first, then every metric and the run's inputs."""
        m = self.metrics
        out: dict[str, Any] = {
            "final_equity": m.final_equity, "return_pct": m.return_pct, "sharpe": m.sharpe, "sortino": m.sortino,
            "max_drawdown_pct": m.max_drawdown_pct, "win_rate": m.win_rate, "n_trades": m.n_trades,
            "fees": m.fees, "trades": self.trade_rows(),
        }
        out["metrics"] = m.model_dump()
        out["open_trades"] = [r for r in self.trade_rows(include_open=True) if r["exit_time"] is None]
        out.update({"version": RESULT_VERSION, "strategy": self.strategy, "params": self.params,
                    "config": self.config, "timeframe": self.timeframe, "symbols": list(self.symbols),
                    "start": iso_utc(int(self.ts[0])) if self.ts.size else None,
                    "end": iso_utc(int(self.ts[-1])) if self.ts.size else None, "bars": int(self.ts.size)})
        out.update(self.extra)
        return out

    def curves(self) -> dict[str, list[Any]]:
        """Equity and drawdown per bar (for reports and storage)."""
        return {"ts": self.ts.tolist(), "equity": self.equity.tolist(), "drawdown": self.drawdown.tolist()}
