"""Walk-forward, out-of-sample evaluation of the ensemble ranker against two baselines.

At each rebalance bar ``t`` (every ``rebalance_bars`` on the common clock, after ``min_train_bars``):
the ensemble, retrained every ``retrain_bars`` on rows whose labels end before ``t`` only, scores
every symbol from features at ``t``; the Top-N are held at equal weight from the close of ``t`` to
the close of the next rebalance bar (weights drift with prices in between), and fees of
``fee_bps`` are paid on the turnover sum(|w_new - w_drifted|) at each rebalance, including the
initial purchase. Baselines on the same clock and fees: equal-weight buy-and-hold of the whole
universe (bought at the first rebalance, never rebalanced) and a Top-N of the ``momentum_bars``
return rebalanced on the same bars.

Metrics: Sharpe = mean / std of per-bar portfolio returns x sqrt(bars per year); return % over the
whole test; ``turnover`` = mean sum(|dw|) per rebalance; ``hit_rate`` = share of picks whose
holding-period return was positive; ``ic`` = mean Spearman correlation, across symbols, between
the score at ``t`` and the holding-period return.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cluster.schemas import BARS_PER_YEAR, TIMEFRAME_MS
from pipelines.models.calibration import brier_score, expected_calibration_error, reliability_table
from pipelines.models.ensemble import EnsembleConfig, fit_ensemble, prepare_frame

logger = logging.getLogger(__name__)


class EvalConfig(BaseModel):
    """Walk-forward settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top_n: int = Field(3, ge=1, description="Symbols held after each rebalance.")
    fee_bps: float = Field(10.0, ge=0, description="Fee per unit of turnover, in basis points (10 = 0.1%).")
    rebalance_bars: int | None = Field(None, ge=1, description="Bars between rebalances; None = the horizon.")
    retrain_bars: int | None = Field(None, ge=1, description="Bars between refits; None = 7 x rebalance.")
    min_train_bars: int | None = Field(
        None, ge=50, description="Clock bars before the first rebalance; None = min(500, a third of the clock).")
    momentum_bars: int = Field(20, ge=1, description="Look-back of the momentum baseline.")
    ensemble: EnsembleConfig = EnsembleConfig()


@dataclass
class PathResult:
    """Per-bar returns and rebalance bookkeeping of one strategy."""

    returns: np.ndarray
    turnovers: list[float]
    picks_returns: list[float]


def common_clock(frame: pl.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(ts of the bars every symbol has, symbols sorted, closes as clock x symbols)."""
    symbols = sorted(frame.get_column("symbol").unique().to_list())
    wide = frame.select("ts", "symbol", "close").pivot(on="symbol", index="ts", values="close").sort("ts")
    wide = wide.drop_nulls()
    return wide.get_column("ts").to_numpy(), symbols, wide.select(symbols).to_numpy()


def _simulate(close: np.ndarray, rebalances: list[int], targets: list[np.ndarray], fee: float,
              end: int) -> PathResult:
    """Hold ``targets[k]`` (weights over symbols) from rebalance k to k+1 (or ``end``)."""
    returns: list[float] = []
    turnovers: list[float] = []
    picks: list[float] = []
    w = np.zeros(close.shape[1])
    for k, (i, target) in enumerate(zip(rebalances, targets, strict=True)):
        stop = rebalances[k + 1] if k + 1 < len(rebalances) else end
        turnover = float(np.abs(target - w).sum())
        turnovers.append(turnover)
        w = target.copy()
        cost = turnover * fee
        held = np.flatnonzero(target > 0)
        picks.extend((close[stop, held] / close[i, held] - 1).tolist())
        for t in range(i + 1, stop + 1):
            gross = close[t] / close[t - 1]
            value = float((w * gross).sum())
            r = value - 1.0
            if t == i + 1:
                r = (1.0 - cost) * (1.0 + r) - 1.0
            returns.append(r)
            w = w * gross / value if value > 0 else w
    return PathResult(np.asarray(returns), turnovers, picks)


def _sharpe(r: np.ndarray, timeframe: str) -> float:
    sd = float(r.std(ddof=1)) if r.size > 1 else 0.0
    return float(r.mean() / sd * math.sqrt(BARS_PER_YEAR[timeframe])) if sd > 0 else 0.0


def _total_pct(r: np.ndarray) -> float:
    return float((np.prod(1.0 + r) - 1.0) * 100.0)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _top_weights(scores: np.ndarray, symbols: list[str], n: int) -> np.ndarray:
    order = sorted(range(len(symbols)), key=lambda j: (-scores[j], symbols[j]))[:n]
    w = np.zeros(len(symbols))
    w[order] = 1.0 / len(order)
    return w


def evaluate_walk_forward(features: pl.DataFrame, *, timeframe: str, cfg: EvalConfig,
                          sentiment: pl.DataFrame | None = None) -> dict[str, object]:
    """Run the evaluation on one timeframe of a feature frame (``build_features`` output).

    Raises
    ------
    ValueError
        When fewer than ``top_n`` symbols share a clock or the data is too short for one rebalance.
    """
    frame = features.filter(pl.col("timeframe") == timeframe)
    prepared, names, used = prepare_frame(frame, cfg.ensemble, sentiment)
    clock, symbols, close = common_clock(prepared)
    if len(symbols) < cfg.top_n:
        raise ValueError(f"{len(symbols)} symbols cannot fill a Top-{cfg.top_n}")
    step = cfg.rebalance_bars or cfg.ensemble.horizon_bars
    retrain = cfg.retrain_bars or 7 * step
    warmup = cfg.min_train_bars if cfg.min_train_bars is not None else min(500, len(clock) // 3)
    rebalances = list(range(max(warmup, cfg.momentum_bars), len(clock) - 1, step))
    if not rebalances:
        raise ValueError(f"{len(clock)} common bars leave no rebalance after {warmup} training bars")
    end = len(clock) - 1
    fee = cfg.fee_bps / 10_000.0
    by_ts = prepared.filter(pl.col("ts").is_in(clock[rebalances].tolist()))
    model = None
    last_fit = -(10**9)
    model_targets, mom_targets, ics, oos_p, oos_y = [], [], [], [], []
    refits = 0
    for k, i in enumerate(rebalances):
        if model is None or i - last_fit >= retrain:
            model = fit_ensemble(prepared, names, cfg.ensemble, sentiment_used=used,
                                 bar_ms=TIMEFRAME_MS[timeframe], decision_ts=int(clock[i]))
            last_fit, refits = i, refits + 1
        rows = model.predict(by_ts.filter(pl.col("ts") == int(clock[i])))
        p_map = dict(zip(rows.get_column("symbol").to_list(), rows.get_column("p_up").to_list(), strict=True))
        scores = np.array([p_map.get(s, -1.0) for s in symbols])
        model_targets.append(_top_weights(scores, symbols, cfg.top_n))
        mom = close[i] / close[i - cfg.momentum_bars] - 1
        mom_targets.append(_top_weights(mom, symbols, cfg.top_n))
        stop = rebalances[k + 1] if k + 1 < len(rebalances) else end
        ics.append(_spearman(scores, close[stop] / close[i] - 1))
        lab = rows.filter(pl.col("tb_label").is_not_null())
        oos_p.extend(lab.get_column("p_up").to_list())
        oos_y.extend((lab.get_column("tb_label").to_numpy() == 1).astype(int).tolist())
    ens = _simulate(close, rebalances, model_targets, fee, end)
    mom_path = _simulate(close, rebalances, mom_targets, fee, end)
    eq = _simulate(close, rebalances[:1], [np.full(len(symbols), 1.0 / len(symbols))], fee, end)
    p_arr, y_arr = np.asarray(oos_p), np.asarray(oos_y)
    finite_ic = [x for x in ics if math.isfinite(x)]
    return {
        "oos_sharpe": round(_sharpe(ens.returns, timeframe), 4),
        "equal_weight_sharpe": round(_sharpe(eq.returns, timeframe), 4),
        "momentum_sharpe": round(_sharpe(mom_path.returns, timeframe), 4),
        "oos_return_pct": round(_total_pct(ens.returns), 4),
        "equal_weight_return_pct": round(_total_pct(eq.returns), 4),
        "momentum_return_pct": round(_total_pct(mom_path.returns), 4),
        "n_rebalances": len(rebalances),
        "turnover": round(float(np.mean(ens.turnovers)), 4),
        "hit_rate": round(float(np.mean(np.asarray(ens.picks_returns) > 0)), 4),
        "ic": round(float(np.mean(finite_ic)), 4) if finite_ic else None,
        "momentum_turnover": round(float(np.mean(mom_path.turnovers)), 4),
        "momentum_hit_rate": round(float(np.mean(np.asarray(mom_path.picks_returns) > 0)), 4),
        "refits": refits,
        "timeframe": timeframe, "symbols": symbols, "top": cfg.top_n, "fee_bps": cfg.fee_bps,
        "rebalance_bars": step, "retrain_bars": retrain, "min_train_bars": warmup,
        "horizon_bars": cfg.ensemble.horizon_bars,
        "start_ts": int(clock[rebalances[0]]), "end_ts": int(clock[end]),
        "sentiment_used": used,
        "calibration_oos": {
            "n": int(p_arr.size),
            "brier": round(brier_score(p_arr, y_arr), 6) if p_arr.size else None,
            "brier_hindsight_base_rate": (round(brier_score(np.full(p_arr.size, y_arr.mean()), y_arr), 6)
                                          if p_arr.size else None),
            "ece": round(expected_calibration_error(p_arr, y_arr), 6) if p_arr.size else None,
            "reliability": reliability_table(p_arr, y_arr) if p_arr.size else [],
        },
    }
