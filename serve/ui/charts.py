"""The Symbol page's chart data: candles, indicator overlays and panes, signal and trade markers.

Indicators and signals come from the same pipeline code that runs live (``pipelines.indicators``,
``pipelines.realtime_signals.SignalEngine``), computed over the stored candles shown.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from pipelines.indicators import add_indicators
from pipelines.realtime_signals import SignalEngine

OVERLAYS: dict[str, tuple[str, ...]] = {
    "ema": ("ema_20", "ema_50"),
    "bollinger": ("bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2"),
    "vwap": ("vwap_1d",),
}
PANES: dict[str, tuple[str, ...]] = {
    "rsi": ("rsi_14",),
    "macd": ("macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9"),
}
MAX_SIGNALS = 400


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if (v is None or not math.isfinite(v)) else float(v) for v in values.tolist()]


def iso_to_ms(text: str | None) -> int | None:
    """UTC epoch ms of an ISO 8601 time (the backtest result's trade times); None passes through."""
    if not text:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def candle_chart(candles: pl.DataFrame, *, warmup: int = 0) -> dict[str, Any]:
    """Chart series of one symbol's candles (sorted by ts) with indicators and signals.

    Parameters
    ----------
    candles:
        ``CANDLES`` rows of one exchange, symbol and timeframe.
    warmup:
        Leading rows used only to warm the indicators and signals up (not returned).

    Returns
    -------
    dict
        ``ts``, ``open``..``volume`` lists; ``overlays`` and ``panes`` (name -> values);
        ``signals`` (ts, kind, value, detail, price).
    """
    frame = candles.sort("ts")
    if frame.height == 0:
        return {"ts": [], "open": [], "high": [], "low": [], "close": [], "volume": [], "overlays": {}, "panes": {},
                "signals": []}
    with_ind = add_indicators(frame)
    shown = with_ind.slice(warmup)
    out: dict[str, Any] = {"ts": shown.get_column("ts").to_list()}
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = _floats(shown.get_column(col).to_numpy())
    out["overlays"] = {c: _floats(shown.get_column(c).to_numpy()) for cols in OVERLAYS.values() for c in cols}
    out["panes"] = {c: _floats(shown.get_column(c).to_numpy()) for cols in PANES.values() for c in cols}
    first_ts = out["ts"][0]
    engine = SignalEngine()
    rows = frame.select("exchange", "symbol", "timeframe", "ts", "open", "high", "low", "close", "volume").to_dicts()
    closes = dict(zip(frame.get_column("ts").to_list(), frame.get_column("close").to_list(), strict=True))
    signals = [s for s in engine.on_candles(rows) if s.ts >= first_ts]
    out["signals"] = [{"ts": s.ts, "kind": s.kind, "value": s.value if math.isfinite(s.value) else None,
                       "detail": s.detail, "price": closes.get(s.ts)} for s in signals[-MAX_SIGNALS:]]
    return out


def trade_markers(trades: list[dict[str, Any]], *, symbol: str) -> list[dict[str, Any]]:
    """Entry and exit markers of a backtest's trades on ``symbol``: ts, price, side, label."""
    marks: list[dict[str, Any]] = []
    for t in trades:
        if t.get("symbol") != symbol:
            continue
        long = t.get("direction", "long") == "long"
        marks.append({"ts": iso_to_ms(t["entry_time"]), "price": t["entry_price"], "side": "buy" if long else "sell",
                      "label": f"entry {t['direction']} {t['size']:g}"})
        if t.get("exit_time"):
            pnl = t.get("pnl")
            marks.append({"ts": iso_to_ms(t["exit_time"]), "price": t["exit_price"],
                          "side": "sell" if long else "buy",
                          "label": f"exit pnl {pnl:,.2f}" if pnl is not None else "exit"})
    return marks
