"""ExchangeStreamCore scenarios: duplicates, out-of-order frames, gaps, repair, closing and restart."""

from __future__ import annotations

import pytest

from actors.exchange_stream_core import Checkpoint, ExchangeStreamCore, StreamConfig
from actors.exchanges import Trade, coinbase
from tests.unit.ingest.conftest import FakeClock, recorded_coinbase_trades

SYMBOL = "SKL/USD"


def _core(clock: FakeClock, **cfg: object) -> ExchangeStreamCore:
    return ExchangeStreamCore(StreamConfig(exchange="coinbase", symbols=(SYMBOL,), **cfg),  # type: ignore[arg-type]
                              coinbase, clock)


def _clean_candles(trades: list[Trade]) -> list[dict[str, object]]:
    core = _core(FakeClock())
    closed = core.ingest(SYMBOL, trades, 0).closed
    return closed + core.flush()


def test_duplicates_are_dropped_and_counted(fake_clock: FakeClock) -> None:
    trades = recorded_coinbase_trades()
    core = _core(fake_clock)
    doubled = [t for trade in trades for t in (trade, trade)]
    closed = core.ingest(SYMBOL, doubled, 0).closed + core.flush()
    assert closed == _clean_candles(trades)
    assert core.state[SYMBOL].duplicates == len(trades)


def test_out_of_order_frames_within_the_window_need_no_repair(fake_clock: FakeClock) -> None:
    trades = recorded_coinbase_trades()
    swapped = list(trades)
    for i in range(0, len(swapped) - 1, 7):
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    core = _core(fake_clock)
    closed: list[dict[str, object]] = []
    for t in swapped:
        closed += core.ingest(SYMBOL, [t], 0).closed
        assert not core.wants_repair(SYMBOL)
    closed += core.flush()
    assert closed == _clean_candles(trades)
    assert core.state[SYMBOL].reordered > 0


def test_id_gap_blocks_closing_until_rest_repair(fake_clock: FakeClock) -> None:
    trades = recorded_coinbase_trades()
    lost = trades[10:20]
    core = _core(fake_clock, reorder_window_msgs=5)
    result = core.ingest(SYMBOL, trades[:10] + trades[20:], 0)
    assert core.state[SYMBOL].missing == {t.trade_id for t in lost}
    assert core.wants_repair(SYMBOL)
    assert all(c["ts"] + 60_000 <= trades[9].ts for c in result.closed)
    assert core.repair_cursor(SYMBOL) == lost[0].trade_id - 1
    fake_clock.advance(250)
    repaired = core.apply_repair(SYMBOL, trades[10:], 0)
    assert [(g.method, g.from_ts, g.repaired_at_ms - g.detected_at_ms) for g in repaired.gaps] == \
        [("rest_trades", trades[9].ts, 250)]
    closed = result.closed + repaired.closed + core.flush()
    assert closed == _clean_candles(trades)


def test_unrecoverable_gap_is_recorded_unrepaired(fake_clock: FakeClock) -> None:
    trades = recorded_coinbase_trades()
    core = _core(fake_clock)
    core.ingest(SYMBOL, trades[:5] + trades[8:], 0)
    result = core.apply_repair(SYMBOL, [], 0)
    assert [g.method for g in result.gaps] == ["unrepaired"]
    assert result.gaps[0].repaired_at_ms is None
    assert not core.state[SYMBOL].missing


def test_disconnect_holds_candles_until_repair(fake_clock: FakeClock) -> None:
    trades = recorded_coinbase_trades()
    core = _core(fake_clock, grace_ms=0)
    core.ingest(SYMBOL, trades[:30], 0)
    core.on_disconnect(SYMBOL, "test")
    held = core.ingest(SYMBOL, trades[40:], 0)
    assert held.closed == [] and core.wants_repair(SYMBOL)
    repaired = core.apply_repair(SYMBOL, trades[30:], 0)
    assert len(repaired.gaps) == 1 and repaired.gaps[0].method == "rest_trades"
    assert core.snapshot()["reconnects"] == 1


def test_grace_window_keeps_a_minute_open(fake_clock: FakeClock) -> None:
    base = 1_618_677_780_000
    core = _core(fake_clock, grace_ms=2_000)
    t = [Trade(SYMBOL, 1, base + 59_000, 1.0, 1.0, "buy"), Trade(SYMBOL, 2, base + 61_000, 2.0, 1.0, "buy")]
    assert core.ingest(SYMBOL, t, 0).closed == []
    closed = core.ingest(SYMBOL, [Trade(SYMBOL, 3, base + 62_000, 3.0, 1.0, "sell")], 0).closed
    assert [c["ts"] for c in closed] == [base]


def test_restart_from_checkpoint_asks_for_repair_and_skips_closed(fake_clock: FakeClock) -> None:
    trades = recorded_coinbase_trades()
    first = _core(fake_clock, grace_ms=0)
    closed = first.ingest(SYMBOL, trades[:40], 0).closed
    assert closed
    checkpoint = first.checkpoints()[SYMBOL]
    restarted = ExchangeStreamCore(first.cfg, coinbase, fake_clock, {SYMBOL: checkpoint})
    assert restarted.wants_repair(SYMBOL) and restarted.repair_cursor(SYMBOL) == checkpoint.last_id
    rest = [t for t in trades if t.trade_id > checkpoint.last_id]
    after = restarted.apply_repair(SYMBOL, rest, 0)
    closed += after.closed + restarted.flush()
    assert closed == _clean_candles(trades)
    assert isinstance(checkpoint, Checkpoint)


@pytest.mark.parametrize("frame", ['{"type":"match","trade_id":', '{"type":"mystery"}', '[1,2]',
                                   '{"type":"match","trade_id":1,"product_id":"SKL-USD"}'])
def test_bad_frames_never_create_or_alter_a_candle(fake_clock: FakeClock, frame: str) -> None:
    trades = recorded_coinbase_trades()
    core = _core(fake_clock)
    core.ingest(SYMBOL, trades[:3], 0)
    before = {ts: (c.open, c.high, c.low, c.close, c.volume) for ts, c in core.state[SYMBOL].candles.items()}
    events, result = core.on_message(frame, 0)
    assert events == [] and result.closed == []
    assert {ts: (c.open, c.high, c.low, c.close, c.volume) for ts, c in core.state[SYMBOL].candles.items()} == before
    assert core.parse_errors + core.unknown_frames == 1


def test_stale_symbols(fake_clock: FakeClock) -> None:
    core = _core(fake_clock, stale_after_s=5)
    core.ingest(SYMBOL, recorded_coinbase_trades()[:1], fake_clock.now_ms())
    assert core.stale_symbols(fake_clock.now_ms() + 4_000) == []
    assert core.stale_symbols(fake_clock.now_ms() + 6_000) == [SYMBOL]


def test_repair_keeps_ids_rest_could_not_have_seen_yet(fake_clock: FakeClock) -> None:
    # Arrange: a hole at 10..14; the stream runs on during the REST fetch and opens a second hole at 40..44
    trades = recorded_coinbase_trades()
    core = _core(fake_clock)
    core.ingest(SYMBOL, trades[:10] + trades[15:30], 0)
    known_through = core.state[SYMBOL].last_id
    rest = trades[10:30]  # what REST had when asked
    core.ingest(SYMBOL, trades[30:40] + trades[45:], 0)
    # Act
    result = core.apply_repair(SYMBOL, rest, 0, known_through=known_through)
    # Assert: the first hole is filled, the second stays open (not given up); the gap row is written once
    # the symbol has no hole left, spanning from the first hole
    assert result.gaps == [] and core.state[SYMBOL].missing == {t.trade_id for t in trades[40:45]}
    again = core.apply_repair(SYMBOL, trades[40:], 0, known_through=core.state[SYMBOL].last_id)
    assert [(g.method, g.from_ts) for g in again.gaps] == [("rest_trades", trades[9].ts)]
    assert not core.state[SYMBOL].missing
    assert core.flush() and core.state[SYMBOL].late == 0
