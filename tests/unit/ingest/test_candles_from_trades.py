"""candles_from_trades against the exchange's own recorded candles (freqtrade's XRP/ETH trades and 1m klines)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.candles_from_trades import candles_from_trades


def _xrp_trades(shared: Path) -> pl.DataFrame:
    raw = pl.read_ipc(shared / "ohlcv" / "freqtrade_testdata" / "XRP_ETH-trades.feather")
    return raw.select(pl.lit("XRP/ETH").alias("symbol"), pl.col("timestamp").alias("ts"),
                      pl.col("id").cast(pl.Int64).alias("trade_id"), "price", "amount")


def test_matches_recorded_binance_1m_klines(shared_data: Path) -> None:
    # Arrange: GPL-3.0 freqtrade test data, read from ../shared only
    trades = _xrp_trades(shared_data)
    klines = pl.read_ipc(shared_data / "ohlcv" / "freqtrade_testdata" / "XRP_ETH-1m.feather").select(
        pl.col("date").dt.epoch("ms").alias("ts"), "open", "high", "low", "close", "volume")
    # Act
    built = candles_from_trades(trades)
    # Assert: same minutes, same prices; volumes equal to the exchange's rounding
    joined = klines.join(built, on="ts", how="full", suffix="_t", coalesce=True)
    assert joined.height == klines.height == built.height == 2469
    for col in ("open", "high", "low", "close"):
        assert (joined[col] - joined[f"{col}_t"]).abs().max() < 1e-12, col
    assert ((joined["volume"] - joined["volume_t"]).abs() / joined["volume"]).max() < 1e-9  # type: ignore[operator]


def test_duplicates_count_once_and_order_follows_ids() -> None:
    frame = pl.DataFrame({"symbol": ["A/B"] * 4, "ts": [1_000, 2_000, 2_000, 3_000], "trade_id": [3, 1, 1, 2],
                          "price": [9.0, 1.0, 1.0, 5.0], "amount": [1.0, 1.0, 1.0, 1.0]})
    out = candles_from_trades(frame)
    assert out.select("open", "close", "volume", "trades").rows() == [(1.0, 9.0, 3.0, 3)]


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="timeframe"):
        candles_from_trades(pl.DataFrame(), timeframe="7m")
    with pytest.raises(ValueError, match="column"):
        candles_from_trades(pl.DataFrame({"ts": [1]}))
