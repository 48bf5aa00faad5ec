"""Recorded-session replay: every recorded frame through ``ExchangeStreamCore.on_message``.

Per-channel event counts come from a lookup table (cryptofeed's approach); candles built by the
core must equal candles computed independently with polars from the same recorded trades.
"""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
import pytest

from actors.exchange_stream_core import ExchangeStreamCore, StreamConfig
from actors.exchanges import Trade, binance, coinbase
from pipelines.candles_from_trades import candles_from_trades
from tests.unit.ingest.conftest import FakeClock, load_recorded

EXPECTED_EVENTS = {
    "binance": {"Ticker": 212, "Ignored": 40, "Trade": 13, "Kline": 7},
    "coinbase": {"Ticker": 107, "Trade": 107, "Ignored": 23},
}
SYMBOLS = {
    "binance": ("NKN/USDT", "LRC/BTC", "OMG/BUSD", "BLZ/ETH", "RUNE/EUR"),
    "coinbase": ("BAND/BTC", "BAND/GBP", "CRV/EUR", "DASH/BTC", "NMR/EUR", "NU/GBP", "SKL/BTC", "SKL/GBP",
                 "SKL/USD", "YFI/BTC"),
}
VENUES = {"binance": binance, "coinbase": coinbase}


def _replay(name: str) -> tuple[ExchangeStreamCore, Counter[str], list[Trade], list[dict[str, object]]]:
    core = ExchangeStreamCore(StreamConfig(exchange=name, symbols=SYMBOLS[name]), VENUES[name], FakeClock())
    counts: Counter[str] = Counter()
    trades: list[Trade] = []
    closed: list[dict[str, object]] = []
    for row in load_recorded(name):
        events, result = core.on_message(row["payload"], row["recv_ts_ms"])
        counts.update(type(e).__name__ for e in events)
        trades.extend(e for e in events if isinstance(e, Trade))
        closed.extend(result.closed)
    closed.extend(core.flush())
    return core, counts, trades, closed


@pytest.mark.parametrize("name", ["binance", "coinbase"])
def test_per_channel_counts_match_lookup_table(name: str) -> None:
    core, counts, _, _ = _replay(name)
    assert dict(counts) == EXPECTED_EVENTS[name]
    assert core.parse_errors == 0 and core.unknown_frames == 0


@pytest.mark.parametrize("name", ["binance", "coinbase"])
def test_candles_equal_polars_candles_from_the_same_trades(name: str) -> None:
    core, _, trades, closed = _replay(name)
    frame = pl.DataFrame([t._asdict() for t in trades])
    expected = candles_from_trades(frame).select("symbol", "ts", "open", "high", "low", "close", "volume", "trades")
    got = (pl.DataFrame(closed).select("symbol", "ts", "open", "high", "low", "close", "volume", "trades")
           .with_columns(pl.col("trades").cast(pl.UInt64)).sort("symbol", "ts"))
    assert got.height == expected.height > 0
    assert got.drop("volume").equals(expected.drop("volume"))
    assert (got["volume"] - expected["volume"]).abs().max() < 1e-9  # type: ignore[operator]
    snap = core.snapshot()
    assert sum(s["accepted"] for s in snap["symbols"].values()) == len({(t.symbol, t.trade_id) for t in trades})


def test_newest_exchange_kline_per_symbol_is_kept() -> None:
    core, _, _, _ = _replay("binance")
    newest: dict[tuple[str, str], int] = {}
    for row in load_recorded("binance"):  # independent: the raw recorded kline frames
        msg = json.loads(row["payload"])
        data = msg.get("data", msg)
        if data.get("e") == "kline":
            key = (binance.build_symbol_table({"symbols": []}).get(data["s"], data["s"]), data["k"]["i"])
            newest[key] = data["k"]["t"]
    got = {(k.symbol.replace("/", ""), tf): k.ts for (_, tf), k in core.klines.items()}
    assert got == newest and len(got) >= 3
