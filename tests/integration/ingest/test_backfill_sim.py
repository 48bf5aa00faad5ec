"""REST backfill through unmodified ccxt against the simulator: pagination, faults/retries, resume, errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import polars as pl
import pytest

from actors.backfill import backfill_one, load_markets, make_rest_client, validate_request
from actors.backfill_core import BackfillConfig, BackfillResult, parse_date_ms
from cluster.errors import ConfigError
from cluster.sim import ExchangeSimulator, FaultConfig, SimConfig
from cluster.sim.dataset import bundled_klines_dir
from cluster.store import StoreOps

pytestmark = pytest.mark.integration


def _sample(symbol: str, timeframe: str, start_ms: int, end_ms: int) -> pl.DataFrame:
    path = bundled_klines_dir() / f"{symbol.replace('/', '_')}-{timeframe}.feather"
    frame = pl.read_ipc(path).select(pl.col("date").dt.epoch("ms").alias("ts"), "open", "high", "low", "close",
                                     "volume")
    return frame.filter((pl.col("ts") >= start_ms) & (pl.col("ts") < end_ms))


async def _backfill(cfg: BackfillConfig, sim: ExchangeSimulator, ops: StoreOps, sleeps: list[float],
                    timeframe: str, symbol: str) -> BackfillResult:
    client = make_rest_client(cfg)

    async def insert(table: Any) -> int:
        return ops.insert_candles(table)

    async def sleep(s: float) -> None:
        sleeps.append(s)

    try:
        await load_markets(client, cfg, sleep)
        validate_request(client, cfg)
        last = ops.last_candle_ts(exchange=cfg.exchange, symbol=symbol, timeframe=timeframe)
        return await backfill_one(cfg, client, symbol, timeframe, last, insert, now_ms=int(time.time() * 1000),
                                  sleep=sleep)
    finally:
        await client.close()


# binanceus has no venue module: the generic venue (any ccxt id) against the Binance simulator
@pytest.mark.parametrize(("exchange", "page"), [("binance", 1000), ("coinbase", 300), ("binanceus", 500)])
def test_paginated_backfill_with_faults_then_resume(exchange: str, page: int, store_ops: StoreOps) -> None:
    faults = FaultConfig(http_429_every=3, http_5xx_every=5, http_418_every=13, retry_after_s=2)
    start, mid, end = parse_date_ms("2024-01-01"), parse_date_ms("2024-03-01"), parse_date_ms("2024-04-01")
    sleeps: list[float] = []

    async def main() -> tuple[BackfillResult, BackfillResult, dict[str, Any]]:
        sim = ExchangeSimulator(SimConfig(exchange="binance" if exchange == "binanceus" else exchange, speed=0,
                                          klines_dir=bundled_klines_dir(),
                                          faults=faults))
        await sim.start()
        try:
            first = await _backfill(BackfillConfig(exchange=exchange, symbols=("ETH/USDT",), timeframes=("1h",),
                                                   since_ms=start, until_ms=mid, rest_url=sim.rest_url),
                                    sim, store_ops, sleeps, "1h", "ETH/USDT")
            second = await _backfill(BackfillConfig(exchange=exchange, symbols=("ETH/USDT",), timeframes=("1h",),
                                                    since_ms=start, until_ms=end, rest_url=sim.rest_url),
                                     sim, store_ops, sleeps, "1h", "ETH/USDT")
            return first, second, sim.stats()
        finally:
            await sim.stop()

    first, second, stats = asyncio.run(main())
    want = _sample("ETH/USDT", "1h", start, end)
    got = pl.from_arrow(store_ops.read_candles(timeframe="1h", exchange=exchange, symbols=["ETH/USDT"]))
    assert isinstance(got, pl.DataFrame)
    assert got.select(want.columns).equals(want)
    assert first.rows == 1440 and first.pages >= 1440 // page and not first.resumed
    assert second.resumed and second.start_ms == mid and second.rows == want.height - 1440
    assert stats["faults_total"] > 0 and first.retries + second.retries > 0
    assert 2.0 in sleeps  # Retry-After honoured
    assert set(got["source"]) == {"rest"}


def test_unknown_symbol_and_bad_timeframe_errors() -> None:
    async def main() -> list[str]:
        sim = ExchangeSimulator(SimConfig(exchange="binance", speed=0))
        await sim.start()
        messages = []
        try:
            for symbols, tfs in ((("BTC/USTD",), ("1h",)), (("BTC/USDT",), ("1m",))):
                cfg = BackfillConfig(exchange="binance", symbols=symbols, timeframes=tfs, since_ms=0,
                                     rest_url=sim.rest_url)
                client = make_rest_client(cfg)
                try:
                    await client.load_markets()
                    client.timeframes = {"1h": "1h", "1d": "1d"}
                    validate_request(client, cfg)
                except ConfigError as exc:
                    messages.append(str(exc))
                finally:
                    await client.close()
        finally:
            await sim.stop()
        return messages

    unknown, timeframe = asyncio.run(main())
    assert "BTC/USDT" in unknown and "close matches" in unknown
    assert "supported: 1h, 1d" in timeframe
    with pytest.raises(ValueError, match="supported"):
        BackfillConfig(exchange="binance", symbols=("BTC/USDT",), timeframes=("7m",), since_ms=0)
    with pytest.raises(ConfigError, match="both"):
        make_rest_client(BackfillConfig(exchange="binance", symbols=("BTC/USDT",), since_ms=0, api_key="k"))
