"""Built-in strategies (``sma_cross``, ``sma_cross_events``, ``rsi_reversion``, ``topn``) and the registry."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from cluster.errors import ConfigError
from cluster.settings import RankingConfig
from pipelines.backtest.context import Context
from pipelines.backtest.strategy import (
    EventStrategy,
    FeatureStep,
    Strategy,
    StrategyParams,
    VectorStrategy,
    sort_by_symbol_ts,
)
from pipelines.indicators import IndicatorConfig, add_indicators
from pipelines.ranking import rank_symbols


class SmaCrossParams(StrategyParams):
    """Fast and slow simple-moving-average windows, in bars."""

    fast: int = Field(10, ge=1, description="fast SMA window, bars")
    slow: int = Field(30, ge=2, description="slow SMA window, bars")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be below slow ({self.slow})")
        return self


def add_sma_pair(frame: pl.DataFrame, *, fast: int, slow: int) -> pl.DataFrame:
    """Append ``sma_fast`` and ``sma_slow`` (simple means of close over ``fast``/``slow`` bars) per symbol.

    Requires columns: symbol, ts, close. Causal: the value at a bar uses that bar and earlier ones.
    """
    return sort_by_symbol_ts(frame).with_columns(
        pl.col("close").rolling_mean(window_size=fast).over("symbol").alias("sma_fast"),
        pl.col("close").rolling_mean(window_size=slow).over("symbol").alias("sma_slow"),
    )


def _crosses(frame: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
    f, s = pl.col("sma_fast"), pl.col("sma_slow")
    up = (f.shift(1) < s.shift(1)).over("symbol") & (f > s)
    down = (f.shift(1) > s.shift(1)).over("symbol") & (f < s)
    return up.fill_null(False), down.fill_null(False)


class SmaCross(VectorStrategy):
    """Long-only SMA crossover: fast crossing above slow buys with all equity (split evenly across
    symbols); crossing below closes. Crosses are strict, as in ``backtesting.lib.crossover``."""

    name: ClassVar[str] = "sma_cross"
    Params: ClassVar[type[StrategyParams]] = SmaCrossParams

    def analytics(self, params: SmaCrossParams) -> tuple[FeatureStep, ...]:
        """The SMA pair."""
        return (lambda f: add_sma_pair(f, fast=params.fast, slow=params.slow),)

    def warmup_bars(self, params: SmaCrossParams) -> int:
        """The slow window."""
        return params.slow

    def signals(self, frame: pl.DataFrame, params: SmaCrossParams) -> pl.DataFrame:
        """1/n_symbols after a cross up, 0 after a cross down, null otherwise."""
        weight = 1.0 / max(frame.get_column("symbol").n_unique(), 1)
        up, down = _crosses(frame)
        return frame.select(
            "symbol", "ts",
            pl.when(up).then(pl.lit(weight)).when(down).then(pl.lit(0.0)).otherwise(None).alias("target"),
        )


class SmaCrossEvents(EventStrategy):
    """The same SMA crossover written bar by bar (it reconciles trade for trade with ``sma_cross``)."""

    name: ClassVar[str] = "sma_cross_events"
    Params: ClassVar[type[StrategyParams]] = SmaCrossParams

    def analytics(self, params: SmaCrossParams) -> tuple[FeatureStep, ...]:
        """The SMA pair."""
        return (lambda f: add_sma_pair(f, fast=params.fast, slow=params.slow),)

    def on_bar(self, ctx: Context) -> None:
        """Buy on a cross up when flat; close on a cross down."""
        weight = 1.0 / len(ctx.symbols)
        for symbol in ctx.symbols:
            fast, slow = ctx.history(symbol, "sma_fast", 2), ctx.history(symbol, "sma_slow", 2)
            if fast.shape[0] < 2:
                continue
            if fast[0] < slow[0] and fast[1] > slow[1] and ctx.position(symbol) == 0:
                ctx.order_target_weight(symbol, weight)
            elif fast[0] > slow[0] and fast[1] < slow[1] and ctx.position(symbol) > 0:
                ctx.order_target_weight(symbol, 0.0)


class RsiReversionParams(StrategyParams):
    """RSI period and the oversold/overbought thresholds."""

    period: int = Field(14, ge=2, description="RSI period, bars")
    lower: float = Field(30.0, gt=0, lt=100, description="buy below this RSI")
    upper: float = Field(70.0, gt=0, lt=100, description="sell above this RSI")

    @model_validator(mode="after")
    def _ordered(self) -> RsiReversionParams:
        if self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower}) must be below upper ({self.upper})")
        return self


class RsiReversion(VectorStrategy):
    """Long-only RSI mean reversion: buy when RSI falls below ``lower``, close when it rises above
    ``upper``. RSI comes from :func:`pipelines.indicators.add_indicators` (the live feature code)."""

    name: ClassVar[str] = "rsi_reversion"
    Params: ClassVar[type[StrategyParams]] = RsiReversionParams

    def analytics(self, params: RsiReversionParams) -> tuple[FeatureStep, ...]:
        """The live indicator set, with the requested RSI period."""
        cfg = IndicatorConfig(rsi_period=params.period)
        return (lambda f: add_indicators(f, cfg),)

    def warmup_bars(self, params: RsiReversionParams) -> int:
        """The RSI period."""
        return params.period + 1

    def signals(self, frame: pl.DataFrame, params: RsiReversionParams) -> pl.DataFrame:
        """1/n_symbols below ``lower``, 0 above ``upper``, null in between."""
        weight = 1.0 / max(frame.get_column("symbol").n_unique(), 1)
        rsi = pl.col(f"rsi_{params.period}")
        return frame.select(
            "symbol", "ts",
            pl.when(rsi < params.lower).then(pl.lit(weight)).when(rsi > params.upper).then(pl.lit(0.0))
            .otherwise(None).alias("target"),
        )


class TopNParams(StrategyParams):
    """How many ranked symbols to hold and how often to rebalance."""

    n: int = Field(3, ge=1, description="symbols to hold")
    period: int = Field(7, ge=1, description="rebalance every this many bars")
    lookback: int = Field(30, ge=5, description="ranker lookback, bars")
    min_bars: int = Field(60, ge=10, description="bars a symbol needs before it is ranked")


class TopN(VectorStrategy):
    """Hold the baseline ranker's Top-N (``pipelines.ranking``) in equal weights, rebalanced every
    ``period`` bars. Each ranking uses only bars up to the rebalance bar."""

    name: ClassVar[str] = "topn"
    Params: ClassVar[type[StrategyParams]] = TopNParams

    def analytics(self, params: TopNParams) -> tuple[FeatureStep, ...]:
        """The live indicator set the ranker reads."""
        return (lambda f: add_indicators(f, IndicatorConfig()),)

    def warmup_bars(self, params: TopNParams) -> int:
        """Bars before the first ranking."""
        return max(params.min_bars, 50)

    def signals(self, frame: pl.DataFrame, params: TopNParams) -> pl.DataFrame:
        """Equal weights for the Top-N at each rebalance bar (``rebalance`` set), 0 for the others."""
        timeframe = frame.get_column("timeframe")[0]
        cfg = RankingConfig(lookback_bars=params.lookback, min_bars=params.min_bars)
        clock = np.unique(frame.get_column("ts").to_numpy())
        symbols = sorted(set(frame.get_column("symbol").to_list()))
        rows: list[tuple[str, int, float]] = []
        for ts in clock[params.min_bars - 1:: params.period]:
            ranking = rank_symbols(frame.filter(pl.col("ts") <= int(ts)), timeframe=timeframe, cfg=cfg)
            if ranking.as_of_ts != int(ts):
                continue  # not every symbol has a bar here yet; rank at the next rebalance bar
            top = {r.symbol for r in ranking.ranked[: params.n]}
            rows.extend((s, int(ts), (1.0 / params.n) if s in top else 0.0) for s in symbols)
        return pl.DataFrame(rows, schema={"symbol": pl.String, "ts": pl.Int64, "target": pl.Float64},
                            orient="row").with_columns(rebalance=pl.lit(True))


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (SmaCross, SmaCrossEvents, RsiReversion, TopN)
}


def get_strategy(name: str) -> Strategy:
    """A built-in strategy by name.

    Raises
    ------
    ConfigError
        Listing the valid names when ``name`` is unknown.

    >>> get_strategy("sma_cross").name
    'sma_cross'
    """
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; valid: {', '.join(sorted(STRATEGIES))}") from None
