"""Build OHLCV candles from a frame of trades (pure: frame in, frame out)."""

from __future__ import annotations

import polars as pl

from cluster.schemas import TIMEFRAME_MS

_REQUIRED = ("symbol", "ts", "trade_id", "price", "amount")


def candles_from_trades(trades: pl.DataFrame, *, timeframe: str = "1m") -> pl.DataFrame:
    """Aggregate trades into candles, one row per (symbol, bucket) that has at least one trade.

    Requires columns ``symbol``, ``ts`` (epoch ms), ``trade_id`` (orders trades within a bucket),
    ``price`` and ``amount``. Returns ``symbol, ts, open, high, low, close, volume, trades`` sorted
    by symbol and ts; ``ts`` is the bucket's open time. Duplicate trade ids count once.

    Parameters
    ----------
    trades:
        The trades; not mutated.
    timeframe:
        Bucket length in ccxt spelling (``1m``, ``5m``, ... ``1d``).

    Raises
    ------
    ValueError
        For an unknown timeframe or missing columns.

    Examples
    --------
    >>> frame = pl.DataFrame({"symbol": ["A/B"] * 3, "ts": [0, 30_000, 61_000], "trade_id": [1, 2, 3],
    ...                       "price": [1.0, 3.0, 2.0], "amount": [1.0, 1.0, 2.0]})
    >>> candles_from_trades(frame).select("ts", "open", "high", "close", "volume").rows()
    [(0, 1.0, 3.0, 3.0, 2.0), (60000, 2.0, 2.0, 2.0, 2.0)]
    """
    if timeframe not in TIMEFRAME_MS:
        raise ValueError(f"unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAME_MS)}")
    missing = [c for c in _REQUIRED if c not in trades.columns]
    if missing:
        raise ValueError(f"trades frame lacks column(s) {missing}")
    ms = TIMEFRAME_MS[timeframe]
    return (
        trades.unique(subset=["symbol", "trade_id"], keep="first")
        .sort("symbol", "trade_id")
        .with_columns((pl.col("ts") // ms * ms).alias("bucket"))
        .group_by("symbol", "bucket", maintain_order=True)
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("amount").sum().alias("volume"),
            pl.len().cast(pl.UInt64).alias("trades"),
        )
        .rename({"bucket": "ts"})
        .sort("symbol", "ts")
    )
