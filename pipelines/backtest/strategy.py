"""The versioned strategy interface: vectorised (``signals``) and event-driven (``on_bar``/``on_signal``).

Strategies are classes without state of their own; parameters arrive as a frozen pydantic model.
Both styles receive features from :meth:`Strategy.features`, which applies the strategy's
analytics steps (the same ``pipelines`` functions the live system runs) to the candles.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationError

from cluster.errors import ConfigError

if TYPE_CHECKING:
    from pipelines.backtest.context import Context

INTERFACE_VERSION = 1

FeatureStep = Callable[[pl.DataFrame], pl.DataFrame]
"""A causal analytics step: candles (plus earlier steps' columns) in, the same rows plus columns out."""


def sort_by_symbol_ts(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` sorted by symbol then ts; returned as is when it already is (sweeps call this often)."""
    if frame.height < 2:
        return frame
    ordered = frame.select(
        ((pl.col("symbol") > pl.col("symbol").shift(1))
         | ((pl.col("symbol") == pl.col("symbol").shift(1)) & (pl.col("ts") > pl.col("ts").shift(1))))
        .slice(1).all()
    ).item()
    return frame if ordered else frame.sort("symbol", "ts")


class Style(StrEnum):
    """How a strategy is driven."""

    VECTORISED = "vectorised"
    EVENT = "event"


class StrategyParams(BaseModel):
    """Base class of strategy parameters: frozen, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Signal:
    """A target-position signal for one symbol, as published live on ``coinray:signals``."""

    symbol: str
    ts: int
    target_weight: float


class Strategy(ABC):
    """Base of every strategy (``INTERFACE_VERSION`` 1).

    Subclasses set ``name``, ``Params`` and ``style`` and implement :class:`VectorStrategy` or
    :class:`EventStrategy`. Override :meth:`analytics` to register extra causal feature steps;
    they run on every replayed bar exactly as they do live.
    """

    INTERFACE_VERSION: ClassVar[int] = INTERFACE_VERSION
    name: ClassVar[str]
    Params: ClassVar[type[StrategyParams]]
    style: ClassVar[Style]

    def analytics(self, params: Any) -> tuple[FeatureStep, ...]:
        """Extra feature steps (causal frame -> frame functions) this strategy needs; none by default."""
        return ()

    def features(self, candles: pl.DataFrame, params: Any) -> pl.DataFrame:
        """Apply :meth:`analytics` in order to the candles, per symbol, sorted by symbol and ts."""
        frame = sort_by_symbol_ts(candles)
        for step in self.analytics(params):
            frame = sort_by_symbol_ts(step(frame))
        return frame

    def warmup_bars(self, params: Any) -> int:
        """Bars of history a feature needs before it is defined (documentation and walk-forward)."""
        return 0


class VectorStrategy(Strategy):
    """A strategy that turns a whole feature frame into target weights at once (the sweep fast path)."""

    style: ClassVar[Style] = Style.VECTORISED

    @abstractmethod
    def signals(self, frame: pl.DataFrame, params: Any) -> pl.DataFrame:
        """Target positions from features.

        Parameters
        ----------
        frame:
            Output of :meth:`features`: columns symbol, timeframe, ts, OHLCV and feature columns.
        params:
            The validated parameters.

        Returns
        -------
        polars.DataFrame
            Columns ``symbol``, ``ts`` and ``target`` (fraction of equity to hold after the bar
            closes; null keeps the previous target), optionally ``rebalance`` (bool: trade back
            to the target even if it did not change). The value at ``ts`` may use rows with
            ``ts`` at or before it only.
        """


class EventStrategy(Strategy):
    """A strategy called once per closed bar with a :class:`~pipelines.backtest.context.Context`."""

    style: ClassVar[Style] = Style.EVENT

    def on_start(self, ctx: Context) -> None:
        """Called once before the first bar."""

    @abstractmethod
    def on_bar(self, ctx: Context) -> None:
        """Called after every bar closes; place orders through ``ctx``."""

    def on_signal(self, ctx: Context, signal: Signal) -> None:
        """Called for each signal (live: from the signal stream); by default trade to its target."""
        ctx.order_target_weight(signal.symbol, signal.target_weight)


def parse_params(strategy: Strategy, raw: Mapping[str, Any]) -> StrategyParams:
    """Validate ``raw`` against ``strategy.Params``.

    Raises
    ------
    ConfigError
        Naming the valid parameters when a key is unknown or a value is invalid.
    """
    fields = strategy.Params.model_fields
    unknown = sorted(set(raw) - set(fields))
    valid = ", ".join(f"{k} (default {f.default!r})" for k, f in fields.items())
    if unknown:
        raise ConfigError(f"strategy {strategy.name!r} has no parameter(s) {', '.join(unknown)}; "
                          f"valid: {valid or 'none'}")
    try:
        return strategy.Params.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid parameters for {strategy.name!r}: {problems}; valid: {valid}") from exc


def parse_param_value(text: str) -> Any:
    """``k=v`` command-line values: int, then float, then bool, else the text.

    >>> [parse_param_value(v) for v in ("10", "0.5", "true", "BTC/USDT")]
    [10, 0.5, True, 'BTC/USDT']
    """
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text
