"""Render a backtest result as one self-contained HTML page (inline SVG: equity, drawdown, candles + trades)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import polars as pl

from pipelines.backtest.feed import iso_utc
from pipelines.backtest.result import BacktestResult

WIDTH, HEIGHT, PAD = 960, 220, 40
MAX_CANDLES = 400

_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}svg{background:#fcfcfc;border:1px solid #eee;margin:8px 0}.l{text-align:left}"""


def _scale(values: np.ndarray, lo: float, hi: float, out_lo: float, out_hi: float) -> np.ndarray:
    span = hi - lo if hi > lo else 1.0
    return out_lo + (values - lo) / span * (out_hi - out_lo)


def _line_chart(title: str, ts: np.ndarray, values: np.ndarray, color: str) -> str:
    """An SVG polyline of ``values`` over ``ts`` with min/max labels."""
    if values.size == 0:
        return ""
    step = max(1, values.size // 2000)
    x = _scale(ts[::step].astype(float), float(ts[0]), float(ts[-1]), PAD, WIDTH - PAD)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    y = _scale(values[::step], lo, hi, HEIGHT - PAD, PAD)
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
    return (f'<svg width="{WIDTH}" height="{HEIGHT}"><text x="{PAD}" y="20">{html.escape(title)}</text>'
            f'<text x="2" y="{PAD}" font-size="11">{hi:,.2f}</text>'
            f'<text x="2" y="{HEIGHT - PAD}" font-size="11">{lo:,.2f}</text>'
            f'<polyline fill="none" stroke="{color}" stroke-width="1.2" points="{pts}"/></svg>')


def _bucket(candles: pl.DataFrame) -> pl.DataFrame:
    """At most :data:`MAX_CANDLES` candles: consecutive bars merged into OHLC buckets."""
    size = max(1, -(-candles.height // MAX_CANDLES))
    return (candles.with_row_index("_i").with_columns((pl.col("_i") // size).alias("_b"))
            .group_by("_b", maintain_order=True)
            .agg(pl.col("ts").first(), pl.col("open").first(), pl.col("high").max(), pl.col("low").min(),
                 pl.col("close").last(), pl.col("ts").last().alias("ts_last")))


def _candle_chart(symbol: str, candles: pl.DataFrame, trades: list[dict[str, Any]]) -> str:
    """Candlesticks of one symbol with entry (^) and exit (v) markers of its trades."""
    bars = _bucket(candles.sort("ts"))
    if bars.height == 0:
        return ""
    t0, t1 = float(bars["ts"][0]), float(bars["ts_last"][-1])
    lo, hi = float(bars["low"].min()), float(bars["high"].max())  # type: ignore[arg-type]
    w = max(1.0, (WIDTH - 2 * PAD) / bars.height * 0.7)
    parts = [f'<svg width="{WIDTH}" height="{HEIGHT + 60}"><text x="{PAD}" y="20">{html.escape(symbol)}'
             " candles with trades (green ^ entry, red v exit)</text>"]

    def sx(t: float) -> float:
        return float(_scale(np.array([t]), t0, t1, PAD, WIDTH - PAD)[0])

    def sy(p: float) -> float:
        return float(_scale(np.array([p]), lo, hi, HEIGHT + 20, PAD)[0])

    for row in bars.iter_rows(named=True):
        x, color = sx(row["ts"]), "#2a9d8f" if row["close"] >= row["open"] else "#e76f51"
        top, bot = sy(max(row["open"], row["close"])), sy(min(row["open"], row["close"]))
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{sy(row["high"]):.1f}" y2="{sy(row["low"]):.1f}" '
                     f'stroke="{color}"/><rect x="{x - w / 2:.1f}" y="{top:.1f}" width="{w:.1f}" '
                     f'height="{max(bot - top, 0.5):.1f}" fill="{color}"/>')
    for t in trades:
        if t["symbol"] != symbol:
            continue
        for key_ts, key_px, mark, color in (("entry_ts", "entry_price", "^", "#1b5e20"),
                                            ("exit_ts", "exit_price", "v", "#b71c1c")):
            if t.get(key_ts) is not None:
                parts.append(f'<text x="{sx(t[key_ts]):.1f}" y="{sy(t[key_px]):.1f}" fill="{color}" '
                             f'font-size="12" text-anchor="middle">{mark}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _metrics_table(result: BacktestResult) -> str:
    rows = "".join(f'<tr><th class="l">{html.escape(k)}</th><td>{_fmt(v)}</td></tr>'
                   for k, v in result.metrics.model_dump().items())
    return f"<table>{rows}</table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}"
    return html.escape(str(value))


def _trades_table(result: BacktestResult, limit: int = 500) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("symbol", "side", "entry", "exit", "entry price", "exit price",
                                               "size", "pnl", "return %"))
    body = "".join(
        f'<tr><td class="l">{html.escape(r["symbol"])}</td><td class="l">{r["direction"]}</td>'
        f'<td class="l">{r["entry_time"]}</td><td class="l">{r["exit_time"] or "open"}</td>'
        f"<td>{_fmt(r['entry_price'])}</td><td>{_fmt(r['exit_price'])}</td><td>{_fmt(r['size'])}</td>"
        f"<td>{_fmt(r['pnl'])}</td><td>{_fmt(r['return_pct'])}</td></tr>"
        for r in result.trade_rows(include_open=True)[:limit]
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_backtest_html(result: BacktestResult, candles: pl.DataFrame, *, run_id: str = "") -> str:
    """The whole report page.

    Parameters
    ----------
    result:
        The finished run.
    candles:
        The candles it ran on (symbol, ts, open, high, low, close), for the candlestick charts.
    run_id:
        Shown in the title when given.
    """
    trades = [t.as_dict() for t in result.trades + result.open_trades]
    charts = "".join(_candle_chart(s, candles.filter(pl.col("symbol") == s), trades) for s in result.symbols[:6])
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    span = f"{iso_utc(int(result.ts[0]))} .. {iso_utc(int(result.ts[-1]))}" if result.ts.size else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>coinray backtest {html.escape(run_id)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>coinray backtest · {html.escape(result.strategy)}({html.escape(params)}) · {result.timeframe}</h1>"
        f"<p>{html.escape(', '.join(result.symbols))} · {span} · run {html.escape(run_id)}</p>"
        f"{_metrics_table(result)}"
        f"{_line_chart('Equity', result.ts, result.equity, '#264653')}"
        f"{_line_chart('Drawdown (fraction of peak)', result.ts, result.drawdown, '#e76f51')}"
        f"{charts}<h2>Trades</h2>{_trades_table(result)}</body></html>"
    )
