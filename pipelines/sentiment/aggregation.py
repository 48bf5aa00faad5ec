"""Per symbol x timeframe sentiment buckets and their causal join onto candles (pure Polars).

The bucket statistics match the store's ``sentiment_agg`` view: count, mean score,
engagement-weighted score (weight ``1 + ln(1 + engagement)``) and a time-decayed score (weight
``2^(-(bucket close - ts) / half-life)``, half-life = half the bucket).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cluster.schemas import TIMEFRAME_MS, parse_timeframe, require_columns

SCORED_COLUMNS = frozenset({"text_id", "symbol", "ts", "score", "engagement"})
AGG_COLUMNS = ("symbol", "timeframe", "ts", "n", "mean_score", "engagement_score", "decayed_score")


def aggregate_sentiment(scored: pl.DataFrame, *, timeframe: str) -> pl.DataFrame:
    """Bucket scored (text, symbol) rows into ``timeframe`` buckets per symbol.

    Parameters
    ----------
    scored:
        Requires columns text_id, symbol, ts (UTC ms), score, engagement. A text counted twice for
        the same symbol counts once.
    timeframe:
        Bucket length (``1m`` .. ``1d``).

    Returns
    -------
    polars.DataFrame
        :data:`AGG_COLUMNS`, sorted by symbol and ts; ``ts`` is the bucket open time.

    Examples
    --------
    >>> frame = pl.DataFrame({"text_id": ["a", "b"], "symbol": ["BTC/USDT"] * 2, "ts": [0, 1_800_000],
    ...                       "score": [0.5, -0.1], "engagement": [0.0, 0.0]})
    >>> aggregate_sentiment(frame, timeframe="1h").select("n", "mean_score").row(0)
    (2, 0.2)
    """
    require_columns(scored.columns, SCORED_COLUMNS, what="scored texts")
    ms = TIMEFRAME_MS[parse_timeframe(timeframe).value]
    half_life = ms / 2
    frame = (
        scored.unique(subset=["text_id", "symbol"], keep="first", maintain_order=True)
        .with_columns(bucket=(pl.col("ts") // ms) * ms, score=pl.col("score").cast(pl.Float64))
        .with_columns(
            w_eng=1 + pl.col("engagement").clip(lower_bound=0).log1p(),
            w_time=pl.lit(2.0).pow(-(pl.col("bucket") + ms - pl.col("ts")) / half_life),
        )
    )
    return (
        frame.group_by("symbol", "bucket")
        .agg(
            n=pl.len().cast(pl.UInt64),
            mean_score=pl.col("score").mean(),
            engagement_score=(pl.col("score") * pl.col("w_eng")).sum() / pl.col("w_eng").sum(),
            decayed_score=(pl.col("score") * pl.col("w_time")).sum() / pl.col("w_time").sum(),
        )
        .rename({"bucket": "ts"})
        .with_columns(timeframe=pl.lit(timeframe))
        .select(AGG_COLUMNS)
        .sort("symbol", "ts")
    )


def join_sentiment(
    candles: pl.DataFrame, agg: pl.DataFrame, *, half_life_bars: float = 24.0, prefix: str = "sent_"
) -> pl.DataFrame:
    """Add time-aligned sentiment columns to candles of one timeframe, with no look-ahead.

    A candle opening at ``t`` gets the bucket ``[t, t + bar)``: every text in it has
    ``ts <= candle close``. Also adds a running score that decays by half every
    ``half_life_bars`` bars, using only buckets up to the candle.

    Parameters
    ----------
    candles:
        Requires columns symbol, timeframe, ts (open time). One timeframe.
    agg:
        Output of :func:`aggregate_sentiment` (or the ``sentiment_agg`` view) for that timeframe.
    half_life_bars:
        Half-life of the running score in bars.
    prefix:
        Prefix of the added columns: ``n``, ``mean``, ``engagement``, ``decayed``, ``ewm``.

    Returns
    -------
    polars.DataFrame
        ``candles`` (same rows and order) plus the five columns; buckets without texts have
        ``n = 0`` and null means, while the running score carries the past forward.
    """
    require_columns(candles.columns, {"symbol", "timeframe", "ts"}, what="candles")
    require_columns(agg.columns, set(AGG_COLUMNS), what="sentiment_agg")
    if half_life_bars <= 0:
        raise ValueError("half_life_bars must be > 0")
    buckets = agg.select(
        "symbol", "timeframe", "ts", pl.col("n").cast(pl.Int64).alias(f"{prefix}n"),
        pl.col("mean_score").alias(f"{prefix}mean"), pl.col("engagement_score").alias(f"{prefix}engagement"),
        pl.col("decayed_score").alias(f"{prefix}decayed"),
    )
    out = (
        candles.with_row_index("__row")
        .join(buckets, on=["symbol", "timeframe", "ts"], how="left")
        .with_columns(pl.col(f"{prefix}n").fill_null(0))
        .sort("symbol", "ts")
    )
    decay = 0.5 ** (1.0 / half_life_bars)
    ewm = np.full(out.height, np.nan)
    sums = (out[f"{prefix}mean"].fill_null(0.0) * out[f"{prefix}n"]).to_numpy()
    counts = out[f"{prefix}n"].to_numpy().astype(float)
    symbols = out["symbol"].to_list()
    total, weight = 0.0, 0.0
    for i in range(out.height):
        if i == 0 or symbols[i] != symbols[i - 1]:
            total, weight = 0.0, 0.0
        total, weight = total * decay + sums[i], weight * decay + counts[i]
        ewm[i] = total / weight if weight > 0 else np.nan
    return (
        out.with_columns(pl.Series(f"{prefix}ewm", ewm).fill_nan(None))
        .sort("__row").drop("__row")
    )


RANKER_SENTIMENT_COLUMNS = ("symbol", "ts", "sentiment_score", "sentiment_n")


def one_model_version(agg: pl.DataFrame) -> pl.DataFrame:
    """The ``sentiment_agg`` rows of the model version with the most texts (ties: the greatest name).

    Buckets of different models score the same texts; mixing them would count texts twice.
    Requires columns model_version and n; an empty frame comes back as is.
    """
    require_columns(agg.columns, {"model_version", "n"}, what="sentiment_agg")
    if agg.height == 0:
        return agg
    totals = agg.group_by("model_version").agg(pl.col("n").sum()).sort(["n", "model_version"], descending=True)
    return agg.filter(pl.col("model_version") == totals.get_column("model_version")[0])


def ranker_sentiment(agg: pl.DataFrame, *, bar_timeframe: str, half_life_ms: int = 86_400_000) -> pl.DataFrame:
    """Sentiment inputs of the ranker (symbol, ts, sentiment_score, sentiment_n) for bars of ``bar_timeframe``.

    Uses the buckets of one timeframe: ``bar_timeframe`` itself when ``agg`` has it, else the finest
    stored. Per symbol, ``sentiment_score`` is the running mean score with every bucket's texts
    weighted by ``2^(-age / half_life_ms)`` and ``sentiment_n`` the decayed number of texts behind
    it. Each row is stamped ``bucket close - bar length``: the ranker's as-of join gives a bar opening
    at ``t`` only buckets that are complete by the bar's close ``t + bar``, so no text stamped after
    the close reaches it (no look-ahead), whatever the bucket length.

    Parameters
    ----------
    agg:
        ``sentiment_agg`` rows of one model version (see :func:`one_model_version`): symbol,
        timeframe, ts (bucket open), n, mean_score.
    bar_timeframe:
        Timeframe of the bars being ranked.
    half_life_ms:
        Half-life of a text's weight, ms.

    Examples
    --------
    >>> agg = pl.DataFrame({"symbol": ["BTC/USDT"] * 2, "timeframe": ["1h"] * 2, "ts": [0, 7_200_000],
    ...                     "n": [2, 1], "mean_score": [0.5, -0.4]})
    >>> out = ranker_sentiment(agg, bar_timeframe="1h", half_life_ms=7_200_000)
    >>> out.get_column("ts").to_list(), [round(v, 4) for v in out.get_column("sentiment_score")]
    ([0, 7200000], [0.5, 0.05])
    """
    require_columns(agg.columns, {"symbol", "timeframe", "ts", "n", "mean_score"}, what="sentiment_agg")
    if half_life_ms <= 0:
        raise ValueError("half_life_ms must be > 0")
    bar_ms = TIMEFRAME_MS[parse_timeframe(bar_timeframe).value]
    if agg.height == 0:
        return pl.DataFrame(schema={"symbol": pl.String, "ts": pl.Int64, "sentiment_score": pl.Float64,
                                    "sentiment_n": pl.Float64})
    stored = sorted(set(agg.get_column("timeframe").to_list()), key=lambda tf: TIMEFRAME_MS[tf])
    bucket_tf = bar_timeframe if bar_timeframe in stored else stored[0]
    bucket_ms = TIMEFRAME_MS[bucket_tf]
    rows = agg.filter((pl.col("timeframe") == bucket_tf) & (pl.col("n") > 0)).sort("symbol", "ts")
    symbols = rows.get_column("symbol").to_list()
    starts = rows.get_column("ts").cast(pl.Int64).to_list()
    counts = rows.get_column("n").cast(pl.Float64).to_list()
    means = rows.get_column("mean_score").cast(pl.Float64).to_list()
    scores, weights = [], []
    total = weight = 0.0
    for i, symbol in enumerate(symbols):
        if i == 0 or symbol != symbols[i - 1]:
            total = weight = 0.0
        else:
            decay = 0.5 ** ((starts[i] - starts[i - 1]) / half_life_ms)
            total, weight = total * decay, weight * decay
        total += means[i] * counts[i]
        weight += counts[i]
        scores.append(total / weight)
        weights.append(weight)
    return pl.DataFrame({"symbol": symbols, "ts": [s + bucket_ms - bar_ms for s in starts],
                         "sentiment_score": scores, "sentiment_n": weights},
                        schema={"symbol": pl.String, "ts": pl.Int64, "sentiment_score": pl.Float64,
                                "sentiment_n": pl.Float64})


def agg_query(db: str, *, symbols: list[str] | None = None, timeframes: list[str] | None = None,
              model_version: str | None = None) -> str:
    """SQL reading ``sentiment_agg`` buckets from database ``db`` (of ``symbols``, ``timeframes`` and
    ``model_version`` when given), ordered by symbol, timeframe and ts."""
    from cluster.store import quote

    where = []
    if timeframes:
        where.append(f"timeframe IN ({', '.join(quote(t) for t in timeframes)})")
    if symbols:
        where.append(f"symbol IN ({', '.join(quote(s) for s in symbols)})")
    if model_version:
        where.append(f"model_version = {quote(model_version)}")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return ("SELECT symbol, timeframe, ts, model_version, n, mean_score, engagement_score, decayed_score "
            f"FROM {db}.sentiment_agg{clause} ORDER BY symbol, timeframe, ts")
