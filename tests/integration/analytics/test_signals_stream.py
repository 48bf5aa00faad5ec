"""Real-time signals from the closed-candle stream of a real managed Redis server to ``coinray:signals``."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from cluster.bus import connect_bus
from cluster.commands.features import SIGNAL_STREAM, follow_candles
from cluster.ohlcv_files import load_ohlcv_file
from cluster.settings import load_settings
from pipelines.realtime_signals import SignalEngine

pytestmark = pytest.mark.integration
SAMPLE = Path(__file__).resolve().parents[3] / "cluster" / "sample_data" / "binance_spot_2024"


def test_closed_candles_from_the_stream_publish_signals() -> None:
    table = pa.concat_tables([load_ohlcv_file(p, exchange="binance", run_id="t", now_ms=0).candles
                              for p in sorted(SAMPLE.glob("*-1h.feather"))[:3]])
    frame = pl.DataFrame(table).sort("ts", "symbol")
    history, live = frame.head(frame.height - 600), frame.tail(600)
    engine = SignalEngine()
    engine.on_candles(history.iter_rows(named=True), emit=False)
    expected = SignalEngine.restore(json.loads(json.dumps(engine.snapshot()))).on_candles(live.iter_rows(named=True))
    settings = load_settings()
    with connect_bus(settings) as bus:
        bus.publish_candles("binance", live.to_arrow())
        bus.publish_candles("binance", live.head(5).to_arrow(), final=False)  # forming candles are ignored
        published = follow_candles(bus.client, engine, exchange="binance", maxlen=10_000, start_id="0",
                                   block_ms=200, idle_stop=True)
        entries = bus.client.xrange(SIGNAL_STREAM)
    assert published == len(expected) == len(entries) > 0
    first = {k.decode(): v.decode() for k, v in entries[0][1].items()}
    assert first["kind"] == expected[0].kind and int(first["ts"]) == expected[0].ts
