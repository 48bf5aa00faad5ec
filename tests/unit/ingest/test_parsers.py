"""Single-message parse tests: one recorded frame per channel through the venue parsers."""

from __future__ import annotations

import pytest

from actors.exchanges import Kline, Ticker, Trade, binance, coinbase
from cluster.errors import ParseError
from tests.unit.ingest.conftest import load_recorded


def _first(venue: str, needle: str) -> str:
    return next(r["payload"] for r in load_recorded(venue) if needle in r["payload"])


def test_binance_agg_trade_parses_to_trade() -> None:
    # Arrange
    kind, msg = binance.decode_frame(_first("binance", '"a":15683430'))
    # Act
    trade = binance.parser_for(kind)(msg, 0)  # type: ignore[misc]
    # Assert
    assert kind == "aggTrade"
    assert trade.trade_id == 15683430 and trade.ts == 1633998523963
    assert (trade.price, trade.amount, trade.side) == (0.3528, 58.0, "buy")


def test_binance_registered_symbols_are_unified() -> None:
    binance.register_symbols(["NKN/USDT"])
    _kind, msg = binance.decode_frame(_first("binance", '"a":15683430'))
    assert binance.parse_trade(msg, 0).symbol == "NKN/USDT"


def test_binance_kline_and_book_ticker() -> None:
    kind, msg = binance.decode_frame(_first("binance", '"e":"kline"'))
    kline = binance.parser_for(kind)(msg, 0)  # type: ignore[misc]
    assert isinstance(kline, Kline) and kline.timeframe == "1m" and kline.high >= kline.low
    kind, msg = binance.decode_frame(_first("binance", "@bookTicker"))
    ticker = binance.parser_for(kind)(msg, 123)  # type: ignore[misc]
    assert isinstance(ticker, Ticker) and ticker.bid is not None and ticker.ask is not None
    assert ticker.bid <= ticker.ask


def test_coinbase_match_reports_taker_side() -> None:
    # Arrange: the recorded match has maker side "sell", so the taker bought
    _kind, msg = coinbase.decode_frame(_first("coinbase", '"trade_id":280232'))
    # Act
    trade = coinbase.parse_trade(msg, 0)
    # Assert
    assert trade == Trade("SKL/BTC", 280232, 1618677817089, 0.00001305, 985.0, "buy")


def test_coinbase_ticker() -> None:
    kind, msg = coinbase.decode_frame(_first("coinbase", '"type":"ticker"'))
    ticker = coinbase.parser_for(kind)(msg, 0)  # type: ignore[misc]
    assert isinstance(ticker, Ticker) and ticker.last is not None


@pytest.mark.parametrize(("venue", "frame"), [
    (binance, '{"e":"aggTrade","E":1,"s":"XRPETH","a":5}'),
    (binance, '{"e":"aggTrade","E":1,"s":"XRPETH","a":5,"p":"x","q":"1","T":1,"m":true}'),
    (coinbase, '{"type":"match","trade_id":1,"product_id":"A-B","time":"2021-04-17T16:43:37Z","side":"buy"}'),
    (coinbase, '{"type":"match","trade_id":1,"product_id":"A-B","time":"bad","side":"buy","size":"1","price":"1"}'),
])
def test_malformed_known_type_raises_parse_error_with_excerpt(venue: object, frame: str) -> None:
    kind, msg = venue.decode_frame(frame)  # type: ignore[attr-defined]
    with pytest.raises(ParseError) as info:
        venue.parser_for(kind)(msg, 0)  # type: ignore[attr-defined]
    assert info.value.excerpt and len(info.value.excerpt) <= 200


@pytest.mark.parametrize("venue", [binance, coinbase])
def test_non_json_frame_raises_parse_error(venue: object) -> None:
    with pytest.raises(ParseError):
        venue.decode_frame('{"e":"aggTr')  # type: ignore[attr-defined]


def test_ccxt_trade_conversion_rejects_missing_price() -> None:
    with pytest.raises(ParseError):
        binance.trade_from_ccxt({"symbol": "XRP/ETH", "id": "1", "timestamp": 1, "price": None, "amount": 1.0})
    trade = coinbase.trade_from_ccxt({"symbol": "A/B", "id": "7", "timestamp": 5, "price": 1.5, "amount": 2.0,
                                      "side": "sell"})
    assert trade == Trade("A/B", 7, 5, 1.5, 2.0, "sell")
