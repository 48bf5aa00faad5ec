"""Plain evaluation functions for sweeps, and the thin Tune trainable that reports them."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from cluster.errors import ConfigError
from pipelines.backtest import BacktestConfig, Panel, build_panel, get_strategy, parse_params, run_backtest
from pipelines.backtest.metrics import METRIC_NAMES

INVALID_SCORE = -1e12  # reported (for a maximised metric) by a parameter set the strategy rejects


def metric_sign(metric: str, mode: str) -> float:
    """+1 when larger is better, -1 otherwise; validates the metric name."""
    if metric not in METRIC_NAMES:
        raise ConfigError(f"unknown metric {metric!r}; valid: {', '.join(METRIC_NAMES)}")
    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be max or min, not {mode!r}")
    return 1.0 if mode == "max" else -1.0


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> Iterator[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order.

    >>> list(expand_grid({"fast": [5, 10], "slow": [20]}))
    [{'fast': 5, 'slow': 20}, {'fast': 10, 'slow': 20}]
    """
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def evaluate(config: Mapping[str, Any], *, candles: pl.DataFrame, strategy_name: str, fixed: Mapping[str, Any],
             cfg: BacktestConfig, timeframe: str, trade_from_ms: int | None = None,
             panel: Panel | None = None) -> dict[str, Any]:
    """Backtest one parameter set; return its metrics (``valid`` = 0 when the strategy rejects it).

    Invalid combinations (e.g. ``fast >= slow``) report ``valid=0`` and every metric NaN, so a
    sweep can go on; the sweep ranks them last.
    """
    strategy = get_strategy(strategy_name)
    try:
        params = parse_params(strategy, {**fixed, **config})
    except ConfigError as exc:
        if "has no parameter" in str(exc):
            raise
        return {"valid": 0, **{m: math.nan for m in METRIC_NAMES}, "error": str(exc)}
    result = run_backtest(candles, strategy, params, cfg, timeframe=timeframe, trade_from_ms=trade_from_ms,
                          panel=panel)
    metrics = result.metrics.model_dump()
    if metrics["profit_factor"] is None:
        metrics["profit_factor"] = math.nan
    return {"valid": 1, **metrics}


def evaluate_grid(param_sets: Sequence[Mapping[str, Any]], *, candles: pl.DataFrame, strategy_name: str,
                  fixed: Mapping[str, Any], cfg: BacktestConfig, timeframe: str,
                  trade_from_ms: int | None = None) -> list[dict[str, Any]]:
    """:func:`evaluate` for each parameter set in this process (one shared panel); rows carry the params."""
    panel = build_panel(candles, timeframe=timeframe)
    return [{**dict(p), **evaluate(p, candles=candles, strategy_name=strategy_name, fixed=fixed, cfg=cfg,
                                   timeframe=timeframe, trade_from_ms=trade_from_ms, panel=panel)}
            for p in param_sets]


def best_row(rows: Sequence[Mapping[str, Any]], *, metric: str, mode: str) -> Mapping[str, Any]:
    """The valid row with the best ``metric`` (NaN ranks last)."""
    sign = metric_sign(metric, mode)
    valid = [r for r in rows if r.get("valid") and not math.isnan(float(r[metric]))]
    if not valid:
        raise ConfigError("no parameter set produced a valid result")
    return max(valid, key=lambda r: sign * float(r[metric]))


def backtest_trainable(config: dict[str, Any], *, candles: pl.DataFrame, strategy_name: str,
                       fixed: dict[str, Any], cfg: BacktestConfig, timeframe: str, metric: str,
                       mode: str) -> None:
    """Tune trainable: evaluate ``config`` and report its metrics (candles come via ``with_parameters``)."""
    from ray import tune

    row = evaluate(config, candles=candles, strategy_name=strategy_name, fixed=fixed, cfg=cfg, timeframe=timeframe)
    if not row["valid"]:
        row[metric] = INVALID_SCORE * metric_sign(metric, mode)
    tune.report({k: v for k, v in row.items() if k != "error"})
