"""The alert rules engine (pure): crosses fire once, per series; signal and sentiment rules; rule edits."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from pipelines.alerts import (
    AlertEngine,
    AlertRule,
    CandleEvent,
    Direction,
    RuleKind,
    SentimentEvent,
    SignalEvent,
    crossed,
)


def _candle(close: float, ts: int, *, symbol: str = "BTC/USDT", rsi: float = math.nan) -> CandleEvent:
    return CandleEvent("binance", symbol, "1h", ts, close, {"rsi_14": rsi})


def test_price_cross_fires_once_on_the_crossing_bar() -> None:
    # Arrange
    engine = AlertEngine([AlertRule(rule_id="r1", kind=RuleKind.PRICE_CROSS, symbol="BTC/USDT", level=100.0)])
    closes = [98.0, 99.0, 101.0, 102.0, 99.5, 100.5]
    # Act
    fired = engine.on_events(_candle(c, i) for i, c in enumerate(closes))
    # Assert: up-crosses at bars 2 and 5 only
    assert [(a.ts, a.value) for a in fired] == [(2, 101.0), (5, 100.5)]
    assert "crossed above 100" in fired[0].message


def test_direction_below_and_either() -> None:
    def rule(direction: Direction) -> AlertRule:
        return AlertRule(rule_id="r", kind=RuleKind.PRICE_CROSS, symbol="*", level=10, direction=direction)

    below, either = AlertEngine([rule(Direction.BELOW)]), AlertEngine([rule(Direction.EITHER)])
    events = [_candle(c, i) for i, c in enumerate([11.0, 9.0, 12.0])]
    assert [a.ts for a in below.on_events(events)] == [1]
    assert [a.ts for a in either.on_events(events)] == [1, 2]


def test_state_is_per_symbol_and_wildcard_matches_all() -> None:
    engine = AlertEngine([AlertRule(rule_id="w", kind=RuleKind.PRICE_CROSS, symbol="*", level=50.0)])
    fired = engine.on_events([_candle(49, 0, symbol="A"), _candle(60, 0, symbol="B"), _candle(51, 1, symbol="A"),
                              _candle(61, 1, symbol="B")])
    assert [(a.symbol, a.ts) for a in fired] == [("A", 1)]


def test_indicator_threshold_skips_warmup_nans() -> None:
    engine = AlertEngine([AlertRule(rule_id="rsi", kind=RuleKind.INDICATOR, symbol="BTC/USDT", indicator="rsi_14",
                                    level=70.0)])
    fired = engine.on_events([_candle(1, 0), _candle(1, 1, rsi=65.0), _candle(1, 2, rsi=72.0), _candle(1, 3, rsi=75.0)])
    assert [(a.ts, a.value) for a in fired] == [(2, 72.0)]


def test_anomaly_and_pattern_rules_filter_signals() -> None:
    engine = AlertEngine([
        AlertRule(rule_id="an", kind=RuleKind.ANOMALY, symbol="*", min_score=5.0),
        AlertRule(rule_id="pt", kind=RuleKind.PATTERN, symbol="ETH/USDT", pattern="Engulfing"),
    ])
    events = [
        SignalEvent("binance", "BTC/USDT", "1h", 1, "volume_spike", 4.0, "volume is 4.0x"),
        SignalEvent("binance", "BTC/USDT", "1h", 2, "return_outlier", -6.5, "-6.5 sigmas"),
        SignalEvent("binance", "BTC/USDT", "1h", 3, "rsi_overbought", 71.0, "RSI crossed above 70"),
        SignalEvent("binance", "ETH/USDT", "1h", 4, "pattern", 100.0, "cdl_engulfing bullish (100)"),
        SignalEvent("binance", "ETH/USDT", "1h", 5, "pattern", -100.0, "cdl_hammer (-100)"),
    ]
    assert [(a.rule_id, a.ts) for a in engine.on_events(events)] == [("an", 2), ("pt", 4)]


def test_sentiment_swing() -> None:
    engine = AlertEngine([AlertRule(rule_id="s", kind=RuleKind.SENTIMENT_SWING, symbol="BTC/USDT", timeframe="1d",
                                    level=0.3)])
    fired = engine.on_events([SentimentEvent("BTC/USDT", "1d", t, s) for t, s in enumerate([0.1, 0.2, -0.2, -0.1])])
    assert [(a.ts, round(a.value, 3)) for a in fired] == [(2, -0.4)]


def test_disabled_rule_and_timeframe_mismatch_never_fire() -> None:
    engine = AlertEngine([AlertRule(rule_id="d", kind=RuleKind.PRICE_CROSS, symbol="*", level=1, enabled=False),
                          AlertRule(rule_id="t", kind=RuleKind.PRICE_CROSS, symbol="*", level=1, timeframe="1d")])
    assert engine.on_events([_candle(0, 0), _candle(2, 1)]) == []


def test_editing_a_rule_resets_its_state_only() -> None:
    keep = AlertRule(rule_id="k", kind=RuleKind.PRICE_CROSS, symbol="*", level=10)
    edit = AlertRule(rule_id="e", kind=RuleKind.PRICE_CROSS, symbol="*", level=10)
    engine = AlertEngine([keep, edit])
    engine.on_events([_candle(9, 0)])
    engine.set_rules([keep, edit.model_copy(update={"level": 10.5})])
    fired = engine.on_events([_candle(11, 1)])
    assert [a.rule_id for a in fired] == ["k"]


def test_rule_validation() -> None:
    with pytest.raises(ValidationError, match="indicator name"):
        AlertRule(rule_id="x", kind=RuleKind.INDICATOR, symbol="*")
    with pytest.raises(ValidationError, match="level > 0"):
        AlertRule(rule_id="x", kind=RuleKind.SENTIMENT_SWING, symbol="*")
    with pytest.raises(ValidationError):
        AlertRule(rule_id="x", kind=RuleKind.PRICE_CROSS, symbol="*", webhook_url="ftp://nope")


def test_crossed_nan_is_never_a_cross() -> None:
    assert not crossed(math.nan, 5.0, 1.0, Direction.EITHER)
