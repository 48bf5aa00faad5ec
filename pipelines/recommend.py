"""Top-N buy recommendations from the ensemble: composite score, rationale, ATR stop/target, invalidation.

Composite per symbol at the common as-of bar (symbols failing the baseline's history/staleness
rules or the minimum dollar volume are excluded with the reason):

==================  ===================================================================
contribution        value
==================  ===================================================================
ensemble            weight_ensemble x robust_z(ensemble log-odds)
confidence_matrix   weight_confidence x 2 x composite signal x composite confidence
volatility          -weight_volatility x robust_z(annualised volatility)
liquidity           weight_liquidity x robust_z(log10 dollar volume)
anomaly             -anomaly_penalty when max |return z| over the last 5 bars > anomaly_z
==================  ===================================================================

A symbol is a *buy* when its calibrated P(take-profit before stop) exceeds the training base rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cluster.schemas import TIMEFRAME_MS
from cluster.settings import RankingConfig
from pipelines.models.ensemble import EnsembleConfig, EnsembleModel, fit_ensemble, prepare_frame
from pipelines.ranking import RankedSymbol, Ranking, compute_factors, describe_factor, robust_z

CONTRIBUTIONS: tuple[str, ...] = ("ensemble", "confidence_matrix", "volatility", "liquidity", "anomaly")
DEFAULT_HORIZON_BARS: dict[str, int] = {"1m": 60, "5m": 48, "15m": 32, "1h": 24, "4h": 6, "1d": 5}
ANOMALY_BARS = 5

_FEATURE_TEXT: dict[str, str] = {
    "f_ret_1": "last-bar log return {v:+.4f}", "f_rsi": "RSI(14) {rsi:.0f}",
    "f_macd_hist_atr": "MACD histogram {v:+.2f} ATR", "f_bb_pctb": "Bollinger %b {v:.2f}",
    "f_bb_width": "Bollinger width {pct:.1f}%", "f_atr_pct": "ATR {pct:.2f}% of price",
    "f_adx": "ADX {adx:.0f}", "f_di_spread": "+DI minus -DI {adx:+.0f}",
    "f_close_ema20": "close {pct:+.2f}% vs EMA20", "f_close_ema50": "close {pct:+.2f}% vs EMA50",
    "f_close_vwap20": "close {pct:+.2f}% vs 20-bar VWAP", "f_trend_tstat": "30-bar trend t-stat {v:+.1f}",
    "f_trend_r2": "30-bar trend R2 {v:.2f}", "f_vol_cc": "realised volatility {pct:.0f}% annualised",
    "f_vol_ratio": "Parkinson/close volatility ratio {v:.2f}", "f_ret_rz": "return z-score {v:+.1f}",
    "f_volume_rz": "volume z-score {v:+.1f}", "f_volume_spike": "volume {v:.1f}x its median",
    "f_pattern_score": "candlestick pattern score {v:+.0f}", "f_corr_ref": "correlation to BTC {v:.2f}",
    "f_beta_ref": "beta to BTC {v:.2f}", "z_momentum": "momentum z {v:+.2f} across symbols",
    "z_trend": "trend z {v:+.2f} across symbols", "z_mean_reversion": "mean-reversion z {v:+.2f} across symbols",
    "sentiment_score": "sentiment {v:+.2f}", "sentiment_n": "{v:.0f} texts",
}


class RankerConfig(BaseModel):
    """Composite weights, filters and trade levels of the ensemble ranker (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top_n: int = Field(5, ge=1, le=100)
    min_dollar_volume: float = Field(1_000_000.0, ge=0, description="Mean dollar volume per bar below which "
                                                                   "a symbol is excluded (USD).")
    weight_ensemble: float = Field(1.0, ge=0)
    weight_confidence: float = Field(0.5, ge=0)
    weight_volatility: float = Field(0.25, ge=0)
    weight_liquidity: float = Field(0.25, ge=0)
    anomaly_z: float = Field(4.0, gt=0, description="|return z| that flags an anomaly.")
    anomaly_penalty: float = Field(1.0, ge=0, description="Score subtracted from a flagged symbol.")
    reasons: int = Field(3, ge=1, le=10, description="Largest contributions named in each rationale.")
    ensemble: EnsembleConfig = EnsembleConfig()
    baseline: RankingConfig = RankingConfig()


@dataclass(frozen=True)
class Recommendation:
    """One buy call with its levels and what would invalidate it."""

    symbol: str
    rank: int
    entry: float
    stop: float
    target: float
    atr: float
    p_up: float
    confidence: float
    horizon_bars: int
    expires_ts: int
    reasons: list[dict[str, Any]]
    invalidation: list[str]
    anomaly: bool


@dataclass(frozen=True)
class EnsembleRanking(Ranking):
    """A :class:`~pipelines.ranking.Ranking` plus buy recommendations and model facts."""

    recommendations: list[Recommendation] = field(default_factory=list)
    base_rate: float = 0.0
    sentiment_used: bool = False
    model: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def ranker_config_for(timeframe: str, *, top_n: int = 5, baseline: RankingConfig | None = None) -> RankerConfig:
    """Default ranker settings for ``timeframe`` (label horizon from :data:`DEFAULT_HORIZON_BARS`).

    >>> ranker_config_for("1d", top_n=3).ensemble.horizon_bars
    5
    """
    return RankerConfig(top_n=top_n, baseline=baseline or RankingConfig(),
                        ensemble=EnsembleConfig(horizon_bars=DEFAULT_HORIZON_BARS[timeframe]))


def _reason_text(name: str, value: float) -> str:
    template = _FEATURE_TEXT.get(name, name + " {v:+.4g}")
    return template.format(v=value, pct=value * 100, rsi=value * 50 + 50, adx=value * 100)


def rationale_reasons(model: EnsembleModel, row: dict[str, Any], shap: np.ndarray, *,
                      top: int) -> list[dict[str, Any]]:
    """The ``top`` largest terms of the ensemble log-odds for one row, each with its rule text.

    Terms: the statistical and sentiment components (meta-model coefficient x standardised value)
    and every XGBoost feature's TreeSHAP value scaled by the meta-model's XGBoost weight.
    """
    share = model.xgb_share()
    terms: list[tuple[str, float, str]] = []
    for j, name in enumerate(model.xgb.features):
        value = row.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            text = f"{name} missing"
        else:
            text = _reason_text(name, float(value))
        terms.append((f"xgboost:{name}", share * float(shap[j]), text))
    terms.append(("statistical", float(row["meta_statistical"]),
                  f"statistical score {row['stat_score']:+.2f} (momentum z {row['z_momentum'] or 0:+.2f}, "
                  f"trend z {row['z_trend'] or 0:+.2f}, mean-reversion z {row['z_mean_reversion'] or 0:+.2f})"))
    if "sentiment" in model.components:
        terms.append(("sentiment", float(row["meta_sentiment"]), f"sentiment {row['sentiment_score'] or 0:+.2f}"))
    terms.sort(key=lambda t: (-abs(t[1]), t[0]))
    return [{"factor": k, "log_odds": round(v, 6), "text": f"{t} ({'raises' if v > 0 else 'lowers'} the odds)"}
            for k, v, t in terms[:top]]


def _anomaly_z(frame: pl.DataFrame, as_of: int) -> dict[str, float]:
    if "ret_rz_50" not in frame.columns:
        return {}
    tail = frame.filter(pl.col("ts") <= as_of).sort("ts").group_by("symbol").agg(
        pl.col("ret_rz_50").tail(ANOMALY_BARS).abs().max().alias("z"))
    return {r["symbol"]: float(r["z"]) if r["z"] is not None else 0.0 for r in tail.iter_rows(named=True)}


def _confidence(features: pl.DataFrame, as_of: int,
                sentiment: pl.DataFrame | None) -> tuple[dict[str, tuple[float, float]], str | None]:
    from cluster.errors import SchemaError
    from pipelines.confidence import ConfidenceConfig, composite_scores, confidence_matrix
    from pipelines.features import FeatureConfig

    fc = FeatureConfig()
    senti = None
    if sentiment is not None and sentiment.height:
        senti = (sentiment.filter(pl.col("ts") <= as_of).sort("ts").group_by("symbol")
                 .agg(pl.col("sentiment_score").last(), pl.col("sentiment_n").last()))
    try:
        matrix = confidence_matrix(features.filter(pl.col("ts") <= as_of), indicators=fc.indicators,
                                   stats=fc.stats, anomaly=fc.anomaly, cfg=ConfidenceConfig(), sentiment=senti)
    except SchemaError as exc:
        return {}, f"confidence matrix skipped: {exc}"
    comp = composite_scores(matrix)
    return {r["symbol"]: (float(r["score"]), float(r["confidence"])) for r in comp.iter_rows(named=True)}, None


def rank_universe(features: pl.DataFrame, *, timeframe: str, cfg: RankerConfig,
                  sentiment: pl.DataFrame | None = None, model: EnsembleModel | None = None) -> EnsembleRanking:
    """Score and rank every symbol of ``features`` on ``timeframe``; the Top-N buys get full rationale.

    Parameters
    ----------
    features:
        ``build_features`` output (any number of timeframes; one is used).
    timeframe:
        The timeframe to rank.
    cfg:
        Weights, filters and the ensemble settings.
    sentiment:
        Optional sentiment aggregates (symbol, ts, sentiment_score, sentiment_n); without them the
        ensemble has no sentiment component and the result says so in ``notes``.
    model:
        A fitted ensemble to reuse; None fits one on every label completed in ``features``.
    """
    frame = features.filter(pl.col("timeframe") == timeframe)
    raw, as_of, excluded = compute_factors(frame, timeframe=timeframe, cfg=cfg.baseline)
    weights = {"ensemble": cfg.weight_ensemble, "confidence_matrix": cfg.weight_confidence,
               "volatility": cfg.weight_volatility, "liquidity": cfg.weight_liquidity, "anomaly": cfg.anomaly_penalty}
    notes: list[str] = []
    if as_of is None or raw.height == 0:
        return EnsembleRanking(timeframe, 0, cfg.baseline.lookback_bars, [], excluded, weights, notes=notes)
    prepared, names, used = prepare_frame(frame, cfg.ensemble, sentiment)
    if model is None:
        model = fit_ensemble(prepared, names, cfg.ensemble, sentiment_used=used, bar_ms=TIMEFRAME_MS[timeframe])
    notes.append("sentiment component used" if model.sentiment_used
                 else "no sentiment aggregates: ensemble = statistical + XGBoost only")
    for sym, liq in zip(raw.get_column("symbol").to_list(), raw.get_column("liquidity").to_list(), strict=True):
        if liq is None or not math.isfinite(liq) or liq < cfg.min_dollar_volume:
            excluded[sym] = (f"liquidity ${liq or 0:,.0f} mean dollar volume below the "
                             f"${cfg.min_dollar_volume:,.0f} minimum")
    bad = raw.filter(pl.any_horizontal([pl.col(f).is_null() | pl.col(f).is_nan()
                                        for f in ("trend", "momentum", "volatility", "liquidity")]))
    for sym in bad.get_column("symbol").to_list():
        excluded.setdefault(sym, "factor undefined (not enough history for the indicators)")
    raw = raw.filter(~pl.col("symbol").is_in(list(excluded)))
    keep = raw.get_column("symbol").to_list()
    latest = model.predict(prepared.filter((pl.col("ts") == as_of) & pl.col("symbol").is_in(keep)))
    conf, conf_note = _confidence(frame, as_of, sentiment)
    if conf_note:
        notes.append(conf_note)
    anomaly_z = _anomaly_z(frame, as_of)
    table = raw.join(latest, on="symbol", how="inner", suffix="_m").sort("symbol")
    for sym in sorted(set(raw.get_column("symbol").to_list()) - set(table.get_column("symbol").to_list())):
        excluded[sym] = "no model row at the as-of bar"
    if table.height == 0:
        return EnsembleRanking(timeframe, as_of, cfg.baseline.lookback_bars, [], excluded, weights, notes=notes)
    z_ens = robust_z(table.get_column("ens_logit")).to_numpy()
    z_vol = robust_z(table.get_column("volatility")).to_numpy()
    z_liq = robust_z(table.get_column("liquidity").log10()).to_numpy()
    syms = table.get_column("symbol").to_list()
    contrib = {
        "ensemble": cfg.weight_ensemble * z_ens,
        "confidence_matrix": np.array([cfg.weight_confidence * 2 * math.prod(conf.get(s, (0.0, 0.0)))
                                       for s in syms]),
        "volatility": -cfg.weight_volatility * z_vol,
        "liquidity": cfg.weight_liquidity * z_liq,
        "anomaly": np.array([-cfg.anomaly_penalty if anomaly_z.get(s, 0.0) > cfg.anomaly_z else 0.0 for s in syms]),
    }
    score = np.sum(np.vstack(list(contrib.values())), axis=0)
    order = sorted(range(len(syms)), key=lambda i: (-float(score[i]), syms[i]))
    rows = table.to_dicts()
    shap = model.xgb.contributions(table.select(pl.col(c).cast(pl.Float64).fill_null(float("nan"))
                                                for c in model.xgb.features).to_numpy())
    base_rate = float(model.diagnostics.get("base_rate", 0.0))
    ranked: list[RankedSymbol] = []
    recs: list[Recommendation] = []
    for rank, i in enumerate(order, start=1):
        row = rows[i]
        sym = syms[i]
        factors = {"trend": float(row["trend"]), "momentum": float(row["momentum"]),
                   "volatility": float(row["volatility"]), "liquidity": float(row["liquidity"]),
                   "p_up": float(row["p_up"]), "stat_score": float(row["stat_score"] or 0.0),
                   "xgb_p": float(row["xgb_p"]), "confidence_signal": conf.get(sym, (0.0, 0.0))[0],
                   "confidence": conf.get(sym, (0.0, 0.0))[1], "anomaly_z": anomaly_z.get(sym, 0.0)}
        if model.sentiment_used:
            factors["sentiment"] = float(row.get("sentiment_score") or 0.0)
        contributions = {k: float(v[i]) for k, v in contrib.items()}
        reasons = rationale_reasons(model, row, shap[i], top=cfg.reasons)
        flagged = contributions["anomaly"] < 0
        text = _rationale(sym, rank, len(order), float(score[i]), factors, contributions, reasons,
                          base_rate=base_rate, lookback=cfg.baseline.lookback_bars, timeframe=timeframe)
        ranked.append(RankedSymbol(sym, rank, float(score[i]), factors, contributions, text, float(row["close"])))
        if len(recs) < cfg.top_n and factors["p_up"] > base_rate:
            recs.append(_recommend(sym, rank, row, factors, reasons, flagged, cfg, as_of, timeframe, base_rate))
    if len(recs) < cfg.top_n:
        notes.append(f"{len(recs)} of the requested {cfg.top_n} symbols have P(target first) above the "
                     f"base rate {base_rate:.3f}; only those are buy recommendations")
    return EnsembleRanking(timeframe, as_of, cfg.baseline.lookback_bars, ranked, excluded, weights,
                           recommendations=recs, base_rate=base_rate, sentiment_used=model.sentiment_used,
                           model=model.diagnostics, notes=notes)


def _rationale(symbol: str, rank: int, total: int, score: float, factors: dict[str, float],
               contributions: dict[str, float], reasons: list[dict[str, Any]], *, base_rate: float,
               lookback: int, timeframe: str) -> str:
    parts = sorted(contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    text = (f"{symbol} ranks #{rank} of {total} with composite score {score:+.2f}; calibrated P(target before stop) "
            f"{factors['p_up']:.3f} vs base rate {base_rate:.3f}. Composite: "
            + ", ".join(f"{k} {v:+.2f}" for k, v in parts if v != 0) + ".")
    text += " Model drivers: " + "; ".join(r["text"] for r in reasons) + "."
    text += (f" Context: {describe_factor('momentum', factors['momentum'], lookback=lookback, timeframe=timeframe)}, "
             f"{describe_factor('volatility', factors['volatility'], lookback=lookback, timeframe=timeframe)}.")
    if factors["anomaly_z"] > 0 and contributions.get("anomaly", 0.0) < 0:
        text += f" Anomaly flag: return z {factors['anomaly_z']:.1f} in the last {ANOMALY_BARS} bars."
    return text


def _recommend(symbol: str, rank: int, row: dict[str, Any], factors: dict[str, float], reasons: list[dict[str, Any]],
               flagged: bool, cfg: RankerConfig, as_of: int, timeframe: str, base_rate: float) -> Recommendation:
    ens = cfg.ensemble
    close = float(row["close"])
    atr = float(row["atr_14"])
    stop = close - ens.stop_atr * atr
    target = close + ens.take_profit_atr * atr
    expires = as_of + ens.horizon_bars * TIMEFRAME_MS[timeframe]
    ema50 = float(row["ema_50"])
    invalidation = [
        f"a close below the stop {stop:,.6g} ({ens.stop_atr:g} ATR under the entry)",
        f"no close at or above the target {target:,.6g} within {ens.horizon_bars} {timeframe} bars",
        f"calibrated P(target first) falling below the base rate {base_rate:.3f} on a later bar",
        f"trend turning: a close below the 50-bar EMA {ema50:,.6g}" if close >= ema50
        else f"trend failing to recover: no close above the 50-bar EMA {ema50:,.6g}",
    ]
    if flagged:
        invalidation.append("the flagged return anomaly reversing (a second outsized bar against the move)")
    return Recommendation(symbol=symbol, rank=rank, entry=close, stop=stop, target=target, atr=atr,
                          p_up=factors["p_up"], confidence=factors["confidence"],
                          horizon_bars=ens.horizon_bars, expires_ts=expires, reasons=reasons,
                          invalidation=invalidation, anomaly=flagged)
