"""The generic ccxt venue and the opaque-id stream core, without I/O."""

from __future__ import annotations

import pytest

from actors.exchange_stream_config import StreamConfig
from actors.exchange_stream_opaque import OpaqueIdStreamCore
from actors.exchanges import OpaqueTrade, binance, venue_for
from actors.exchanges.generic import GenericVenue, rewrite_urls
from cluster.errors import ConfigError, ParseError
from tests.unit.ingest.conftest import FakeClock

T0 = 1_700_000_040_000  # a minute boundary


def _core(clock: FakeClock, **cfg: object) -> OpaqueIdStreamCore:
    config = StreamConfig(exchange="kraken", symbols=("BTC/USD",), grace_ms=0, **cfg)  # type: ignore[arg-type]
    return OpaqueIdStreamCore(config, venue_for("kraken"), clock)


def _t(trade_id: str | None, ts: int, price: float, amount: float = 1.0, side: str = "buy") -> OpaqueTrade:
    return OpaqueTrade("BTC/USD", trade_id, ts, price, amount, side)


def test_venue_for_picks_module_generic_or_fails_with_close_matches() -> None:
    # Arrange / Act
    kraken = venue_for("kraken")
    forced = venue_for("binance", generic=True)
    with pytest.raises(ConfigError) as err:
        venue_for("krakn")
    # Assert
    assert venue_for("binance") is binance
    assert isinstance(kraken, GenericVenue) and kraken.CCXT_ID == "kraken" and not kraken.SEQUENTIAL_TRADE_IDS
    assert isinstance(forced, GenericVenue) and forced.CCXT_ID == "binance"
    assert "close matches: kraken" in str(err.value)


def test_generic_trade_keeps_ids_opaque_and_rejects_bad_trades() -> None:
    venue = venue_for("kraken")
    uuid = "5a8e0c1e-7b1d-4c53-9f0b-2f1f6a0b9d11"
    trade = venue.trade_from_ccxt({"symbol": "BTC/USD", "id": uuid, "timestamp": T0, "price": "42000.5",
                                   "amount": 0.25, "side": "sell"})
    no_id = venue.trade_from_ccxt({"symbol": "BTC/USD", "id": None, "timestamp": T0, "price": 1, "amount": 2,
                                   "side": None})
    assert trade == OpaqueTrade("BTC/USD", uuid, T0, 42000.5, 0.25, "sell")
    assert no_id.trade_id is None and no_id.side == "" and no_id.key() == ("t", T0, 1.0, 2.0, "")
    with pytest.raises(ParseError):
        venue.trade_from_ccxt({"symbol": "BTC/USD", "id": "x", "timestamp": T0, "price": None, "amount": 1})


def test_rewrite_urls_points_every_host_at_the_simulator() -> None:
    urls = {"public": "https://api.{hostname}", "ws": {"spot": "wss://stream.x.com:9443/ws"}, "doc": "n/a"}
    got = rewrite_urls(urls, "http://127.0.0.1:8", "ws://127.0.0.1:8")
    assert got == {"public": "http://127.0.0.1:8", "ws": {"spot": "ws://127.0.0.1:8/ws"}, "doc": "n/a"}


def test_opaque_core_dedups_by_key_and_orders_same_ms_trades_by_id(fake_clock: FakeClock) -> None:
    # Arrange: uuid-like ids out of order, a duplicate frame, an id-less trade twice
    core = _core(fake_clock)
    trades = [_t("b", T0 + 5, 11.0), _t("a", T0 + 5, 10.0), _t("b", T0 + 5, 11.0),
              _t(None, T0 + 30_000, 12.0, 2.0), _t(None, T0 + 30_000, 12.0, 2.0), _t("c", T0 + 60_500, 9.0)]
    # Act
    result = core.ingest("BTC/USD", trades, T0)
    # Assert: one candle closed (the next minute's trade passed its end), computed by hand
    assert result.duplicates == 2 and result.accepted == 4
    assert [(r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"], r["trades"]) for r in result.closed] \
        == [(T0, 10.0, 12.0, 10.0, 12.0, 4.0, 3)]
    assert core.checkpoints()["BTC/USD"].last_id is None
    assert core.checkpoints()["BTC/USD"].closed_until == T0 + 60_000


def test_opaque_core_repairs_by_time_after_a_disconnect(fake_clock: FakeClock) -> None:
    core = _core(fake_clock)
    core.ingest("BTC/USD", [_t("x1", T0 + 1_000, 5.0), _t("x2", T0 + 2_000, 6.0)], T0)
    core.on_disconnect("BTC/USD", "test")
    held = core.ingest("BTC/USD", [_t("x9", T0 + 70_000, 8.0)], T0)  # after reconnect: closing is held
    assert held.closed == [] and core.wants_repair("BTC/USD")
    assert core.repair_since("BTC/USD") == (T0 + 1_000, True)  # oldest trade of the open candles
    fake_clock.advance(500)
    # REST by time: overlaps what was seen, plus the two trades lost in the outage
    rest = [_t("x1", T0 + 1_000, 5.0), _t("x2", T0 + 2_000, 6.0), _t("x3", T0 + 3_000, 7.0),
            _t("x4", T0 + 61_000, 4.0), _t("x9", T0 + 70_000, 8.0)]
    result = core.apply_repair("BTC/USD", rest, T0)
    assert [(r["ts"], r["close"], r["trades"]) for r in result.closed] == [(T0, 7.0, 3)]
    assert [(g.from_ts, g.to_ts, g.method, g.repaired_at_ms is not None) for g in result.gaps] == \
        [(T0 + 3_000, T0 + 61_000, "rest_trades", True)]
    assert core.state["BTC/USD"].duplicates == 0  # REST overlap is not counted as duplicate traffic
    assert core.gaps_detected == core.gaps_repaired == 1


def test_incomplete_rest_coverage_is_recorded_unrepaired(fake_clock: FakeClock) -> None:
    core = _core(fake_clock)
    core.ingest("BTC/USD", [_t("x1", T0 + 1_000, 5.0)], T0)
    core.on_disconnect("BTC/USD", "test")
    result = core.apply_repair("BTC/USD", [_t("x5", T0 + 9_000, 5.5)], T0, complete=False)
    assert [(g.method, g.repaired_at_ms) for g in result.gaps] == [("unrepaired", None)]


def test_restart_resumes_by_time_from_the_checkpoint(fake_clock: FakeClock) -> None:
    from actors.exchange_stream_state import Checkpoint

    config = StreamConfig(exchange="kraken", symbols=("BTC/USD",), grace_ms=0)
    core = OpaqueIdStreamCore(config, venue_for("kraken"), fake_clock, {"BTC/USD": Checkpoint(None, T0)})
    assert core.wants_repair("BTC/USD") and core.repair_since("BTC/USD") == (T0, False)
    result = core.apply_repair("BTC/USD", [_t("old", T0 - 1, 1.0), _t("n1", T0 + 10, 2.0)], T0)
    assert core.state["BTC/USD"].late == 1 and result.accepted == 1
