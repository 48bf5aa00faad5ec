"""The real ``coinray ingest stream`` command: Ray actor per exchange against the simulator, JSON snapshot, store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import polars as pl
import pytest

from cluster.settings import load_settings
from cluster.sim import ExchangeSimulator, SimConfig
from cluster.sim.dataset import load_recorded_trades, repeat_laps
from cluster.store import open_store
from tests.integration.ingest.conftest import SimThread

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LAPS = 5


def test_ingest_stream_command_streams_into_the_store() -> None:
    # Arrange: the Binance recording, 5 laps, replayed once all three symbols are subscribed
    trades = repeat_laps(load_recorded_trades("binance"), LAPS)
    symbols = sorted({t.symbol for t in trades})
    sim = SimThread(ExchangeSimulator(SimConfig(exchange="binance", speed=0, laps=LAPS,
                                                start_after_symbols=len(symbols))))
    try:
        # Act
        out = subprocess.run(
            [sys.executable, "-m", "cluster.cli", "ingest", "stream", "--exchange", "binance", "--symbols",
             ",".join(symbols), "--url", f"binance={sim.sim.rest_url}", "--duration", "12", "--json"],
            capture_output=True, text=True, timeout=240, env={**os.environ})
    finally:
        sim.stop()
    # Assert: every replayed trade reached the actor once, over the native transport
    assert out.returncode == 0, out.stderr[-3000:]
    snap = json.loads(out.stdout.strip().splitlines()[-1])["binance"]
    assert snap["failed"] is None and snap["transport"] == "native"
    assert snap["msgs"] == len(trades) and snap["parse_errors"] == 0
    assert {s: st["duplicates"] for s, st in snap["symbols"].items()} == dict.fromkeys(symbols, 0)
    # the closed candles in the store equal candles computed independently from the same trades (a symbol's
    # newest minute may still be open when the command stops)
    frame = pl.DataFrame([t._asdict() for t in trades])
    want = (frame.sort("ts", "trade_id").group_by("symbol", (pl.col("ts") // 60_000 * 60_000).alias("minute"),
                                                  maintain_order=True)
            .agg(open=pl.col("price").first(), high=pl.col("price").max(), low=pl.col("price").min(),
                 close=pl.col("price").last(), trades=pl.len())
            .rename({"minute": "ts"}).sort("symbol", "ts"))
    ops = open_store(load_settings())
    try:
        got = pl.DataFrame(ops.read_candles(timeframe="1m", exchange="binance"))
    finally:
        ops.store.close()
    got = got.select(want.columns).sort("symbol", "ts").with_columns(pl.col("trades").cast(pl.UInt32))
    assert got.height >= want.height - len(symbols) and got.height > 0
    assert got.equals(want.join(got.select("symbol", "ts"), on=["symbol", "ts"], how="semi"))
