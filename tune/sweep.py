"""Parameter sweeps on Ray Tune: grid specs, the Tuner built from a :class:`SweepConfig`, result tables."""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cluster.errors import CoinrayError, ConfigError
from pipelines.backtest import BacktestConfig, get_strategy
from pipelines.backtest.strategy import parse_param_value
from tune.trainables import backtest_trainable, expand_grid, metric_sign

logger = logging.getLogger(__name__)


class Search(StrEnum):
    """How trials are chosen."""

    GRID = "grid"
    RANDOM = "random"
    OPTUNA = "optuna"


class SweepConfig(BaseModel):
    """What to sweep and how.

    Parameters
    ----------
    strategy:
        Built-in strategy name.
    grid:
        Parameter name to candidate values (at least one parameter, each with at least one value).
    fixed:
        Parameters held constant.
    search:
        ``grid`` tries every combination; ``random`` and ``optuna`` try ``num_samples`` of them.
    metric, mode:
        What to optimise (a metric name of :class:`pipelines.backtest.BacktestMetrics`).
    seed:
        Seed of the random and Optuna searchers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str
    grid: dict[str, tuple[Any, ...]] = Field(min_length=1)
    fixed: dict[str, Any] = Field(default_factory=dict)
    search: Search = Search.GRID
    num_samples: int = Field(20, ge=1, description="trials for random/optuna search")
    metric: str = "sharpe"
    mode: str = "max"
    max_concurrent: int | None = Field(None, ge=1)
    seed: int = 0


def parse_grid(spec: str) -> tuple[str, tuple[Any, ...]]:
    """``name=start:stop:step`` (inclusive stop) or ``name=v1,v2,...``.

    Raises
    ------
    ConfigError
        When the spec is malformed or yields no value.

    >>> parse_grid("fast=5:20:5")
    ('fast', (5, 10, 15, 20))
    >>> parse_grid("lower=20,25.5")
    ('lower', (20, 25.5))
    """
    name, sep, body = spec.partition("=")
    if not sep or not name.strip() or not body.strip():
        raise ConfigError(f"grid spec {spec!r} must look like name=start:stop:step or name=v1,v2")
    if ":" in body:
        parts = [parse_param_value(p) for p in body.split(":")]
        if len(parts) != 3 or not all(isinstance(p, int | float) for p in parts) or parts[2] <= 0:
            raise ConfigError(f"grid spec {spec!r}: range needs numeric start:stop:step with step > 0")
        start, stop, step = parts
        values: tuple[Any, ...] = tuple(
            int(v) if all(isinstance(p, int) for p in parts) else round(float(v), 10)
            for v in np.arange(start, stop + step / 2, step)
        )
    else:
        values = tuple(parse_param_value(v) for v in body.split(",") if v.strip())
    if not values:
        raise ConfigError(f"grid spec {spec!r} yields no value")
    return name.strip(), values


def run_sweep(candles: pl.DataFrame, sweep: SweepConfig, cfg: BacktestConfig, *, timeframe: str,
              storage_dir: Path) -> dict[str, Any]:
    """Run the sweep as Tune trials across the cluster's CPUs (Ray must be running).

    The candles are put in the object store once (``tune.with_parameters``); each trial is a
    thin call of :func:`tune.trainables.evaluate`.

    Returns
    -------
    dict
        ``rows`` (params plus metrics per trial, best first), ``best_params``, ``best`` (its
        metrics), ``metric``, ``mode`` and ``trials``.
    """
    from ray import tune

    strategy = get_strategy(sweep.strategy)
    unknown = sorted((set(sweep.grid) | set(sweep.fixed)) - set(strategy.Params.model_fields))
    if unknown:
        raise ConfigError(f"strategy {sweep.strategy!r} has no parameter(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(strategy.Params.model_fields)}")
    sign = metric_sign(sweep.metric, sweep.mode)
    trainable = tune.with_parameters(backtest_trainable, candles=candles, strategy_name=sweep.strategy,
                                     fixed=dict(sweep.fixed), cfg=cfg, timeframe=timeframe, metric=sweep.metric,
                                     mode=sweep.mode)
    space, num_samples, search_alg = _space(sweep)
    tuner = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(metric=sweep.metric, mode=sweep.mode, num_samples=num_samples,
                                    search_alg=search_alg, max_concurrent_trials=sweep.max_concurrent),
        run_config=tune.RunConfig(storage_path=str(storage_dir.absolute()), name=f"sweep-{sweep.strategy}",
                                  verbose=0),
    )
    with contextlib.redirect_stdout(sys.stderr):  # Tune's progress tables must not mix into --json output
        grid = tuner.fit()
    rows = []
    for i in range(len(grid)):
        res = grid[i]
        if res.error is not None:
            raise CoinrayError(f"a sweep trial failed: {res.error}") from res.error
        config = res.config or {}
        row = {k: config[k] for k in sweep.grid}
        row.update({k: v for k, v in (res.metrics or {}).items() if k in _METRIC_KEYS})
        rows.append(row)
    valid = [r for r in rows if r.get("valid")]
    valid.sort(key=lambda r: -sign * _num(r.get(sweep.metric)))
    invalid = [r for r in rows if not r.get("valid")]
    if not valid:
        raise ConfigError("no parameter set in the sweep was valid for the strategy")
    best = valid[0]
    return {"strategy": sweep.strategy, "metric": sweep.metric, "mode": sweep.mode, "search": sweep.search.value,
            "trials": len(rows), "invalid": len(invalid), "best_params": {k: best[k] for k in sweep.grid},
            "best": {k: v for k, v in best.items() if k not in sweep.grid}, "rows": valid + invalid}


_METRIC_KEYS = frozenset({"valid", "final_equity", "return_pct", "annual_return_pct", "volatility_pct", "sharpe",
                          "sortino", "calmar", "max_drawdown_pct", "max_drawdown_duration_bars",
                          "max_drawdown_duration_days", "win_rate", "profit_factor", "expectancy",
                          "expectancy_pct", "exposure_pct", "turnover", "n_trades", "fees"})


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return -math.inf
    return out if math.isfinite(out) else -math.inf


def _space(sweep: SweepConfig) -> tuple[dict[str, Any], int, Any]:
    from ray import tune

    if sweep.search is Search.GRID:
        return {k: tune.grid_search(list(v)) for k, v in sweep.grid.items()}, 1, None
    space = {k: tune.choice(list(v)) for k, v in sweep.grid.items()}
    total = math.prod(len(v) for v in sweep.grid.values())
    samples = min(sweep.num_samples, total) if sweep.search is Search.RANDOM else sweep.num_samples
    if sweep.search is Search.RANDOM:
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return space, samples, BasicVariantGenerator(random_state=sweep.seed)
    from ray.tune.search.optuna import OptunaSearch

    return space, samples, OptunaSearch(seed=sweep.seed)


def grid_size(grid: Mapping[str, tuple[Any, ...]]) -> int:
    """Number of combinations of a grid."""
    return sum(1 for _ in expand_grid(grid))
