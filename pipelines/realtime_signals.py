"""Real-time detections from closed candles: threshold crosses, anomalies and candlestick-pattern hits.

:class:`SignalEngine` is the plain core an actor or the ``coinray features --follow`` loop wraps:
it keeps a :class:`~pipelines.sliding_state.StreamingFeatures` per timeframe plus the last 32
candles of each series (enough for every TA-Lib pattern at the newest bar), turns each batch of
closed candles into :class:`Signal` events, and snapshots/restores as JSON-able data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import talib

from pipelines.anomalies import AnomalyConfig
from pipelines.indicators import IndicatorConfig
from pipelines.patterns import PATTERN_COLUMNS, pattern_name
from pipelines.sliding_state import StreamingFeatures

PATTERN_BARS = 32
DEFAULT_SIGNAL_PATTERNS: tuple[str, ...] = (
    "cdl_engulfing", "cdl_morningstar", "cdl_eveningstar", "cdl_morningdojistar", "cdl_eveningdojistar",
    "cdl_hammer", "cdl_shootingstar", "cdl_piercing", "cdl_darkcloudcover", "cdl_3whitesoldiers",
    "cdl_3blackcrows", "cdl_abandonedbaby",
)
SIGNAL_KINDS: tuple[str, ...] = ("rsi_overbought", "rsi_oversold", "macd_cross_up", "macd_cross_down",
                                 "bb_break_upper", "bb_break_lower", "return_outlier", "volume_spike", "price_gap",
                                 "pattern")


@dataclass(frozen=True)
class Signal:
    """One detection, as published to ``coinray:signals``."""

    kind: str
    exchange: str
    symbol: str
    timeframe: str
    ts: int
    value: float
    detail: str

    def fields(self) -> dict[str, str | int | float]:
        """Flat stream fields (XADD)."""
        return dict(asdict(self))


def series_key(exchange: str, symbol: str) -> str:
    """The state key of a series within one timeframe.

    >>> series_key("binance", "BTC/USDT")
    'binance|BTC/USDT'
    """
    return f"{exchange}|{symbol}"


class SignalEngine:
    """Incremental feature state for every (exchange, symbol, timeframe) and the detections it yields.

    Parameters
    ----------
    indicators, anomaly:
        Periods and thresholds (the batch pipeline's configs).
    rsi_levels:
        (oversold, overbought) RSI thresholds whose crossing is a signal.
    patterns:
        ``cdl_*`` columns whose hit on the newest bar is a signal (the frequent, weak ones such as
        ``cdl_spinningtop`` would flood the stream, so the default is a set of classic reversals).

    Raises
    ------
    ValueError
        When ``patterns`` names an unknown pattern column.
    """

    def __init__(self, indicators: IndicatorConfig | None = None, anomaly: AnomalyConfig | None = None,
                 rsi_levels: tuple[float, float] = (30.0, 70.0),
                 patterns: tuple[str, ...] = DEFAULT_SIGNAL_PATTERNS) -> None:
        unknown = sorted(set(patterns) - set(PATTERN_COLUMNS))
        if unknown:
            raise ValueError(f"unknown pattern column(s) {unknown}; valid: {', '.join(PATTERN_COLUMNS)}")
        self.indicators = indicators or IndicatorConfig()
        self.anomaly = anomaly or AnomalyConfig()
        self.rsi_levels = rsi_levels
        self.patterns = patterns
        self._states: dict[str, StreamingFeatures] = {}
        self._last: dict[str, dict[str, float]] = {}  # "<tf>|<key>" -> previous outputs used for crosses
        self._bars: dict[str, list[list[float]]] = {}  # "<tf>|<key>" -> last PATTERN_BARS [o, h, l, c]

    def state(self, timeframe: str) -> StreamingFeatures:
        """The streaming state of one timeframe (created on first use)."""
        if timeframe not in self._states:
            self._states[timeframe] = StreamingFeatures(self.indicators, self.anomaly)
        return self._states[timeframe]

    def on_candles(self, candles: Iterable[Mapping[str, Any]], *, emit: bool = True) -> list[Signal]:
        """Apply closed candles (dicts with exchange, symbol, timeframe, ts, open..volume) in order.

        Candles of one series must arrive in ts order; a candle not newer than the series' last one
        is ignored (re-delivery). With ``emit=False`` the state is only warmed (history replay).
        """
        signals: list[Signal] = []
        batch: dict[str, list[Mapping[str, Any]]] = {}
        seen: dict[str, set[str]] = {}
        for candle in candles:
            tf = str(candle["timeframe"])
            key = series_key(str(candle["exchange"]), str(candle["symbol"]))
            keys = seen.setdefault(tf, set())
            if key in keys:  # a second candle of the same series: flush the batch first
                signals += self._apply(tf, batch[tf], emit)
                batch[tf] = []
                keys.clear()
            keys.add(key)
            batch.setdefault(tf, []).append(candle)
        for tf, pending in batch.items():
            signals += self._apply(tf, pending, emit)
        return signals

    def _apply(self, tf: str, candles: list[Mapping[str, Any]], emit: bool) -> list[Signal]:
        fresh = [c for c in candles if int(c["ts"]) > self._last.get(
            f"{tf}|{series_key(str(c['exchange']), str(c['symbol']))}", {}).get("ts", -math.inf)]
        if not fresh:
            return []
        keys = [series_key(str(c["exchange"]), str(c["symbol"])) for c in fresh]
        col = {k: np.array([float(c[k]) for c in fresh]) for k in ("open", "high", "low", "close", "volume")}
        out = self.state(tf).update(keys, ts=np.array([int(c["ts"]) for c in fresh], dtype=np.int64),
                                    open_=col["open"], high=col["high"], low=col["low"], close=col["close"],
                                    volume=col["volume"])
        signals: list[Signal] = []
        for j, (candle, key) in enumerate(zip(fresh, keys, strict=True)):
            now = {name: float(values[j]) for name, values in out.items()}
            now["ts"] = float(candle["ts"])
            now["close"] = float(candle["close"])
            bars = self._bars.setdefault(f"{tf}|{key}", [])
            bars.append([float(candle[k]) for k in ("open", "high", "low", "close")])
            del bars[:-PATTERN_BARS]
            prev = self._last.get(f"{tf}|{key}", {})
            self._last[f"{tf}|{key}"] = now
            if emit:
                signals += self._detect(candle, tf, prev, now, bars)
        return signals

    def _detect(self, candle: Mapping[str, Any], tf: str, prev: dict[str, float], now: dict[str, float],
                bars: list[list[float]]) -> list[Signal]:
        cfg, an = self.indicators, self.anomaly
        fast, slow, sig = cfg.macd
        n, k = cfg.bollinger
        rsi, hist = f"rsi_{cfg.rsi_period}", f"macd_hist_{fast}_{slow}_{sig}"
        upper, lower = f"bb_upper_{n}_{k:g}", f"bb_lower_{n}_{k:g}"
        low, high = self.rsi_levels

        def crossed(name: str, level: float, up: bool) -> bool:
            a, b = prev.get(name, math.nan), now.get(name, math.nan)
            if math.isnan(a) or math.isnan(b):
                return False
            return a <= level < b if up else a >= level > b

        found: list[tuple[str, float, str]] = []
        if crossed(rsi, high, up=True):
            found.append(("rsi_overbought", now[rsi], f"RSI crossed above {high:g}"))
        if crossed(rsi, low, up=False):
            found.append(("rsi_oversold", now[rsi], f"RSI crossed below {low:g}"))
        if crossed(hist, 0.0, up=True):
            found.append(("macd_cross_up", now[hist], "MACD crossed above its signal line"))
        if crossed(hist, 0.0, up=False):
            found.append(("macd_cross_down", now[hist], "MACD crossed below its signal line"))
        c, pc = now["close"], prev.get("close", math.nan)
        if c > now.get(upper, math.inf) and not pc > prev.get(upper, math.inf):
            found.append(("bb_break_upper", c / now[upper] - 1, "close broke above the upper Bollinger band"))
        if c < now.get(lower, -math.inf) and not pc < prev.get(lower, -math.inf):
            found.append(("bb_break_lower", c / now[lower] - 1, "close broke below the lower Bollinger band"))
        rz, spike = now.get(f"ret_rz_{an.window}", math.nan), now.get(f"volume_spike_{an.window}", math.nan)
        if abs(rz) >= an.z_threshold:
            found.append(("return_outlier", rz, f"1-bar return is {rz:+.2f} robust sigmas"))
        if spike >= an.spike_ratio:
            found.append(("volume_spike", spike, f"volume is {spike:.1f}x its {an.window}-bar median"))
        gap = now.get("gap_pct", math.nan)
        if abs(gap) >= an.gap_threshold:
            found.append(("price_gap", gap * 100, f"open {gap * 100:+.2f}% from the previous close"))
        found += _pattern_hits(bars, self.patterns)
        return [Signal(kind, str(candle["exchange"]), str(candle["symbol"]), tf, int(candle["ts"]), value, detail)
                for kind, value, detail in found]

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to resume: configs, per-timeframe states, last outputs and candle windows."""
        return {
            "indicators": self.indicators.model_dump(mode="json"),
            "anomaly": self.anomaly.model_dump(mode="json"),
            "rsi_levels": list(self.rsi_levels),
            "patterns": list(self.patterns),
            "states": {tf: st.snapshot() for tf, st in self._states.items()},
            "last": {k: {n: (None if math.isnan(v) else v) for n, v in d.items()} for k, d in self._last.items()},
            "bars": self._bars,
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> SignalEngine:
        """Rebuild an engine from :meth:`snapshot` output."""
        engine = cls(IndicatorConfig.model_validate(data["indicators"]), AnomalyConfig.model_validate(data["anomaly"]),
                     (float(data["rsi_levels"][0]), float(data["rsi_levels"][1])), tuple(data["patterns"]))
        engine._states = {tf: StreamingFeatures.restore(st) for tf, st in data["states"].items()}
        engine._last = {k: {n: (math.nan if v is None else float(v)) for n, v in d.items()}
                        for k, d in data["last"].items()}
        engine._bars = {k: [list(map(float, b)) for b in v] for k, v in data["bars"].items()}
        return engine


def _pattern_hits(bars: list[list[float]], patterns: tuple[str, ...]) -> list[tuple[str, float, str]]:
    arr = np.asarray(bars, dtype=np.float64)
    o, h, lo, c = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
    hits = []
    for column in patterns:
        value = int(getattr(talib, pattern_name(column))(o, h, lo, c)[-1])
        if value:
            hits.append(("pattern", float(value), f"{column} {'bullish' if value > 0 else 'bearish'} ({value:+d})"))
    return hits
