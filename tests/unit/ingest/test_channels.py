"""Batched raw frames, the exchange-kline cross-check, tickers and the transport choice (no I/O)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from actors.exchange_stream_core import ExchangeStreamCore, StreamConfig, resolve_transport
from actors.exchanges import Channel, Kline, Ticker, Trade, binance, coinbase
from cluster.errors import ConfigError
from pipelines.candles_from_trades import candles_from_trades
from tests.unit.ingest.conftest import FakeClock, load_recorded, recorded_coinbase_trades
from tests.unit.ingest.test_replay_recorded import SYMBOLS, VENUES

SYMBOL = "SKL/USD"


def _frames(name: str) -> list[str]:
    return [row["payload"] for row in load_recorded(name)]


@pytest.mark.parametrize("name", ["binance", "coinbase"])
def test_on_frames_in_batches_equals_one_frame_at_a_time(name: str) -> None:
    # Arrange: the recorded session once frame by frame, once in batches of 17 frames
    frames = _frames(name)
    one = ExchangeStreamCore(StreamConfig(exchange=name, symbols=SYMBOLS[name]), VENUES[name], FakeClock())
    batched = ExchangeStreamCore(StreamConfig(exchange=name, symbols=SYMBOLS[name]), VENUES[name], FakeClock())
    # Act
    closed_one = [c for f in frames for c in one.on_message(f, 0)[1].closed] + one.flush()
    closed_batched = [c for i in range(0, len(frames), 17) for c in batched.on_frames(frames[i:i + 17], 0).closed]
    closed_batched += batched.flush()
    # Assert: same candles, same counters, and equal to polars candles from the parsed trades
    key = ("symbol", "ts")
    assert sorted(closed_one, key=lambda c: (c["symbol"], c["ts"])) == \
        sorted(closed_batched, key=lambda c: (c["symbol"], c["ts"]))
    assert batched.snapshot()["symbols"] == one.snapshot()["symbols"]
    trades = []
    for f in frames:
        kind, msg = VENUES[name].decode_frame(f)
        if kind in ("aggTrade", "trade", "match", "last_match"):
            trades.append(VENUES[name].parser_for(kind)(msg, 0))  # type: ignore[misc]
    want = candles_from_trades(pl.DataFrame([t._asdict() for t in trades]).unique(["symbol", "trade_id"]))
    got = pl.DataFrame(closed_batched).sort(*key)
    assert got.select("symbol", "ts", "open", "high", "low", "close").equals(
        want.select("symbol", "ts", "open", "high", "low", "close"))


def _shifted(trades: list[Trade], minutes: int) -> list[Trade]:
    """The recording spread over ``minutes`` minutes (one trade every 60 s / per-minute share), ids kept."""
    step = minutes * 60_000 // len(trades)
    base = trades[0].ts - trades[0].ts % 60_000
    return [t._replace(ts=base + i * step) for i, t in enumerate(trades)]


def _exchange_klines(trades: list[Trade]) -> list[Kline]:
    """Independent: what the exchange would send, from polars candles of the same trades."""
    frame = candles_from_trades(pl.DataFrame([t._asdict() for t in trades]))
    return [Kline(r["symbol"], "1m", r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"], True)
            for r in frame.iter_rows(named=True)]


def test_kline_cross_check_finds_no_mismatch_on_the_same_trades(fake_clock: FakeClock) -> None:
    # Arrange: trades over 5 minutes, plus a restart-free core that already saw one trade before (no partial minute)
    trades = _shifted(recorded_coinbase_trades(), 5)
    klines = _exchange_klines(trades)
    core = ExchangeStreamCore(StreamConfig(exchange="coinbase", symbols=(SYMBOL,), grace_ms=0), coinbase, fake_clock)
    core.state[SYMBOL].last_id = trades[0].trade_id - 1  # as after a REST repair: the first minute is complete
    # Act: half the klines arrive before their candle closes (pending), half after
    for kline in klines[:2]:
        core.on_kline(kline)
    core.ingest(SYMBOL, trades, 0)
    for kline in klines[2:]:
        core.on_kline(kline)
    core.flush()
    # Assert
    assert len(klines) == 5
    assert (core.kline_checked, core.kline_mismatches, core.kline_unchecked) == (5, 0, 0)


def test_kline_cross_check_counts_a_different_candle(fake_clock: FakeClock) -> None:
    trades = _shifted(recorded_coinbase_trades(), 3)
    klines = _exchange_klines(trades)
    wrong = Kline(SYMBOL, "1m", klines[1].ts, klines[1].open, klines[1].high * 1.01, klines[1].low, klines[1].close,
                  klines[1].volume, True)
    core = ExchangeStreamCore(StreamConfig(exchange="coinbase", symbols=(SYMBOL,), grace_ms=0), coinbase, fake_clock)
    core.state[SYMBOL].last_id = trades[0].trade_id - 1
    closed = core.ingest(SYMBOL, trades, 0).closed
    before = {ts: (c.open, c.high, c.low, c.close) for ts, c in core.state[SYMBOL].candles.items()}
    for kline in (klines[0], wrong, klines[2]):
        core.on_kline(kline)
    # a kline never alters a candle
    assert {ts: (c.open, c.high, c.low, c.close) for ts, c in core.state[SYMBOL].candles.items()} == before
    closed += core.flush()
    assert (core.kline_checked, core.kline_mismatches) == (3, 1)
    assert [c["high"] for c in closed if c["ts"] == wrong.ts] == [klines[1].high]
    assert core.snapshot()["kline_mismatches"] == 1


def test_fresh_start_skips_the_partial_first_minute_and_open_klines(fake_clock: FakeClock) -> None:
    trades = _shifted(recorded_coinbase_trades(), 3)
    klines = _exchange_klines(trades)
    core = ExchangeStreamCore(StreamConfig(exchange="coinbase", symbols=(SYMBOL,), grace_ms=0), coinbase, fake_clock)
    core.ingest(SYMBOL, trades, 0)
    core.on_kline(Kline(SYMBOL, "1m", klines[2].ts, 1.0, 1.0, 1.0, 1.0, 1.0, False))  # still open: not checked
    for kline in klines:
        core.on_kline(kline)
    core.flush()
    assert (core.kline_checked, core.kline_mismatches, core.kline_unchecked) == (2, 0, 1)
    assert core.klines[(SYMBOL, "1m")] == klines[-1]


def test_latest_ticker_per_symbol_is_taken_once() -> None:
    core = ExchangeStreamCore(StreamConfig(exchange="coinbase", symbols=SYMBOLS["coinbase"]), coinbase, FakeClock())
    last: dict[str, float] = {}
    for row in load_recorded("coinbase"):  # independent: the last recorded ticker price per product
        msg = json.loads(row["payload"])
        if msg.get("type") == "ticker":
            last[msg["product_id"].replace("-", "/")] = float(msg["price"])
    core.on_frames(_frames("coinbase"), 0)
    taken = core.take_tickers()
    assert {s: t.last for s, t in taken.items()} == last
    assert all(isinstance(t, Ticker) for t in taken.values())
    assert core.take_tickers() == {}


def test_transport_choice() -> None:
    cfg = StreamConfig(exchange="binance", symbols=("XRP/ETH",))
    assert resolve_transport(cfg, binance) == "native"
    assert resolve_transport(cfg.model_copy(update={"transport": "ccxt"}), binance) == "ccxt"

    class _NoRaw:
        EXCHANGE = "other"

    assert resolve_transport(cfg, _NoRaw) == "ccxt"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="native"):
        resolve_transport(cfg.model_copy(update={"transport": "native"}), _NoRaw)  # type: ignore[arg-type]


def test_binance_subscriptions_split_by_connection_and_message() -> None:
    symbols = [f"A{i}/USDT" for i in range(450)]
    specs = binance.ws_connections(symbols, frozenset(Channel), "ws://h:1")
    params = [p for spec in specs for m in spec.messages for p in json.loads(m)["params"]]
    assert [len(s.symbols) for s in specs] == [333, 117]  # <= 1000 streams per connection
    assert all(len(json.loads(m)["params"]) <= binance.MAX_PARAMS_PER_MESSAGE for s in specs for m in s.messages)
    assert len(params) == len(set(params)) == 450 * 3 and "a0usdt@kline_1m" in params
    assert {s.url for s in specs} == {"ws://h:1/ws"}
