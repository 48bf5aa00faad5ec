"""The confidence scoring matrix: per symbol x factor, a signal in [-1, 1] and a confidence in [0, 1].

Factors and formulas (inputs are the newest bar of each series unless a window is named; ``K`` =
``pattern_bars``, ``N`` = the stats window, ``R`` = ``regime_bars``; ``clip01`` clips to [0, 1]):

=====================  ==============================================  ============================================
factor                 signal                                          confidence
=====================  ==============================================  ============================================
trend                  tanh(trend_tstat / trend_t_scale)               (trend_r2 + clip01(adx / 50)) / 2
momentum               (m1 + m2) / 2; m1 = (rsi - 50) / 50,            1 - abs(m1 - m2) / 2 (agreement)
                       m2 = tanh(macd_hist_scale * macd_hist / atr)
mean_reversion         clip(1 - 2 * bb_pctb, -1, 1)                    clip01(1 - adx / 50) (trendless market)
volatility_regime      -tanh(ln(vol_cc / median(vol_cc over R)))       valid vol_cc bars in R / R
volume_confirmation    sign(sum r over N) * tanh(ln(mean vol over N /  clip01(abs(sum r) / (std(r) sqrt(N)) / 2)
                       mean vol over the R - N bars before))
patterns               tanh(sum pattern_score over K / 2)              abs(sum score) / sum(bull + bear) over K
sentiment              clip(sentiment_score, -1, 1)                    n / (n + sentiment_half_n)
anomaly                -sign(z*) clip01((abs(z*) - z_thr) / z_thr)     clip01(abs(z*) / (2 z_thr))
composite              sum(w c s) / sum(w c)                           sum(w c) / sum(w)
=====================  ==============================================  ============================================

``z*`` is the robust return z-score of largest magnitude over the last K bars. A factor whose
inputs are missing (short history, no sentiment) gets signal 0 and confidence 0, so it does not
move the composite. Weights ``w`` come from :class:`ConfidenceConfig`.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from cluster.schemas import require_columns
from pipelines.anomalies import AnomalyConfig
from pipelines.indicators import IndicatorConfig
from pipelines.market_stats import StatsConfig

FACTORS: tuple[str, ...] = ("trend", "momentum", "mean_reversion", "volatility_regime", "volume_confirmation",
                            "patterns", "sentiment", "anomaly")
MATRIX_SCHEMA = {"exchange": pl.String, "symbol": pl.String, "timeframe": pl.String, "ts": pl.Int64,
                 "factor": pl.String, "signal": pl.Float64, "confidence": pl.Float64, "weight": pl.Float64,
                 "detail": pl.String}


class ConfidenceConfig(BaseModel):
    """Weights and scales of the confidence matrix (see the module docstring for the formulas)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight_trend: float = Field(1.0, ge=0)
    weight_momentum: float = Field(1.0, ge=0)
    weight_mean_reversion: float = Field(0.5, ge=0)
    weight_volatility_regime: float = Field(0.5, ge=0)
    weight_volume_confirmation: float = Field(0.5, ge=0)
    weight_patterns: float = Field(0.25, ge=0)
    weight_sentiment: float = Field(0.5, ge=0)
    weight_anomaly: float = Field(0.5, ge=0)
    trend_t_scale: float = Field(5.0, gt=0, description="t-statistic that maps to tanh(1) = 0.76.")
    macd_hist_scale: float = Field(5.0, gt=0, description="Multiplier of macd_hist / atr inside tanh.")
    pattern_bars: int = Field(5, ge=1, description="K: bars of pattern history summed.")
    regime_bars: int = Field(200, ge=10, description="R: bars of the volatility/volume baseline.")
    sentiment_half_n: float = Field(10.0, gt=0, description="Texts at which sentiment confidence is 0.5.")

    def weights(self) -> dict[str, float]:
        """Factor -> weight."""
        return {f: float(getattr(self, f"weight_{f}")) for f in FACTORS}


def _ok(*values: float) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _clip01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def _last(a: np.ndarray) -> float:
    return float(a[-1]) if a.shape[0] else float("nan")


def _factor_values(g: dict[str, np.ndarray], cols: dict[str, str], cfg: ConfidenceConfig,
                   sentiment: tuple[float, float] | None, z_thr: float, n: int) -> dict[str, tuple[float, float, str]]:
    out: dict[str, tuple[float, float, str]] = {}
    t, r2, adx = _last(g[cols["tstat"]]), _last(g[cols["r2"]]), _last(g[cols["adx"]])
    if _ok(t, r2, adx):
        out["trend"] = (math.tanh(t / cfg.trend_t_scale), (r2 + _clip01(adx / 50)) / 2,
                        f"t-stat {t:.2f}, R2 {r2:.2f}, ADX {adx:.1f}")
    rsi, hist, atr = _last(g[cols["rsi"]]), _last(g[cols["macd_hist"]]), _last(g[cols["atr"]])
    if _ok(rsi, hist, atr) and atr > 0:
        m1, m2 = (rsi - 50) / 50, math.tanh(cfg.macd_hist_scale * hist / atr)
        out["momentum"] = ((m1 + m2) / 2, 1 - abs(m1 - m2) / 2, f"RSI {rsi:.1f}, MACD hist/ATR {hist / atr:+.3f}")
    pctb = _last(g[cols["pctb"]])
    if _ok(pctb, adx):
        out["mean_reversion"] = (min(max(1 - 2 * pctb, -1.0), 1.0), _clip01(1 - adx / 50), f"%b {pctb:.2f}")
    vol = g[cols["vol"]][-cfg.regime_bars:]
    valid = vol[np.isfinite(vol)]
    if valid.shape[0] and _ok(_last(vol)) and np.median(valid) > 0 and _last(vol) > 0:
        ratio = _last(vol) / float(np.median(valid))
        out["volatility_regime"] = (-math.tanh(math.log(ratio)), valid.shape[0] / cfg.regime_bars,
                                    f"vol {_last(vol):.1%} vs median {np.median(valid):.1%}")
    ret, volume = g["log_ret_1"][-n:], g["volume"]
    base = volume[-cfg.regime_bars:-n]
    if ret.shape[0] == n and np.isfinite(ret).all() and base.shape[0] and base.mean() > 0 and volume[-n:].mean() > 0:
        move, sd = float(ret.sum()), float(ret.std(ddof=1))
        rel = float(volume[-n:].mean() / base.mean())
        conf = _clip01(abs(move) / (sd * math.sqrt(n)) / 2) if sd > 0 else 0.0
        out["volume_confirmation"] = (math.copysign(1.0, move) * math.tanh(math.log(rel)) if move else 0.0, conf,
                                      f"{n}-bar move {move:+.2%} on {rel:.2f}x volume")
    score, hits = g["pattern_score"][-cfg.pattern_bars:], g["pattern_hits"][-cfg.pattern_bars:]
    gross = g["pattern_bull"][-cfg.pattern_bars:] + g["pattern_bear"][-cfg.pattern_bars:]
    if score.shape[0] and np.isfinite(score).all():
        agree = abs(float(score.sum())) / float(gross.sum()) if gross.sum() > 0 else 0.0
        out["patterns"] = (math.tanh(float(score.sum()) / 2), agree,
                           f"{int(hits.sum())} pattern hits, net score {float(score.sum()):+.1f} over "
                           f"{score.shape[0]} bars")
    if sentiment is not None and _ok(*sentiment):
        s, k = sentiment
        out["sentiment"] = (min(max(s, -1.0), 1.0), k / (k + cfg.sentiment_half_n),
                            f"score {s:+.2f} from {k:.0f} texts")
    z = g[cols["ret_rz"]][-cfg.pattern_bars:]
    z = z[np.isfinite(z)]
    if z.shape[0]:
        zs = float(z[np.argmax(np.abs(z))])
        out["anomaly"] = (-math.copysign(1.0, zs) * _clip01((abs(zs) - z_thr) / z_thr) + 0.0,
                          _clip01(abs(zs) / (2 * z_thr)), f"largest return z {zs:+.2f}")
    return out


def confidence_matrix(
    features: pl.DataFrame,
    *,
    indicators: IndicatorConfig,
    stats: StatsConfig,
    anomaly: AnomalyConfig,
    cfg: ConfidenceConfig,
    sentiment: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The matrix for the newest bar of every (exchange, symbol, timeframe) in ``features``.

    Parameters
    ----------
    features:
        The feature frame (``build_features`` output, or a tail of it covering ``regime_bars``).
    indicators, stats, anomaly:
        The configs the features were computed with (they name the input columns).
    cfg:
        Weights and scales.
    sentiment:
        Optional frame with columns symbol, sentiment_score (in [-1, 1]), sentiment_n (texts).

    Returns
    -------
    polars.DataFrame
        One row per series x (factor in FACTORS + ``composite``): exchange, symbol, timeframe, ts
        (the as-of bar), factor, signal, confidence, weight, detail.
    """
    p, (fast, slow, sig), (bn, bk) = indicators.adx_period, indicators.macd, indicators.bollinger
    cols = {"tstat": f"trend_tstat_{stats.window}", "r2": f"trend_r2_{stats.window}", "adx": f"adx_{p}",
            "rsi": f"rsi_{indicators.rsi_period}", "macd_hist": f"macd_hist_{fast}_{slow}_{sig}",
            "atr": f"atr_{indicators.atr_period}", "pctb": f"bb_pctb_{bn}_{bk:g}", "vol": f"vol_cc_{stats.window}",
            "ret_rz": f"ret_rz_{anomaly.window}"}
    require_columns(features.columns, {"symbol", "timeframe", "ts", "volume", "log_ret_1", "pattern_bull",
                                       "pattern_bear", "pattern_score", "pattern_hits", *cols.values()})
    frame = features if "exchange" in features.columns else features.with_columns(exchange=pl.lit(""))
    senti: dict[str, tuple[float, float]] = {}
    if sentiment is not None:
        require_columns(sentiment.columns, {"symbol", "sentiment_score", "sentiment_n"}, what="sentiment")
        senti = {r["symbol"]: (float(r["sentiment_score"]), float(r["sentiment_n"]))
                 for r in sentiment.iter_rows(named=True)}
    weights = cfg.weights()
    needed = ["ts", "volume", "log_ret_1", "pattern_bull", "pattern_bear", "pattern_score", "pattern_hits",
              *cols.values()]
    rows: list[tuple[object, ...]] = []
    keys = ["exchange", "symbol", "timeframe"]
    for group in frame.sort(*keys, "ts").partition_by(keys, maintain_order=True):
        tail = group.tail(cfg.regime_bars)
        g = {c: tail.get_column(c).cast(pl.Float64).fill_null(float("nan")).to_numpy() for c in needed}
        ex, sym, tf = (group.get_column(k)[0] for k in keys)
        ts = int(group.get_column("ts")[-1])
        values = _factor_values(g, cols, cfg, senti.get(sym), anomaly.z_threshold, stats.window)
        num = den = 0.0
        for f in FACTORS:
            s, c, detail = values.get(f, (0.0, 0.0, "not enough data" if f != "sentiment" else "no sentiment"))
            rows.append((ex, sym, tf, ts, f, s, c, weights[f], detail))
            num += weights[f] * c * s
            den += weights[f] * c
        total = sum(weights.values())
        rows.append((ex, sym, tf, ts, "composite", num / den if den > 0 else 0.0,
                     den / total if total > 0 else 0.0, total, "weighted by weight x confidence"))
    return pl.DataFrame(rows, schema=MATRIX_SCHEMA, orient="row")


def composite_scores(matrix: pl.DataFrame) -> pl.DataFrame:
    """The ``composite`` rows as one row per series (exchange, symbol, timeframe, ts, score, confidence),
    best score first: the view the ranker and reports read."""
    return (matrix.filter(pl.col("factor") == "composite")
            .select("exchange", "symbol", "timeframe", "ts", score=pl.col("signal"), confidence=pl.col("confidence"))
            .sort(["score", "symbol"], descending=[True, False]))


def report_section(matrix: pl.DataFrame, *, timeframe: str, symbols: list[str] | None = None) -> dict[str, object]:
    """The confidence matrix of one timeframe as a JSON-able report section.

    Returns ``{"timeframe", "factors", "weights", "symbols": {symbol: {"composite": {"signal",
    "confidence"}, "factors": {factor: {"signal", "confidence", "detail"}}}}}`` for ``symbols`` (all
    when None), in composite order, best first.

    >>> m = pl.DataFrame([("", "A", "1d", 0, f, 0.5, 1.0, 1.0, "x") for f in (*FACTORS, "composite")],
    ...                  schema=MATRIX_SCHEMA, orient="row")
    >>> report_section(m, timeframe="1d")["symbols"]["A"]["composite"]
    {'signal': 0.5, 'confidence': 1.0}
    """
    part = matrix.filter(pl.col("timeframe") == timeframe)
    if symbols is not None:
        part = part.filter(pl.col("symbol").is_in(symbols))
    order = composite_scores(part).get_column("symbol").to_list()
    out: dict[str, dict[str, object]] = {}
    for symbol in order:
        rows = {r["factor"]: r for r in part.filter(pl.col("symbol") == symbol).iter_rows(named=True)}
        out[symbol] = {
            "composite": {"signal": round(rows["composite"]["signal"], 6),
                          "confidence": round(rows["composite"]["confidence"], 6)},
            "factors": {f: {"signal": round(rows[f]["signal"], 6), "confidence": round(rows[f]["confidence"], 6),
                            "detail": rows[f]["detail"]} for f in FACTORS if f in rows},
        }
    weights = {f: float(w) for f, w in part.filter(pl.col("factor") != "composite")
               .group_by("factor").agg(pl.col("weight").first()).iter_rows()}
    return {"timeframe": timeframe, "factors": list(FACTORS), "weights": weights, "symbols": out}
