"""Alert rules and their evaluation on a stream of market events (pure: no I/O, no clock).

A rule (price cross, indicator threshold, sentiment swing, anomaly, pattern) is checked against
each event of its symbol and timeframe; :class:`AlertEngine` keeps the previous value per rule so
that a *cross* fires once, on the bar where it happens, never on every bar beyond the level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ANOMALY_KINDS: tuple[str, ...] = ("return_outlier", "volume_spike", "price_gap")
"""Signal kinds (``pipelines.realtime_signals``) that an anomaly rule listens to."""


class RuleKind(StrEnum):
    """What a rule watches."""

    PRICE_CROSS = "price_cross"
    INDICATOR = "indicator_threshold"
    SENTIMENT_SWING = "sentiment_swing"
    ANOMALY = "anomaly"
    PATTERN = "pattern"


class Direction(StrEnum):
    """Which way a value must cross the level."""

    ABOVE = "above"
    BELOW = "below"
    EITHER = "either"


class AlertRule(BaseModel):
    """One alert rule, as stored in ``alert_rules`` and edited on the Alerts page.

    Parameters
    ----------
    rule_id:
        Stable id (the store's key).
    kind:
        What the rule watches (:class:`RuleKind`).
    symbol:
        ccxt unified symbol (``BTC/USDT``); ``*`` matches every symbol.
    timeframe:
        Bar timeframe of the events it is checked on.
    level:
        Price (price cross), indicator value (indicator threshold) or minimum absolute change of
        the sentiment score between consecutive buckets (sentiment swing); unused otherwise.
    direction:
        Required crossing direction (price cross, indicator threshold).
    indicator:
        Indicator name of an indicator threshold (e.g. ``rsi_14``, ``ema_20``, ``macd_hist_12_26_9``).
    min_score:
        Anomaly rules fire only when ``|score| >= min_score``.
    pattern:
        Pattern rules: the signal detail must contain this text (case-insensitive); empty = any.
    webhook_url:
        Where a fired alert is POSTed as JSON; empty = in-page notifications only.
    enabled:
        Disabled rules are kept but never fire.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule_id: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=120, description="Label shown in notifications.")
    kind: RuleKind
    symbol: str = Field(min_length=1, max_length=40)
    timeframe: str = Field("1h", pattern=r"^(1m|5m|15m|1h|4h|1d)$")
    level: float = 0.0
    direction: Direction = Direction.ABOVE
    indicator: str = Field("", max_length=40)
    min_score: float = Field(0.0, ge=0)
    pattern: str = Field("", max_length=60)
    webhook_url: str = Field("", max_length=500, pattern=r"^(https?://.+)?$")
    enabled: bool = True

    @model_validator(mode="after")
    def _needs(self) -> AlertRule:
        if self.kind is RuleKind.INDICATOR and not self.indicator:
            raise ValueError("an indicator threshold rule needs an indicator name (e.g. rsi_14)")
        if self.kind is RuleKind.SENTIMENT_SWING and self.level <= 0:
            raise ValueError("a sentiment swing rule needs level > 0 (the minimum score change)")
        return self

    def matches(self, symbol: str, timeframe: str) -> bool:
        """Whether an event of ``symbol``/``timeframe`` concerns this rule."""
        return self.enabled and timeframe == self.timeframe and self.symbol in ("*", symbol)


@dataclass(frozen=True)
class CandleEvent:
    """A closed candle with the streaming indicator values computed up to it."""

    exchange: str
    symbol: str
    timeframe: str
    ts: int
    close: float
    indicators: Mapping[str, float]


@dataclass(frozen=True)
class SignalEvent:
    """A detection of ``pipelines.realtime_signals`` (anomaly or pattern)."""

    exchange: str
    symbol: str
    timeframe: str
    ts: int
    kind: str
    value: float
    detail: str


@dataclass(frozen=True)
class SentimentEvent:
    """A sentiment bucket score (``sentiment_agg``) of a symbol."""

    symbol: str
    timeframe: str
    ts: int
    score: float


Event = CandleEvent | SignalEvent | SentimentEvent


@dataclass(frozen=True)
class FiredAlert:
    """One alert that fired: which rule, on what, and a human-readable message."""

    rule_id: str
    rule_name: str
    kind: str
    exchange: str
    symbol: str
    timeframe: str
    ts: int
    value: float
    message: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (SSE, webhook body, store row)."""
        return asdict(self)


def crossed(prev: float, now: float, level: float, direction: Direction) -> bool:
    """Whether the move ``prev -> now`` crosses ``level`` in ``direction``.

    >>> crossed(99.0, 101.0, 100.0, Direction.ABOVE)
    True
    >>> crossed(101.0, 102.0, 100.0, Direction.ABOVE)
    False
    >>> crossed(101.0, 99.0, 100.0, Direction.EITHER)
    True
    """
    if math.isnan(prev) or math.isnan(now):
        return False
    up = prev <= level < now
    down = prev >= level > now
    if direction is Direction.ABOVE:
        return up
    if direction is Direction.BELOW:
        return down
    return up or down


class AlertEngine:
    """Evaluates rules on events in arrival order; remembers each rule's previous value per series.

    Parameters
    ----------
    rules:
        The rules to check; replace them with :meth:`set_rules` (state of unchanged rules is kept).
    """

    def __init__(self, rules: Iterable[AlertRule] = ()) -> None:
        self._rules: dict[str, AlertRule] = {}
        self._prev: dict[tuple[str, str, str], float] = {}  # (rule_id, exchange, symbol) -> last value
        self.set_rules(rules)

    @property
    def rules(self) -> list[AlertRule]:
        """The current rules."""
        return list(self._rules.values())

    def set_rules(self, rules: Iterable[AlertRule]) -> None:
        """Replace the rule set; a rule whose definition changed starts with a fresh state."""
        new = {r.rule_id: r for r in rules}
        self._prev = {k: v for k, v in self._prev.items() if new.get(k[0]) == self._rules.get(k[0])}
        self._rules = new

    def on_events(self, events: Iterable[Event]) -> list[FiredAlert]:
        """Check every event against every matching rule; return the alerts that fired, in order."""
        fired: list[FiredAlert] = []
        for event in events:
            for rule in self._rules.values():
                if rule.matches(event.symbol, event.timeframe):
                    alert = self._check(rule, event)
                    if alert is not None:
                        fired.append(alert)
        return fired

    def _check(self, rule: AlertRule, event: Event) -> FiredAlert | None:
        if isinstance(event, CandleEvent):
            if rule.kind is RuleKind.PRICE_CROSS:
                return self._cross(rule, event, event.close, "close")
            if rule.kind is RuleKind.INDICATOR:
                value = float(event.indicators.get(rule.indicator, math.nan))
                return self._cross(rule, event, value, rule.indicator)
            return None
        if isinstance(event, SignalEvent):
            return _signal_alert(rule, event)
        if rule.kind is RuleKind.SENTIMENT_SWING:
            return self._swing(rule, event)
        return None

    def _cross(self, rule: AlertRule, event: CandleEvent, value: float, what: str) -> FiredAlert | None:
        key = (rule.rule_id, event.exchange, event.symbol)
        prev = self._prev.get(key, math.nan)
        if not math.isnan(value):
            self._prev[key] = value
        if not crossed(prev, value, rule.level, rule.direction):
            return None
        way = "above" if value > rule.level else "below"
        msg = f"{event.symbol} {event.timeframe} {what} crossed {way} {rule.level:g} ({prev:g} -> {value:g})"
        return _fired(rule, event.exchange, event.symbol, event.timeframe, event.ts, value, msg)

    def _swing(self, rule: AlertRule, event: SentimentEvent) -> FiredAlert | None:
        key = (rule.rule_id, "", event.symbol)
        prev = self._prev.get(key, math.nan)
        self._prev[key] = event.score
        if math.isnan(prev) or abs(event.score - prev) < rule.level:
            return None
        change = event.score - prev
        msg = f"{event.symbol} {event.timeframe} sentiment swung {change:+.3f} ({prev:+.3f} -> {event.score:+.3f})"
        return _fired(rule, "", event.symbol, event.timeframe, event.ts, event.score - prev, msg)


def _signal_alert(rule: AlertRule, event: SignalEvent) -> FiredAlert | None:
    if rule.kind is RuleKind.ANOMALY and event.kind in ANOMALY_KINDS and abs(event.value) >= rule.min_score:
        msg = f"{event.symbol} {event.timeframe} anomaly {event.kind}: {event.detail}"
        return _fired(rule, event.exchange, event.symbol, event.timeframe, event.ts, event.value, msg)
    if rule.kind is RuleKind.PATTERN and event.kind == "pattern" and rule.pattern.lower() in event.detail.lower():
        msg = f"{event.symbol} {event.timeframe} pattern: {event.detail}"
        return _fired(rule, event.exchange, event.symbol, event.timeframe, event.ts, event.value, msg)
    return None


def _fired(rule: AlertRule, exchange: str, symbol: str, timeframe: str, ts: int, value: float,
           message: str) -> FiredAlert:
    return FiredAlert(rule_id=rule.rule_id, rule_name=rule.name or rule.rule_id, kind=rule.kind.value,
                      exchange=exchange, symbol=symbol, timeframe=timeframe, ts=ts, value=float(value),
                      message=message)
