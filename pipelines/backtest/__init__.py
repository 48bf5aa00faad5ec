"""The backtest engine: pure replay of candles through strategies, a broker simulator and metrics.

No I/O and no Ray here: candles in, :class:`BacktestResult` out. See docs/backtesting.md.
"""

from __future__ import annotations

from pipelines.backtest.broker import Broker, Fill, Order, OrderType
from pipelines.backtest.config import BacktestConfig, Compat, SlippageConfig, SlippageModel
from pipelines.backtest.context import Context
from pipelines.backtest.engine import prepare_candles, run_backtest, run_events, simulate_targets, target_matrix
from pipelines.backtest.feed import Panel, align_timeframe, build_panel, select_range
from pipelines.backtest.metrics import BacktestMetrics, compute_metrics
from pipelines.backtest.portfolio import Portfolio, Trade
from pipelines.backtest.result import BacktestResult
from pipelines.backtest.strategies import STRATEGIES, get_strategy
from pipelines.backtest.strategy import (
    INTERFACE_VERSION,
    EventStrategy,
    Signal,
    Strategy,
    StrategyParams,
    VectorStrategy,
    parse_params,
)

__all__ = [
    "INTERFACE_VERSION",
    "STRATEGIES",
    "BacktestConfig",
    "BacktestMetrics",
    "BacktestResult",
    "Broker",
    "Compat",
    "Context",
    "EventStrategy",
    "Fill",
    "Order",
    "OrderType",
    "Panel",
    "Portfolio",
    "Signal",
    "SlippageConfig",
    "SlippageModel",
    "Strategy",
    "StrategyParams",
    "Trade",
    "VectorStrategy",
    "align_timeframe",
    "build_panel",
    "compute_metrics",
    "get_strategy",
    "parse_params",
    "prepare_candles",
    "run_backtest",
    "run_events",
    "select_range",
    "simulate_targets",
    "target_matrix",
]
