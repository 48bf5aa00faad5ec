"""The transparent baseline score: trend, momentum, volatility and liquidity, ranked across symbols.

For each symbol, at a common as-of bar (the newest bar every ranked symbol has):

============  ==============================================================  ========
factor        raw value                                                       sign
============  ==============================================================  ========
trend         close / EMA(slow) - 1                                           +
momentum      close / close ``lookback`` bars earlier - 1                     +
volatility    std of 1-bar log returns over ``lookback`` bars, annualised     -
liquidity     mean dollar volume (close x volume) over ``lookback`` bars     + (log10)
============  ==============================================================  ========

Each raw value becomes a robust cross-sectional z-score (median and MAD, clipped to +-3); the
score is the weighted sum of signed z-scores. Ties break by symbol name, so the ranking is
deterministic and independent of input order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

import polars as pl

from cluster.schemas import BARS_PER_YEAR, TIMEFRAME_MS, require_columns
from cluster.settings import RankingConfig

FACTORS: tuple[str, ...] = ("trend", "momentum", "volatility", "liquidity")
SIGNS: dict[str, float] = {"trend": 1.0, "momentum": 1.0, "volatility": -1.0, "liquidity": 1.0}
Z_CLIP = 3.0
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class RankedSymbol:
    """One symbol's place in a ranking, with the numbers that put it there."""

    symbol: str
    rank: int
    score: float
    factors: dict[str, float]
    contributions: dict[str, float]
    rationale: str
    close: float


@dataclass(frozen=True)
class Ranking:
    """A full ranking: as-of time, ranked symbols best first, and symbols left out with the reason."""

    timeframe: str
    as_of_ts: int
    lookback_bars: int
    ranked: list[RankedSymbol]
    excluded: dict[str, str] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)


def compute_factors(features: pl.DataFrame, *, timeframe: str, cfg: RankingConfig,
                    ema_slow: int = 50) -> tuple[pl.DataFrame, int | None, dict[str, str]]:
    """Raw factor values per symbol at the common as-of bar.

    Requires columns: symbol, timeframe, ts, close, volume, log_ret_1, ema_<ema_slow>.
    Returns (one row per rankable symbol: symbol, ts, close + FACTORS), the as-of ts, and the
    excluded symbols with reasons.
    """
    ema_col = f"ema_{ema_slow}"
    require_columns(features.columns, {"symbol", "timeframe", "ts", "close", "volume", "log_ret_1", ema_col})
    n = cfg.lookback_bars
    frame = features.filter(pl.col("timeframe") == timeframe).sort("symbol", "ts")
    excluded: dict[str, str] = {}
    if frame.height == 0:
        return frame.select("symbol", "ts", "close"), None, excluded
    last = frame.group_by("symbol").agg(pl.col("ts").max().alias("last_ts"), pl.len().alias("bars"))
    newest = int(last.get_column("last_ts").max())  # type: ignore[arg-type]
    stale_before = newest - 2 * TIMEFRAME_MS[timeframe]
    keep: list[str] = []
    for row in last.sort("symbol").iter_rows(named=True):
        if row["bars"] < cfg.min_bars:
            excluded[row["symbol"]] = f"only {row['bars']} bars (< {cfg.min_bars})"
        elif row["last_ts"] < stale_before:
            excluded[row["symbol"]] = "stale: no bar within 2 bars of the newest data"
        else:
            keep.append(row["symbol"])
    if not keep:
        return frame.head(0).select("symbol", "ts", "close"), None, excluded
    as_of = int(last.filter(pl.col("symbol").is_in(keep)).get_column("last_ts").min())  # type: ignore[arg-type]
    window = frame.filter(pl.col("symbol").is_in(keep) & (pl.col("ts") <= as_of))
    annual = math.sqrt(BARS_PER_YEAR[timeframe])
    factors = (
        window.group_by("symbol")
        .agg(
            pl.col("ts").last(),
            pl.col("close").last(),
            (pl.col("close").last() / pl.col(ema_col).last() - 1).alias("trend"),
            (pl.col("close").last() / pl.col("close").shift(n).last() - 1).alias("momentum"),
            (pl.col("log_ret_1").tail(n).std(ddof=1) * annual).alias("volatility"),
            (pl.col("close") * pl.col("volume")).tail(n).mean().alias("liquidity"),
        )
        .sort("symbol")
    )
    return factors, as_of, excluded


def robust_z(values: pl.Series) -> pl.Series:
    """Cross-sectional robust z-score: (x - median) / (1.4826 * MAD), clipped to +-3.

    Falls back to the standard deviation when the MAD is 0, and to zeros when all values match.

    >>> robust_z(pl.Series([1.0, 2.0, 3.0])).to_list()
    [-0.6744..., 0.0, 0.6744...]
    """
    median = values.median()
    mad = cast("float | None", (values - median).abs().median())  # polars types median() as any literal
    scale = MAD_TO_SIGMA * mad if mad else values.std(ddof=0)
    if not scale or not math.isfinite(scale):  # type: ignore[arg-type]
        return pl.Series(values.name, [0.0] * values.len())
    return ((values - median) / scale).clip(-Z_CLIP, Z_CLIP)


def rank_symbols(features: pl.DataFrame, *, timeframe: str, cfg: RankingConfig) -> Ranking:
    """Score and rank every symbol in ``features`` (see the module docstring for the formula)."""
    weights = {
        "trend": cfg.weight_trend,
        "momentum": cfg.weight_momentum,
        "volatility": cfg.weight_volatility,
        "liquidity": cfg.weight_liquidity,
    }
    raw, as_of, excluded = compute_factors(features, timeframe=timeframe, cfg=cfg)
    if as_of is None or raw.height == 0:
        return Ranking(timeframe, 0, cfg.lookback_bars, [], excluded, weights)
    bad = raw.filter(pl.any_horizontal([pl.col(f).is_null() | pl.col(f).is_nan() for f in FACTORS]))
    for symbol in bad.get_column("symbol").to_list():
        excluded[symbol] = "factor undefined (not enough history for the indicators)"
    raw = raw.join(bad.select("symbol"), on="symbol", how="anti")
    z = raw.with_columns(
        robust_z(raw.get_column("liquidity").log10()).alias("z_liquidity"),
        *(robust_z(raw.get_column(f)).alias(f"z_{f}") for f in ("trend", "momentum", "volatility")),
    )
    scored = z.with_columns(
        *(pl.col(f"z_{f}") * SIGNS[f] * weights[f] for f in FACTORS)
    ).rename({f"z_{f}": f"c_{f}" for f in FACTORS}).with_columns(
        score=pl.sum_horizontal([f"c_{f}" for f in FACTORS])
    ).sort(["score", "symbol"], descending=[True, False])
    ranked: list[RankedSymbol] = []
    total = scored.height
    for i, row in enumerate(scored.iter_rows(named=True), start=1):
        factors = {f: float(row[f]) for f in FACTORS}
        contributions = {f: float(row[f"c_{f}"]) for f in FACTORS}
        ranked.append(RankedSymbol(
            symbol=row["symbol"], rank=i, score=float(row["score"]), factors=factors,
            contributions=contributions, close=float(row["close"]),
            rationale=explain(row["symbol"], i, total, float(row["score"]), factors, contributions,
                              lookback=cfg.lookback_bars, timeframe=timeframe),
        ))
    return Ranking(timeframe, as_of, cfg.lookback_bars, ranked, excluded, weights)


def describe_factor(name: str, value: float, *, lookback: int, timeframe: str) -> str:
    """A factor's raw value in words.

    >>> describe_factor("momentum", 0.1234, lookback=30, timeframe="1d")
    'momentum +12.34% over 30 1d bars'
    """
    if name == "trend":
        return f"trend: close {abs(value) * 100:.2f}% {'above' if value >= 0 else 'below'} its 50-bar EMA"
    if name == "momentum":
        return f"momentum {value * 100:+.2f}% over {lookback} {timeframe} bars"
    if name == "volatility":
        return f"volatility {value * 100:.1f}% annualised"
    return f"liquidity ${value:,.0f} average {timeframe} dollar volume"


def explain(symbol: str, rank: int, total: int, score: float, factors: dict[str, float],
            contributions: dict[str, float], *, lookback: int, timeframe: str) -> str:
    """The rationale sentence: which factors put ``symbol`` at ``rank``, with their values."""
    order = sorted(FACTORS, key=lambda f: (-abs(contributions[f]), f))
    helped = [f for f in order if contributions[f] > 0]
    hurt = [f for f in order if contributions[f] < 0]

    def part(f: str) -> str:
        return f"{describe_factor(f, factors[f], lookback=lookback, timeframe=timeframe)} ({contributions[f]:+.2f})"

    text = f"{symbol} ranks #{rank} of {total} with score {score:+.2f}."
    if helped:
        text += f" Lifted, relative to the other {total - 1} symbols, by " + "; ".join(part(f) for f in helped) + "."
    if hurt:
        text += " Held back by " + "; ".join(part(f) for f in hurt) + "."
    neutral = [f for f in order if contributions[f] == 0]
    if neutral:
        text += " At the median: " + "; ".join(part(f) for f in neutral) + "."
    return text

